"""`Builder`: graphs from data, checked when built, lowered to the typed expressions' plan."""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import (
    Builder,
    CycleError,
    DuplicatePath,
    InvalidArgument,
    StepMismatch,
    UnknownStep,
    node,
    run,
    run_sync,
)
from dagfn._plan import plan_of


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Hits:
    docs: tuple[str, ...]


@attrs.frozen
class Answer:
    text: str


def fetch(q: Query) -> Query:
    return Query(q.text.lower())


async def semantic(q: Query) -> Hits:
    await trio.sleep(0)
    return Hits((f"sem:{q.text}",))


def keyword(q: Query) -> Result[Hits, str]:
    return Success(Hits((f"kw:{q.text}",)))


def rerank(a: Hits, b: Hits) -> Hits:
    return Hits(a.docs + b.docs)


def generate(h: Hits) -> Answer:
    return Answer(" | ".join(h.docs))


def rag_builder() -> Builder:
    b = Builder()
    b.add("generate", generate, after=("rerank",))  # order of adding does not matter
    b.add("fetch", fetch)
    b.add("semantic", semantic, after=("fetch",))
    b.add("keyword", keyword, after=("fetch",))
    b.add("rerank", rerank, after=("semantic", "keyword"))
    return b


def test_a_built_graph_runs_with_outputs_as_positional_arguments_in_after_order() -> None:
    g = rag_builder().build(output="generate")
    assert run_sync(g, Query("Trio")) == Success(Answer("sem:trio | kw:trio"))


def test_a_built_graph_lowers_to_the_same_plan_as_the_typed_expression() -> None:
    typed = node(fetch) >> (node(semantic) & node(keyword)).join(rerank) >> node(generate)
    built = rag_builder().build(output="generate")
    assert plan_of(built).fingerprint == plan_of(typed).fingerprint
    assert plan_of(built).paths == plan_of(typed).paths
    assert plan_of(built).deps == plan_of(typed).deps


def test_only_the_steps_the_output_needs_are_built() -> None:
    g = rag_builder().build(output="semantic")
    assert plan_of(g).paths == ["<input>", "fetch", "semantic"]


def test_a_graph_step_becomes_a_named_subgraph() -> None:
    b = Builder()
    b.add("fetch", fetch)
    b.add("retrieval", (node(semantic) & node(keyword)).join(rerank), after=("fetch",))
    b.add("answer", node(generate), after=("retrieval",))  # one step: renamed
    g = b.build(output="answer")
    assert plan_of(g).paths[1:] == [
        "fetch",
        "retrieval/semantic",
        "retrieval/keyword",
        "retrieval/rerank",
        "answer",
    ]
    assert run_sync(g, Query("X")) == Success(Answer("sem:x | kw:x"))


# --- what build() rejects ------------------------------------------------------------


def inc(x: int) -> int:
    return x + 1


def test_a_cycle_is_named_in_running_order() -> None:
    b = Builder()
    b.add("root", inc)
    b.add("c", inc, after=("b",))
    b.add("a", inc, after=("root", "c"))
    b.add("b", inc, after=("a",))
    with pytest.raises(CycleError) as caught:
        b.build(output="root")
    assert caught.value.cycle == ("c", "a", "b")  # starts at the first added; a after c, ...
    assert str(caught.value).startswith("the steps form a cycle: 'c' -> 'a' -> 'b' -> 'c';")
    assert isinstance(caught.value, ValueError)


def test_a_step_after_itself_is_a_cycle() -> None:
    b = Builder()
    b.add("again", inc, after=("again",))
    with pytest.raises(CycleError) as caught:
        b.build(output="again")
    assert caught.value.cycle == ("again",)


def test_unknown_names_are_all_named_with_close_suggestions() -> None:
    b = rag_builder()
    b.add("extra", rerank, after=("semantc", "nothing_like_it"))
    with pytest.raises(UnknownStep) as caught:
        b.build(output="generat")
    error = caught.value
    assert error.names == ("generat", "semantc", "nothing_like_it")
    assert error.suggestions["generat"] == ("generate",)
    assert error.suggestions["nothing_like_it"] == ()
    assert str(error) == (
        "unknown step names: 'generat' in output (did you mean 'generate'?); "
        "'semantc' in after= of step 'extra' (did you mean 'semantic'?); "
        "'nothing_like_it' in after= of step 'extra'"
    )
    assert isinstance(error, LookupError)


def test_a_name_added_twice_is_rejected_at_once() -> None:
    b = Builder()
    b.add("step", inc)
    with pytest.raises(DuplicatePath, match="already has a step 'step'"):
        b.add("step", fetch)


def test_bad_arguments_to_add_are_rejected_at_once() -> None:
    b = Builder()
    with pytest.raises(InvalidArgument, match=r"you probably want after=\('fetch',\)"):
        b.add("x", inc, after="fetch")
    with pytest.raises(InvalidArgument, match="callable"):
        b.add("x", 3)  # type: ignore[call-overload]
    with pytest.raises(InvalidArgument, match="name"):
        b.add("a/b", inc)
    with pytest.raises(InvalidArgument, match="one input"):
        b.add("g", node(inc), after=("a", "b"))


