"""`each(g)`: one run of ``g`` per element of a run-time sequence, in input order, journaled.

Most behaviours are checked on both ways the interpreter runs elements: the
fast path (no limits, no policies: elements run without a nested run each),
with and without events, and the careful path (limits or policies: one nested
run per element).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import threading
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
import trio
import trio.testing
from _support import failure_of, vrun
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import (
    Graph,
    InvalidArgument,
    Limits,
    NotASequence,
    Paused,
    StepTimeout,
    Trace,
    each,
    history,
    interrupt,
    loop,
    node,
    replay,
    resume_sync,
    route,
    run,
    run_sync,
    to_mermaid,
)
from dagfn.executors import Threads
from dagfn.monoid import Concat, Sum
from dagfn.store import MemoryStore, SqliteStore

# Run options that send elements down each of the interpreter's paths.
MODES = ("fast", "fast with events", "careful")
PATHS = pytest.mark.parametrize("careful", MODES)


def options(careful: str) -> dict[str, Any]:
    if careful == "fast":
        return {}
    if careful == "fast with events":
        return {"on_event": Trace()}
    # Limits send every element down the careful path (a nested run each).
    return {"on_event": Trace(), "limits": Limits(concurrency=1000)}


@attrs.frozen
class Doc:
    title: str
    words: int


@attrs.frozen
class Summary:
    title: str
    short: str


@node
def retrieve(topic: str) -> list[Doc]:
    return [Doc(f"{topic} {k}", k * 10) for k in range(4)]


@node
def summarize(d: Doc) -> Summary:
    return Summary(d.title, d.title[:3])


@node
def combine(summaries: tuple[Summary, ...]) -> str:
    return ", ".join(s.title for s in summaries)


@node
def inc(x: int) -> int:
    return x + 1


@node
def total(xs: tuple[int, ...]) -> int:
    return sum(xs)


@node
async def slow_inc(x: int) -> int:
    await trio.sleep(0.001 * (x % 7))
    return x + 1


# -- outputs in input order ------------------------------------------------------------


@PATHS
def test_each_feeds_a_sequence_through_the_graph_and_keeps_the_order(careful: str) -> None:
    pipeline = retrieve >> each(summarize, name="summaries") >> combine
    assert run_sync(pipeline, "trio", **options(careful)) == Success(
        "trio 0, trio 1, trio 2, trio 3"
    )


@settings(max_examples=40, deadline=None)
@given(
    delays=st.lists(st.integers(0, 50), max_size=30),
    careful=st.sampled_from(MODES),
    limit=st.none() | st.integers(1, 4),
)
def test_outputs_come_in_input_order_whatever_order_elements_finish_in(
    delays: list[int], careful: str, limit: int | None
) -> None:
    finished: list[int] = []

    @node
    async def wait(x: int) -> int:
        await trio.sleep(delays[x] / 1000)
        finished.append(x)
        return x * 10

    @node
    def plus(x: int) -> int:
        return x + 1

    run_options = options(careful)
    if limit is not None:
        run_options["limits"] = Limits(concurrency=limit)
    result = vrun(each(wait >> plus), list(range(len(delays))), **run_options)
    assert result == Success(tuple(x * 10 + 1 for x in range(len(delays))))
    assert sorted(finished) == list(range(len(delays)))  # each element ran once


@given(st.lists(st.text(max_size=3), max_size=20), st.sampled_from(MODES))
def test_fold_combines_in_input_order(words: list[str], careful: str) -> None:
    @node
    async def letters(w: str) -> tuple[str, ...]:
        await trio.sleep(0.001 * (len(w) % 3))
        return (w.upper(),)

    result = vrun(each(letters).fold(Concat()), words, **options(careful))
    assert result == Success(tuple(w.upper() for w in words))


def test_an_empty_sequence_gives_the_empty_tuple_or_the_monoids_identity() -> None:
    assert run_sync(each(inc), []) == Success(())
    assert run_sync(each(inc).fold(Sum()), ()) == Success(0)
    assert run_sync(each(inc).fold(Sum()), [1, 2, 3]) == Success(9)


def test_any_sequence_is_taken_in_its_order() -> None:
    assert run_sync(each(inc), range(3)) == Success((1, 2, 3))
    assert run_sync(each(inc), (5, 4)) == Success((6, 5))


# -- paths ----------------------------------------------------------------------------


def test_element_steps_have_indexed_paths_in_events_and_the_trace() -> None:
    trace = Trace()
    run_sync(retrieve >> each(summarize, name="summaries") >> combine, "x", on_event=trace)
    assert set(trace.steps) == {
        "retrieve",
        "summaries",
        "combine",
        *(f"summaries[{i}]/summarize" for i in range(4)),
    }
    assert all(record.status == "completed" for record in trace.steps.values())
    starts = [e.step for e in trace.events if e.kind == "start"]
    assert "summaries[3]/summarize" in starts


def test_the_name_defaults_to_the_graphs_name() -> None:
    trace = Trace()
    run_sync(each(summarize), [Doc("a", 1)], on_event=trace)
    assert set(trace.steps) == {"summarize", "summarize[0]/summarize"}

    def short(s: Summary) -> str:
        return s.short

    sub = (summarize >> node(short)).named("digest")
    trace = Trace()
    run_sync(each(sub), [Doc("a", 1)], on_event=trace)
    assert {"digest[0]/digest/summarize", "digest[0]/digest/short"} <= set(trace.steps)


@PATHS
def test_element_steps_are_journaled_under_their_paths_and_listed_in_history(
    careful: str, tmp_path: Path
) -> None:
    with SqliteStore(tmp_path / "runs.sqlite") as store:
        pipeline = retrieve >> each(summarize, name="summaries") >> combine
        run_sync(pipeline, "x", store=store, run_id="r", **options(careful)).unwrap()
        steps = [row.step for row in history(store, "r")]
    assert set(steps) == {
        "retrieve",
        "summaries",
        "combine",
        *(f"summaries[{i}]/summarize" for i in range(4)),
    }
    assert steps.index("summaries[3]/summarize") < steps.index("summaries") < steps.index("combine")


def test_paths_nest_inside_subgraphs_loops_and_other_eaches() -> None:
    @node
    def grow(xs: list[int]) -> list[int]:
        return [x + 1 for x in xs]

    inner = each(inc, name="inner")
    outer = each(inner, name="outer").named("sub")
    trace = Trace()
    assert run_sync(outer, [[1, 2], [3]], on_event=trace) == Success(((2, 3), (4,)))
    assert {"sub/outer", "sub/outer[0]/inner", "sub/outer[0]/inner[1]/inc"} <= set(trace.steps)
    assert "sub/outer[1]/inner[0]/inc" in trace.steps

    @node
    def as_list(t: tuple[int, ...]) -> list[int]:
        return list(t)

    looped = loop(each(inc, name="bump") >> as_list, until=lambda xs: xs[0] >= 3, max_steps=5)
    trace = Trace()
    assert run_sync(looped, [0, 10], on_event=trace) == Success([3, 13])
    assert {"bump#1", "bump#1[0]/inc", "bump#3[1]/inc"} <= set(trace.steps)

    body = loop(grow, until=lambda xs: xs[0] >= 2, max_steps=5, name="again")
    trace = Trace()
    assert run_sync(each(body, name="lists"), [[0], [5]], on_event=trace) == Success(([2], [6]))
    assert {"lists[0]/again", "lists[0]/grow#2", "lists[1]/grow#1"} <= set(trace.steps)


# -- failure ----------------------------------------------------------------------------


@node
def picky(x: int) -> int:
    if x % 3 == 1:
        raise ValueError(f"no {x}")
    return x


@PATHS
def test_a_failed_element_fails_the_each_naming_its_index_and_step(careful: str) -> None:
    pipeline = each(picky, name="items") >> total
    failure = failure_of(run_sync(pipeline, [0, 1, 2, 3, 4, 5], **options(careful)))
    assert [f.step for f in failure.failures] == ["items[1]/picky", "items[4]/picky"]
    assert isinstance(failure.error, ValueError) and str(failure.error) == "no 1"
    assert failure.not_run == ("items", "total")
    # The other elements ran to the end.
    assert {"items[0]/picky", "items[2]/picky", "items[3]/picky", "items[5]/picky"} <= set(
        failure.completed
    )


@PATHS
def test_events_say_which_element_steps_failed_and_which_did_not_run(careful: str) -> None:
    run_options = options(careful)
    trace = run_options.setdefault("on_event", Trace())
    failure_of(run_sync(each(picky >> inc.named("after"), name="items"), [0, 1], **run_options))
    assert {path: record.status for path, record in trace.steps.items()} == {
        "items": "failed",
        "items[0]/picky": "completed",
        "items[0]/after": "completed",
        "items[1]/picky": "failed",
        "items[1]/after": "skipped",
    }
    kinds = [(e.kind, e.step) for e in trace.events]
    assert kinds.count(("skip", "items[1]/after")) == 1
    assert kinds.index(("start", "items[0]/picky")) < kinds.index(("finish", "items[0]/picky"))


def test_a_failing_element_is_reported_with_the_steps_it_kept_from_running() -> None:
    body = picky >> inc.named("after")
    failure = failure_of(run_sync(each(body, name="items"), [1, 2]))
    assert failure.step == "items[0]/picky"
    assert failure.not_run[:2] == ("items[0]/after", "items")
    assert "items[1]/after" in failure.completed


@PATHS
def test_fail_fast_cancels_the_other_elements(careful: str) -> None:
    started: list[int] = []

    @node
    async def work(x: int) -> int:
        started.append(x)
        if x == 0:
            await trio.sleep(1)  # the others are running by now
            raise ValueError("first")
        await trio.sleep(10)
        return x

    after = node(lambda t: t).named("after")
    result = vrun(each(work, name="w") >> after, [0, 1, 2], fail_fast=True, **options(careful))
    failure = failure_of(result)
    assert failure.step == "w[0]/work"
    assert set(failure.cancelled) == {"w[1]/work", "w[2]/work"}
    assert "after" in failure.not_run


def test_fail_fast_starts_no_more_plain_elements() -> None:
    calls: list[int] = []

    @node
    def count(x: int) -> int:
        calls.append(x)
        if x == 1:
            raise ValueError("stop")
        return x

    failure = failure_of(run_sync(each(count), [0, 1, 2, 3], fail_fast=True))
    assert failure.step == "count[1]/count"
    assert calls == [0, 1]


@PATHS
def test_recover_inside_the_body_is_a_per_element_fallback(careful: str) -> None:
    assert run_sync(each(picky.recover(-1)), [0, 1, 2], **options(careful)) == Success((0, -1, 2))
    either = each(picky | inc.named("instead"))
    assert run_sync(either, [0, 1, 2], **options(careful)) == Success((0, 2, 2))


def test_a_retry_on_the_each_retries_each_elements_step() -> None:
    tries: dict[int, int] = {}

    @node
    def flaky(x: int) -> int:
        tries[x] = tries.get(x, 0) + 1
        if tries[x] < 3:
            raise ConnectionError("again")
        return x

    result = vrun(each(flaky).retry(3, backoff=0.01), [7, 8])
    assert result == Success((7, 8))
    assert tries == {7: 3, 8: 3}


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("abc", "got a str ('abc'); a str is not taken as a sequence of characters"),
        (b"ab", "got a bytes"),
        ({1, 2}, "got set; give a list or a tuple"),
        (3, "got int"),
        ((x for x in range(2)), "got generator"),
    ],
)
def test_a_non_sequence_fails_the_each_step_by_name(value: object, says: str) -> None:
    failure = failure_of(run_sync(each(inc, name="items"), value))  # type: ignore[arg-type]
    assert failure.step == "items"
    assert isinstance(failure.error, NotASequence)
    assert failure.error.step == "items"
    assert says in str(failure.error)
    assert str(failure.error).startswith("each step 'items' needs a sequence of elements")


def test_bad_input_loses_nothing_journaled(tmp_path: Path) -> None:
    @node
    def words(text: str) -> str:  # mistakenly returns a str, not a list
        return text.upper()

    db = tmp_path / "runs.sqlite"
    with SqliteStore(db) as store:
        mistake: Graph[Any, Any, Any] = words
        failure = failure_of(run_sync(mistake >> each(inc), "hi", store=store, run_id="b"))
        assert failure.step == "inc"
        assert isinstance(failure.error, NotASequence)
    with SqliteStore(db) as store:
        rows = store.entries("b")
    assert rows["words"].status == "done" and rows["words"].output_json == '"HI"'
    assert rows["inc"].status == "failed" and "NotASequence" in (rows["inc"].error or "")


def test_building_an_each_checks_its_arguments() -> None:
    with pytest.raises(InvalidArgument, match="Expected a Graph but got g="):
        each(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="name="):
        each(inc, name="a/b")
    with pytest.raises(InvalidArgument, match=r"without '\[' or '\]'"):
        each(inc, name="a[1]")
    with pytest.raises(InvalidArgument, match="monoid="):
        each(inc).fold(sum)  # type: ignore[arg-type]


# -- limits ---------------------------------------------------------------------------


@PATHS
def test_limits_apply_to_element_steps(careful: str) -> None:
    running = 0
    most = 0

    @node
    async def hold(x: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(0.01)
        running -= 1
        return x

    limited = {**options(careful), "limits": Limits(concurrency=3)}
    result = vrun(each(hold), list(range(12)), **limited)
    assert result == Success(tuple(range(12)))
    assert most == 3
    running = most = 0
    budgeted = each(hold.on("llm", 2))
    result = vrun(budgeted, list(range(12)), limits=Limits(resources={"llm": 5}))
    assert result == Success(tuple(range(12)))
    assert most == 2  # 2 + 2 fit a budget of 5, a third does not


def test_a_cost_above_the_budget_inside_an_each_is_an_error_before_the_run() -> None:
    with pytest.raises(InvalidArgument, match=r"step 'items\[0\]/inc' needs 9 of 'llm'"):
        run_sync(each(inc.on("llm", 9), name="items"), [1], limits=Limits(resources={"llm": 4}))


# -- journal and resume -----------------------------------------------------------------


broken: set[int] = set()
calls: list[int] = []


def double(x: int) -> int:
    calls.append(x)
    if x in broken:
        raise ValueError(f"element {x} failed")
    return x * 2


fragile = node(double).named("fragile")


@node
async def fragile_async(x: int) -> int:
    await trio.sleep(0.001 * (x % 3))
    return double(x)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 12),
    failing=st.sets(st.integers(0, 11)),
    careful=st.sampled_from(MODES),
    asynchronous=st.booleans(),
)
def test_a_resumed_run_reruns_only_the_elements_that_had_not_finished(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    failing: set[int],
    careful: str,
    asynchronous: bool,
) -> None:
    db = tmp_path_factory.mktemp("each") / "runs.sqlite"
    graph = each(fragile_async if asynchronous else fragile, name="els") >> total.named("sum")
    xs = list(range(n))
    broken.clear()
    broken.update(failing)
    calls.clear()
    with SqliteStore(db) as store:
        first = vrun(graph, xs, store=store, run_id="r", **options(careful))
    failed = sorted(failing & set(xs))
    if failed:
        assert [f.step for f in failure_of(first).failures] == [
            f"els[{i}]/{'fragile_async' if asynchronous else 'fragile'}" for i in failed
        ]
    assert sorted(calls) == xs
    broken.clear()
    calls.clear()
    with SqliteStore(db) as store:  # a new store object on the same file, as after a restart
        again = vrun(graph, xs, store=store, run_id="r", **options(careful))
    assert again == Success(sum(x * 2 for x in xs))
    assert sorted(calls) == failed


class Crash(BaseException):
    """Stands for the process dying: not a failure value, it ends the run at once."""


def test_a_crash_in_the_middle_of_an_each_resumes_with_the_finished_elements(
    tmp_path: Path,
) -> None:
    seen: list[int] = []
    crash_at = {5}

    @node
    def step(x: int) -> int:
        if x in crash_at:
            raise Crash
        seen.append(x)
        return x + 100

    db = tmp_path / "crash.sqlite"
    graph = each(step, name="e")
    with SqliteStore(db) as store, pytest.raises(Crash):
        run_sync(graph, list(range(8)), store=store, run_id="c")
    assert seen == [0, 1, 2, 3, 4]
    crash_at.clear()
    seen.clear()
    with SqliteStore(db) as store:
        assert run_sync(graph, list(range(8)), store=store, run_id="c") == Success(
            tuple(range(100, 108))
        )
        assert [r.step for r in history(store, "c") if r.status == "done"][-1] == "e"
    assert seen == [5, 6, 7]
    with SqliteStore(db) as store:  # finished: the journaled result, no step called
        assert run_sync(graph, list(range(8)), store=store, run_id="c").unwrap()[0] == 100
    assert seen == [5, 6, 7]


def test_a_finished_each_reads_back_its_typed_output(tmp_path: Path) -> None:
    db = tmp_path / "typed.sqlite"
    pipeline = retrieve >> each(summarize, name="summaries")
    with SqliteStore(db) as store:
        first = run_sync(pipeline, "t", store=store, run_id="t").unwrap()
    with SqliteStore(db) as store:
        again = run_sync(pipeline, "t", store=store, run_id="t").unwrap()
    assert again == first and isinstance(again, tuple) and isinstance(again[0], Summary)


def test_an_interrupt_inside_an_element_pauses_and_resumes_by_its_path() -> None:
    @attrs.frozen
    class Verdict:
        ok: bool

    def ask(x: int) -> str:
        return f"keep {x}?"

    @node
    def keep(v: Verdict) -> bool:
        return v.ok

    body = interrupt(ask, answer=Verdict, name="ask") >> keep
    store = MemoryStore()
    first = run_sync(each(body, name="items"), [1, 2], store=store, run_id="p")
    assert isinstance(first, Failure)
    paused = first.failure()
    assert isinstance(paused, Paused)
    assert sorted(p.step for p in paused.pending) == ["items[0]/ask", "items[1]/ask"]
    answers = {"items[0]/ask": {"ok": True}, "items[1]/ask": Verdict(False)}
    assert resume_sync(each(body, name="items"), "p", store=store, answers=answers) == Success(
        (True, False)
    )


# -- mermaid --------------------------------------------------------------------------


def test_mermaid_draws_the_element_graph_once_marked_as_mapped() -> None:
    pipeline = retrieve >> each(summarize, name="summaries") >> combine
    text = to_mermaid(pipeline)
    assert text.count('"summarize"') == 1
    assert '[["summaries (each)"]]' in text
    assert 'subgraph n2map["summaries[i] (mapped)"]' in text
    assert 'n1 -->|"each"| n2_1' in text  # retrieve feeds each element's first step
    assert "n2_1 --> n2" in text and "n2 --> n3" in text
    trace = Trace()
    run_sync(pipeline, "x", on_event=trace)
    assert "class n2_1 completed" in to_mermaid(pipeline, trace)


def test_mermaid_classes_the_mapped_step_by_its_worst_element() -> None:
    trace = Trace()
    graph = each(picky, name="items")
    run_sync(graph, [0, 1], on_event=trace)
    text = to_mermaid(graph, trace)
    assert "class n1_1 failed" in text and "class n1 failed" in text


def test_the_readme_example_of_each_runs_and_prints_what_it_claims() -> None:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text.split("### `each`: one run of a graph per element\n", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme"})
    assert out.getvalue().splitlines() == [
        "<Success: trio 3: 3 words; trio 1: 1 words; trio 2: 2 words>",
        "completed",
        "<Success: 6>",
    ]


# -- more composition ------------------------------------------------------------------


def test_cancelling_the_caller_cancels_every_element_and_leaves_nothing_running() -> None:
    finished: list[int] = []

    @node
    async def long(x: int) -> int:
        await trio.sleep(10)
        finished.append(x)
        return x

    async def main() -> bool:
        with trio.move_on_after(1) as scope:
            await run(each(long), list(range(5)))
        await trio.sleep(20)  # anything left running would finish by now
        return scope.cancelled_caught

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert finished == []


def test_a_timeout_on_the_each_is_each_element_steps_own() -> None:
    @node
    async def nap(x: int) -> int:
        await trio.sleep(x)
        return x

    failure = failure_of(vrun(each(nap, name="naps").timeout(2.5), [1, 5, 2]))
    assert [f.step for f in failure.failures] == ["naps[1]/nap"]
    assert isinstance(failure.error, StepTimeout)
    assert {"naps[0]/nap", "naps[2]/nap"} <= set(failure.completed)


def test_routes_inside_an_element_take_each_elements_own_branch() -> None:
    def parity(x: int) -> Literal["even", "odd"]:
        return "even" if x % 2 == 0 else "odd"

    @node
    def halve(x: int) -> int:
        return x // 2

    @node
    def triple(x: int) -> int:
        return 3 * x + 1

    collatz = each(route(parity).cases({"even": halve, "odd": triple}), name="c")
    trace = Trace()
    assert run_sync(collatz, [4, 3, 10], on_event=trace) == Success((2, 10, 5))
    # a branch's steps are scoped by its key
    assert {"c[0]/even/halve", "c[1]/odd/triple", "c[2]/even/halve"} <= set(trace.steps)
    assert "c[0]/odd/triple" not in trace.steps


def replay_sync(graph: Any, run_id: str, **options: Any) -> Any:
    async def main() -> Any:
        return await replay(graph, run_id, **options)

    return trio.run(main)


def test_replaying_from_an_each_step_runs_its_elements_again(tmp_path: Path) -> None:
    calls.clear()
    broken.clear()
    graph = each(fragile, name="els") >> total
    with SqliteStore(tmp_path / "replay.sqlite") as store:
        assert run_sync(graph, [1, 2], store=store, run_id="a") == Success(6)
        assert sorted(calls) == [1, 2]
        calls.clear()
        again = replay_sync(graph, "a", step="els", store=store, new_run_id="b")
        assert again == Success(6)
        assert sorted(calls) == [1, 2]
        assert {"els[0]/fragile", "els[1]/fragile"} <= set(store.entries("b"))


@PATHS
def test_elements_run_on_the_runs_executor(careful: str) -> None:
    threads: set[str] = set()

    @node
    def where(x: int) -> int:
        threads.add(threading.current_thread().name)
        return x + 1

    async def main() -> Any:
        async with Threads(limit=2) as pool:
            return await run(each(where), [1, 2, 3], executor=pool, **options(careful))

    assert trio.run(main) == Success((2, 3, 4))
    assert threading.main_thread().name not in threads


@PATHS
@pytest.mark.parametrize("shape", ["plain", "async", "two steps"])
def test_a_failure_value_fails_its_element_like_an_exception(careful: str, shape: str) -> None:
    @node
    def plain(x: int) -> Result[int, str]:
        return Success(x) if x % 2 == 0 else Failure(f"odd {x}")

    @node
    async def asynchronous(x: int) -> Result[int, str]:
        return Success(x) if x % 2 == 0 else Failure(f"odd {x}")

    body: Graph[int, int, str] = {
        "plain": plain,
        "async": asynchronous,
        "two steps": inc >> plain,
    }[shape]
    failure = failure_of(run_sync(each(body, name="xs"), [0, 1, 2, 3], **options(careful)))
    odd = [1, 3] if shape != "two steps" else [0, 2]
    assert [f.error for f in failure.failures] == [f"odd {x + (shape == 'two steps')}" for x in odd]
    assert [f.step.partition("/")[0] for f in failure.failures] == [f"xs[{i}]" for i in odd]
    assert run_sync(each(body), [], **options(careful)) == Success(())


@pytest.mark.parametrize("durability", ["batched", "sync", "exit"])
def test_an_each_inside_a_loop_resumes_where_it_stopped(
    durability: Literal["batched", "sync", "exit"], tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    crash = [True]

    @node
    def bump(x: int) -> int:
        if x == 12 and crash[0]:
            raise Crash  # in the second iteration, element 1
        seen.append((x, x + 1))
        return x + 1

    @node
    def as_list(t: tuple[int, ...]) -> list[int]:
        return list(t)

    body = each(bump, name="bump") >> as_list
    looped = loop(body, until=lambda xs: xs[0] >= 3, max_steps=5, name="grow")
    db = tmp_path / "loop.sqlite"
    with SqliteStore(db) as store, pytest.raises(Crash):
        run_sync(looped, [1, 11], store=store, run_id="l", durability=durability)
    if durability == "exit":
        seen.clear()  # nothing is journaled before the end: everything runs again
        crash[0] = False
        with SqliteStore(db) as store:
            assert run_sync(looped, [1, 11], store=store, run_id="l") == Success([3, 13])
        return
    before = list(seen)  # iteration 1 whole; iteration 2's element 0 if it ran first
    assert sorted(before[:2]) == [(1, 2), (11, 12)] and before[2:] in ([], [(2, 3)])
    crash[0] = False
    seen.clear()
    with SqliteStore(db) as store:
        assert run_sync(looped, [1, 11], store=store, run_id="l", durability=durability) == (
            Success([3, 13])
        )
        assert {"bump#1[0]/bump", "bump#2[1]/bump", "grow"} <= set(store.entries("l"))
    # Nothing that finished ran again; everything else did, once.
    assert sorted(before + seen) == [(1, 2), (2, 3), (11, 12), (12, 13)]


@PATHS
def test_a_crash_in_an_async_element_leaves_the_run_as_itself(careful: str) -> None:
    @node
    async def dies(x: int) -> int:
        await trio.sleep(0.001 * x)
        if x == 2:
            raise Crash
        return x

    with pytest.raises(Crash):
        vrun(each(dies), [0, 1, 2, 3], **options(careful))


_names = itertools.count()


def _leaf(kind: int) -> Graph[int, int, Any]:
    name = f"s{next(_names)}"
    if kind == 0:

        def plus_one(x: int) -> int:
            return x + 1

        return node(plus_one).named(name)
    if kind == 1:

        async def later(x: int) -> int:
            await trio.sleep(0.001 * (x % 3))
            return 2 * x

        return node(later).named(name)

    def fails_on_threes(x: int) -> int:
        if x % 3 == 0:
            raise ValueError(x)
        return x - 1

    return node(fails_on_threes).named(name)


def _add(a: int, b: int) -> int:
    return a + b


bodies = st.recursive(
    st.integers(0, 2).map(_leaf),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: t[0] >> t[1]),
        st.tuples(inner, inner).map(lambda t: (t[0] & t[1]).join(_add, name=f"j{next(_names)}")),
        inner.map(lambda g: g.recover(-1)),
    ),
    max_leaves=5,
)


@settings(max_examples=40, deadline=None)
@given(body=bodies, xs=st.lists(st.integers(0, 20), max_size=6), careful=st.sampled_from(MODES))
def test_each_is_a_run_of_the_graph_per_element(
    body: Graph[int, int, Any], xs: list[int], careful: str
) -> None:
    alone = [vrun(body, x) for x in xs]
    together = vrun(each(body, name="e"), xs, **options(careful))
    if all(isinstance(r, Success) for r in alone):
        assert together == Success(tuple(r.unwrap() for r in alone))
        return
    failure = failure_of(together)
    expected = [
        f"e[{i}]/{f.step}"
        for i, r in enumerate(alone)
        if isinstance(r, Failure)
        for f in failure_of(r).failures
    ]
    assert sorted(f.step for f in failure.failures) == sorted(expected)
