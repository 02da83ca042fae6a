"""Behaviour of the typed core: building graphs, the plan, and running them."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from typing import Any, Literal

import attrs
import pytest
import trio
import trio.testing
from _support import failure_of, sleeper, vrun_graph
from returns.result import Failure, Result, Success

import dagfn
from dagfn import (
    DuplicatePath,
    Graph,
    InvalidArgument,
    NoBranch,
    NotEnumerable,
    RunFailure,
    gather,
    node,
    route,
    route_total,
    run,
    run_sync,
)
from dagfn._plan import plan_of


@node
def inc(x: int) -> int:
    return x + 1


@node
async def double(x: int) -> int:
    await trio.sleep(0)
    return x * 2


def add(a: int, b: int) -> int:
    return a + b


def plus_one(x: int) -> int:
    return x + 1


def times_100(x: int) -> int:
    return x * 100


def negate(x: int) -> int:
    return -x


# --- building -------------------------------------------------------------------


def test_sync_async_and_result_functions_compose_with_rshift_and_join() -> None:
    @node
    def checked(x: int) -> Result[int, str]:
        return Success(x * 10)

    g = inc >> (double & checked).join(add)
    assert run_sync(g, 1) == Success(2 * 2 + 2 * 10)


def test_then_is_rshift() -> None:
    assert run_sync(inc.then(double), 3) == Success(8)


def test_join_passes_branch_outputs_in_order_and_accepts_an_attrs_class() -> None:
    @attrs.frozen
    class Pair:
        left: int
        right: str

    @node
    def text(x: int) -> str:
        return f"#{x}"

    assert run_sync((inc & text).join(Pair), 4) == Success(Pair(5, "#4"))


def test_join_of_three_is_flat_and_takes_an_async_function() -> None:
    async def triple(a: int, b: int, c: int) -> tuple[int, int, int]:
        return (a, b, c)

    g = (inc & double & node(negate).named("dec")).join(triple)
    assert run_sync(g, 5) == Success((6, 10, -5))


def test_gather_keeps_list_order_whatever_the_completion_order() -> None:
    def sleeper(delay: float, value: int) -> Graph[int, int, Any]:
        async def step(x: int) -> int:
            await trio.sleep(delay)
            return x + value

        return node(step).named(f"v{value}")

    g = gather([sleeper(0.03, 1), sleeper(0.0, 2), sleeper(0.01, 3)])
    assert run_sync(g, 0) == Success((1, 2, 3))


def test_empty_gather_is_an_empty_tuple() -> None:
    empty: list[Graph[int, int, Any]] = []
    assert run_sync(inc >> gather(empty), 0) == Success(())


def test_the_same_graph_value_used_twice_is_one_step_that_runs_once() -> None:
    calls: list[int] = []

    def counted(x: int) -> int:
        calls.append(x)
        return x + 1

    shared = inc >> node(counted)
    g = (shared >> node(times_100).named("times") & shared).join(add)
    assert run_sync(g, 0) == Success(2 * 100 + 2)
    assert calls == [1]


def test_sharing_expresses_a_non_series_parallel_dag() -> None:
    # a -> c, a -> d, b -> d, b -> e: the "N" shape no nesting of >> and & gives.
    a = inc.named("a")
    b = double.named("b")
    c = a >> node(times_100).named("c")
    d = (a & b).join(add, name="d")
    e = b >> node(negate).named("e")
    g = (c & d & e).join(lambda p, q, r: (p, q, r), name="out")
    assert run_sync(g, 1) == Success((200, 4, -2))
    plan = plan_of(g)
    assert sorted(plan.paths[i] for i in plan.user_steps()) == ["a", "b", "c", "d", "e", "out"]


def test_named_renames_a_step_and_prefixes_a_subgraph() -> None:
    retrieval = (inc.named("semantic") & double.named("keyword")).join(add).named("retrieval")
    plan = plan_of(retrieval >> inc.named("generate"))
    assert sorted(plan.paths[i] for i in plan.user_steps()) == [
        "generate",
        "retrieval/add",
        "retrieval/keyword",
        "retrieval/semantic",
    ]


def test_two_steps_with_one_path_are_rejected_naming_both() -> None:
    g = inc >> double >> inc  # two different uses of `inc`, on different inputs
    with pytest.raises(DuplicatePath, match="'inc'") as info:
        plan_of(g)
    assert info.value.path == "inc"
    assert "fed by '<input>'" in info.value.places[0]
    assert "fed by 'double'" in info.value.places[1]
    assert "test_core.py" in str(info.value)
    assert ".named(" in str(info.value)


def test_a_chain_of_100_000_steps_builds_and_runs_under_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 1000 or pytest.skip("recursion limit was raised")
    g: Graph[int, int, Any] = inc
    for i in range(99_999):
        g = g >> node(plus_one).named(f"s{i}")
    assert run_sync(g, 0) == Success(100_000)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: node(42), "fn"),  # type: ignore[call-overload]
        (lambda: inc.named(""), "name"),
        (lambda: inc.named("a/b"), "name"),
        (lambda: node(name="x#1"), "name"),
        (lambda: gather([inc, 3]), "graphs[1]"),  # type: ignore[arg-type]
        (lambda: route(lambda x: x).cases({}), "table"),
        (lambda: (inc & inc).join(3), "fn"),  # type: ignore[call-overload]
        (lambda: run_sync(inc, 1, policy="fastest"), "policy"),
        (lambda: run_sync(inc, 1, fail_fast="yes"), "fail_fast"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_at_once_naming_the_argument(call: Any, argument: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^Expected ") as info:
        call()
    assert info.value.argument == argument
    assert f"{argument}=" in str(info.value)


def test_node_on_a_graph_is_an_error_saying_so() -> None:
    with pytest.raises(InvalidArgument, match="already a graph"):
        node(inc)  # type: ignore[call-overload]


# --- failures -------------------------------------------------------------------


def test_a_failure_names_the_step_its_error_and_dependents_while_branches_finish() -> None:
    finished: list[str] = []

    @node
    async def slow_branch(x: int) -> int:
        await trio.sleep(0.02)
        finished.append("slow_branch")
        return x

    @node
    def search(x: int) -> Result[int, str]:
        return Failure("index down")

    rerank = (search & slow_branch).join(add, name="rerank")
    g = (rerank >> inc.named("generate") & slow_branch >> inc.named("log")).join(add)
    failure = failure_of(run_sync(g, 1))
    assert failure.step == "search"
    assert failure.error == "index down"
    assert failure.not_run == ("rerank", "generate", "add")
    assert "slow_branch" in failure.completed and "log" in failure.completed
    assert finished == ["slow_branch"]
    assert "search" not in failure.completed


def test_an_exception_is_a_failure_value_not_raised() -> None:
    @node
    def broken(x: int) -> int:
        raise KeyError("missing")

    failure = failure_of(run_sync(inc >> broken >> double, 1))
    assert failure.step == "broken"
    assert isinstance(failure.error, KeyError)
    assert failure.not_run == ("double",)
    assert failure.completed == ("inc",)
    assert "step 'broken' failed" in str(failure)


def test_every_failed_step_is_listed() -> None:
    @node
    def bad_a(x: int) -> int:
        raise ValueError("a")

    @node
    async def bad_b(x: int) -> int:
        raise ValueError("b")

    failure = failure_of(run_sync((bad_a & bad_b).join(add), 0))
    assert sorted(f.step for f in failure.failures) == ["bad_a", "bad_b"]
    assert all(f.not_run == ("add",) for f in failure.failures)


def test_fail_fast_cancels_the_running_steps() -> None:
    cancelled: list[str] = []

    @node
    async def long(x: int) -> int:
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            cancelled.append("long")
            raise
        return x

    @node
    async def bad(x: int) -> int:
        await trio.sleep(0.01)
        raise RuntimeError("boom")

    async def main() -> Result[int, RunFailure[Any]]:
        return await run((long & bad).join(add), 0, fail_fast=True)

    failure = failure_of(trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)))
    assert failure.step == "bad"
    assert cancelled == ["long"]
    assert failure.cancelled == ("long",)
    assert failure.completed == ()


def test_fail_fast_cancels_exactly_the_steps_that_were_ready_and_unfinished() -> None:
    g = gather([sleeper("boom", 1, fail=True), sleeper("slow", 5) >> sleeper("after", 1)])
    assert failure_of(vrun_graph(g, fail_fast=True)).cancelled == ("slow",)


def test_without_fail_fast_independent_steps_run_to_the_end() -> None:
    @node
    async def long(x: int) -> int:
        await trio.sleep(1)
        return x

    @node
    def bad(x: int) -> int:
        raise RuntimeError("boom")

    g = (long >> inc & bad).join(add)

    async def main() -> Result[int, RunFailure[Any]]:
        return await run(g, 0)

    failure = failure_of(trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)))
    assert set(failure.completed) == {"long", "inc"}


def test_cancelling_the_caller_cancels_every_step_and_nothing_leaks() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    def sleeper(name: str) -> Graph[int, int, Any]:
        async def step(x: int) -> int:
            started.append(name)
            try:
                await trio.sleep(100)
            except trio.Cancelled:
                cancelled.append(name)
                raise
            return x

        return node(step).named(name)

    g = (sleeper("a") & sleeper("b") & sleeper("c")).join(lambda a, b, c: a)

    async def main() -> None:
        with trio.move_on_after(1) as scope:
            await run(g, 0)
        assert scope.cancelled_caught
        # Every task of the run is gone: this task has no nursery and no child left.
        assert trio.lowlevel.current_task().child_nurseries == []

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert sorted(started) == sorted(cancelled) == ["a", "b", "c"]


def test_a_sync_function_returning_a_coroutine_is_a_clear_failure() -> None:
    async def real(x: int) -> int:
        return x

    sneaky = node(lambda x: real(x)).named("sneaky")
    failure = failure_of(run_sync(sneaky, 1))
    assert isinstance(failure.error, TypeError)
    assert "'sneaky' returned a coroutine" in str(failure.error)


def test_base_exceptions_are_not_swallowed_or_wrapped() -> None:
    @node
    def interrupt(x: int) -> int:
        raise KeyboardInterrupt

    @node
    async def exits(x: int) -> int:
        raise SystemExit(3)

    with pytest.raises(KeyboardInterrupt):
        run_sync(inc >> interrupt, 0)
    with pytest.raises(SystemExit):
        run_sync(inc >> exits, 0)


# --- routes ---------------------------------------------------------------------


def parity(x: int) -> Literal["even", "odd"]:
    return "even" if x % 2 == 0 else "odd"


def test_route_runs_only_the_selected_branch() -> None:
    ran: list[str] = []

    def branch(name: str, delta: int) -> Graph[int, int, Any]:
        def step(x: int) -> int:
            ran.append(name)
            return x + delta

        return node(step).named(name) >> node(lambda y: y).named(f"{name}_after")

    g = route(parity).cases({"even": branch("e", 100), "odd": branch("o", 200)}) >> inc
    assert run_sync(g, 2) == Success(103)
    assert run_sync(g, 3) == Success(204)
    assert ran == ["e", "o"]


def test_route_steps_of_unselected_branches_are_neither_completed_nor_not_run() -> None:
    @node
    def bad(x: int) -> int:
        raise RuntimeError("after the route")

    g = route(parity).cases({"even": inc.named("e"), "odd": inc.named("o")}) >> bad
    failure = failure_of(run_sync(g, 2))
    assert set(failure.completed) == {"parity", "even/e"}  # a branch scopes by its key
    assert failure.not_run == ()


def test_a_selector_value_with_no_branch_is_a_failure_naming_it() -> None:
    def loose(x: int) -> str:
        return "neither"

    g = route(loose).cases({"a": inc.named("a"), "b": inc.named("b")}) >> double
    failure = failure_of(run_sync(g, 0))
    assert failure.step == "loose"
    assert isinstance(failure.error, NoBranch)
    assert failure.error.key == "neither"
    assert "'neither', which has no branch (cases: 'a', 'b')" in str(failure.error)
    assert failure.not_run == ("a/a", "b/b", "double")


def test_async_selectors_and_nested_routes() -> None:
    async def sign(x: int) -> Literal["neg", "pos"]:
        return "neg" if x < 0 else "pos"

    inner = route(parity).cases({"even": inc.named("pe"), "odd": double.named("po")})
    g = route(sign).cases(
        {"neg": node(lambda x: -x).named("flip") >> inc.named("n1"), "pos": inner}
    )
    assert run_sync(g, -4) == Success(5)
    assert run_sync(g, 4) == Success(5)
    assert run_sync(g, 3) == Success(6)


def say(word: str) -> Callable[[int], str]:
    def step(x: int) -> str:
        return word

    return step


class Tier(enum.Enum):
    FREE = "free"
    PAID = "paid"


def tier(x: int) -> Tier:
    return Tier.PAID if x > 10 else Tier.FREE


def test_route_total_builds_a_branch_for_every_enum_member() -> None:
    from typing import assert_never

    def table(t: Tier) -> Graph[int, str, Any]:
        match t:
            case Tier.FREE:
                return node(say("free")).named("free")
            case Tier.PAID:
                return node(say("paid")).named("paid")
            case _:
                assert_never(t)

    g = route_total(tier, table)
    assert run_sync(g, 1) == Success("free")
    assert run_sync(g, 11) == Success("paid")


def test_route_total_over_literal_and_bool() -> None:
    def constant(name: str, value: object) -> Graph[int, object, Any]:
        def step(x: int) -> object:
            return value

        return node(step).named(name)

    g = route_total(parity, lambda k: constant(k, k))
    assert run_sync(g, 3) == Success("odd")

    def big(x: int) -> bool:
        return x > 5

    h = route_total(big, lambda b: constant(str(b), b))
    assert run_sync(h, 9) == Success(True)


def test_route_total_rejects_a_selector_whose_keys_cannot_be_listed() -> None:
    def word(x: int) -> str:
        return "x"

    with pytest.raises(NotEnumerable, match="'word'") as info:
        route_total(word, lambda k: inc)
    assert info.value.selector == "word"


# --- the public surface -----------------------------------------------------------


def test_every_public_name_is_exported_once_and_exists() -> None:
    assert len(dagfn.__all__) == len(set(dagfn.__all__))
    for name in dagfn.__all__:
        assert getattr(dagfn, name) is not None
    public = {n for n in vars(dagfn) if not n.startswith("_")}
    submodules = {"testing", "monoid", "store", "executors", "cli", "aio", "otel"}
    assert public - submodules <= set(dagfn.__all__)