def test_connected_steps_whose_classes_do_not_fit_are_rejected_naming_both() -> None:
    b = Builder()
    b.add("fetch", fetch)
    b.add("generate", generate, after=("fetch",))  # Query given where Hits is expected
    with pytest.raises(StepMismatch) as caught:
        b.build(output="generate")
    error = caught.value
    assert (error.producer, error.consumer, error.parameter) == ("fetch", "generate", "h")
    assert (error.produced, error.expected) == (Query, Hits)
    assert str(error) == (
        "step 'generate' takes h: Hits, but step 'fetch' (which it comes after) returns Query"
    )
    assert isinstance(error, TypeError)


def test_result_and_async_returns_are_unwrapped_and_argument_positions_matter() -> None:
    b = Builder()
    b.add("fetch", fetch)
    b.add("semantic", semantic, after=("fetch",))  # async: returns Hits
    b.add("keyword", keyword, after=("fetch",))  # Result[Hits, str]: returns Hits
    b.add("rerank", rerank, after=("semantic", "fetch"))  # b: Hits gets a Query
    with pytest.raises(StepMismatch) as caught:
        b.build(output="rerank")
    assert (caught.value.producer, caught.value.parameter) == ("fetch", "b")


def half(x: float) -> float:
    return x / 2


def anything(x: object) -> str:
    return str(x)


def maybe(x: int | None) -> int:
    return x or 0


def test_only_clearly_incompatible_plain_classes_are_rejected() -> None:
    b = Builder()
    b.add("inc", inc)
    b.add("half", half, after=("inc",))  # int where float is expected: fine, as in mypy
    b.add("any", anything, after=("half",))  # object takes anything
    b.add("maybe", maybe, after=("any",))  # a union: not checked
    b.add("lambda", lambda v: v, after=("maybe",))  # no annotations: not checked
    assert run_sync(b.build(output="lambda"), 1) == Success("1.0")  # types are not enforced


def test_a_step_that_cannot_take_its_arguments_is_rejected() -> None:
    b = Builder()
    b.add("inc", inc)
    b.add("both", rerank, after=("inc",))
    with pytest.raises(InvalidArgument, match="step 'both' gets 1 argument"):
        b.build(output="both")


# --- pipelines from data ---------------------------------------------------------------

MODULUS = 1_000_003


def task_fn(index: int) -> Callable[..., Any]:
    """Task ``index``: a deterministic function of its inputs (async for some tasks)."""

    def combine(*values: int) -> int:
        return (sum(v * (k + 2) for k, v in enumerate(values)) * 31 + index) % MODULUS

    if index % 3:
        return combine

    async def slow(*values: int) -> int:
        await trio.sleep((index * 7919) % 13 / 1000)
        return combine(*values)

    return slow


def hundred_tasks(seed: int) -> list[tuple[str, tuple[str, ...]]]:
    """A random DAG of 100 tasks as plain data: (name, names it comes after)."""
    rng = random.Random(seed)
    tasks: list[tuple[str, tuple[str, ...]]] = []
    for i in range(100):
        earlier = [name for name, _ in tasks]
        after = tuple(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 3))))
        tasks.append((f"task{i}", after))
    return tasks


def sequential(tasks: list[tuple[str, tuple[str, ...]]], x: int) -> dict[str, int]:
    """Every task's value, computed one after the other in list order."""
    values: dict[str, int] = {}
    for i, (name, after) in enumerate(tasks):
        args = [values[a] for a in after] if after else [x]
        values[name] = (sum(v * (k + 2) for k, v in enumerate(args)) * 31 + i) % MODULUS
    return values


def build_tasks(tasks: list[tuple[str, tuple[str, ...]]]) -> Builder:
    b = Builder()
    for i, (name, after) in enumerate(tasks):
        b.add(name, task_fn(i), after=after)
    leaves = [n for n, _ in tasks if not any(n in after for _, after in tasks)]
    b.add("all", lambda *values: tuple(values), after=tuple(leaves))
    return b


@given(st.integers(0, 2**32))
def test_a_100_task_pipeline_from_a_list_gives_the_sequential_result(seed: int) -> None:
    tasks = hundred_tasks(seed)
    g = build_tasks(tasks).build(output="all")
    expected = sequential(tasks, 5)
    leaves = [n for n, _ in tasks if not any(n in after for _, after in tasks)]
    call = functools.partial(run, g, 5)
    result = trio.run(call, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == Success(tuple(expected[n] for n in leaves))
    assert len(plan_of(g).user_steps()) == 101


def test_a_failing_task_names_its_path_and_the_tasks_that_did_not_run() -> None:
    def boom(x: int) -> int:
        raise ValueError("boom")

    b = Builder()
    b.add("first", inc)
    b.add("bad", boom, after=("first",))
    b.add("next", inc, after=("bad",))
    b.add("end", lambda a, c: (a, c), after=("next", "first"))
    result = run_sync(b.build(output="end"), 0)
    assert isinstance(result, Failure)
    assert (result.failure().step, result.failure().not_run) == ("bad", ("next", "end"))


def test_a_chain_of_100_000_built_steps_builds_and_runs_under_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 1000 or pytest.skip("recursion limit was raised")
    b = Builder()
    b.add("s0", inc)
    for i in range(1, 100_000):
        b.add(f"s{i}", inc, after=(f"s{i - 1}",))
    assert run_sync(b.build(output="s99999"), 0) == Success(100_000)


def test_run_input_reaches_every_root_step() -> None:
    b = Builder()
    b.add("a", inc)
    b.add("b", lambda x: x * 10)
    b.add("pair", lambda x, y: (x, y), after=("a", "b"))
    result: Result[Any, Any] = run_sync(b.build(output="pair"), 4)
    assert result == Success((5, 40))
