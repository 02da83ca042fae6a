"""Loops: the body repeats on its own output until `until`, with #n paths, nesting and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from _support import sleeper
from returns.result import Failure, Success

from dagfn import (
    Graph,
    InvalidArgument,
    MaxStepsExceeded,
    RunFailure,
    Trace,
    interrupt,
    loop,
    node,
    resume_sync,
    run_sync,
)
from dagfn.store import SqliteStore


@attrs.frozen
class Draft:
    version: int
    notes: tuple[str, ...] = ()


calls: list[str] = []


@node
def refine(d: Draft) -> Draft:
    calls.append(f"refine {d.version}")
    return Draft(d.version + 1, (*d.notes, f"v{d.version + 1}"))


@node
async def review(d: Draft) -> Draft:
    calls.append(f"review {d.version}")
    return d


def good_enough(d: Draft) -> bool:
    return d.version >= 3


improve = loop(refine >> review, until=good_enough, max_steps=5, name="improve")


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def test_the_body_repeats_on_its_own_output_until_until_holds() -> None:
    assert run_sync(improve, Draft(0)) == Success(Draft(3, ("v1", "v2", "v3")))
    assert calls == ["refine 0", "review 1", "refine 1", "review 2", "refine 2", "review 3"]


def test_the_body_runs_at_least_once() -> None:
    assert run_sync(improve, Draft(7)) == Success(Draft(8, ("v8",)))


def test_each_iteration_has_its_own_step_paths() -> None:
    trace = Trace()
    run_sync(improve, Draft(0), on_event=trace)
    assert sorted(trace.steps) == sorted(
        ["improve", "refine#1", "review#1", "refine#2", "review#2", "refine#3", "review#3"]
    )
    assert all(trace.status(p) == "completed" for p in trace.steps)


def test_hitting_max_steps_is_a_failure_naming_the_limit_and_the_last_states_step() -> None:
    never = loop(refine >> review, until=lambda d: False, max_steps=3, name="forever")
    result = run_sync(never, Draft(0))
    assert isinstance(result, Failure)
    failure: RunFailure[Any] = result.failure()
    assert failure.step == "forever"
    error = failure.error
    assert isinstance(error, MaxStepsExceeded)
    assert error.limit == 3
    assert error.last_step == "review#3"
    assert error.last == Draft(3, ("v1", "v2", "v3"))
    assert "max_steps=3" in str(error) and "'review#3'" in str(error)
    assert len(calls) == 6  # the body ran exactly max_steps times


def test_a_failing_body_step_is_reported_by_its_iteration_path() -> None:
    @node
    def flaky(d: Draft) -> Draft:
        if d.version == 2:
            raise ValueError("bad draft")
        return Draft(d.version + 1)

    result = run_sync(loop(flaky, until=good_enough, max_steps=5) >> review, Draft(0))
    assert isinstance(result, Failure)
    failure: RunFailure[Any] = result.failure()
    assert failure.step == "flaky#3"
    assert isinstance(failure.error, ValueError)
    assert "loop" in failure.not_run and "review" in failure.not_run
    assert {"flaky#1", "flaky#2"} <= set(failure.completed)


def test_loops_nest_with_one_suffix_per_level() -> None:
    inner = loop(refine, until=lambda d: d.version % 2 == 0, max_steps=3, name="inner")
    outer = loop(inner, until=lambda d: d.version >= 4, max_steps=5, name="outer")
    trace = Trace()
    assert run_sync(outer, Draft(0), on_event=trace).unwrap().version == 4
    assert {"refine#1#1", "refine#1#2", "refine#2#1", "refine#2#2", "inner#1", "inner#2"} <= set(
        trace.steps
    )


def test_max_steps_and_until_are_checked_when_the_graph_is_built() -> None:
    with pytest.raises(InvalidArgument, match="max_steps=0"):
        loop(refine, until=good_enough, max_steps=0)
    with pytest.raises(InvalidArgument, match="until="):
        loop(refine, until=3, max_steps=2)  # type: ignore[arg-type]


def test_a_journaled_loop_resumes_without_repeating_finished_iterations(tmp_path: Path) -> None:
    db = str(tmp_path / "loop.sqlite")
    with SqliteStore(db) as store:
        assert run_sync(improve, Draft(0), store=store, run_id="L").unwrap().version == 3
    assert len(calls) == 6
    calls.clear()
    with SqliteStore(db) as store:
        assert run_sync(improve, Draft(0), store=store, run_id="L").unwrap().version == 3
        rows = store.entries("L")
    assert calls == []
    assert {"refine#1", "review#3", "improve"} <= set(rows)


@attrs.frozen
class Verdict:
    accept: bool


def test_an_interrupt_inside_a_loop_pauses_the_run_and_resumes_in_the_right_iteration(
    tmp_path: Path,
) -> None:
    def ask(d: Draft) -> str:
        return f"accept version {d.version}?"

    @node
    def apply(d: Draft) -> Draft:
        calls.append(f"apply {d.version}")
        return d

    judged = (refine & interrupt(ask, answer=Verdict)).join(
        lambda d, v: Draft(d.version, (*d.notes, "ok" if v.accept else "no")), name="judge"
    )
    g = loop(judged, until=lambda d: d.version >= 1, max_steps=3) >> apply
    with SqliteStore(str(tmp_path / "hitl.sqlite")) as store:
        paused = run_sync(g, Draft(0), store=store, run_id="h")
        assert isinstance(paused, Failure)
        assert paused.failure().step == "ask#1"
        done = resume_sync(g, "h", store=store, answer={"accept": True})
    assert done == Success(Draft(1, ("v1", "ok")))
    assert calls.count("refine 0") == 1


def test_limits_hold_across_loop_bodies_and_the_rest_of_the_run() -> None:
    import trio.testing

    from dagfn import Limits, gather, run

    running = 0
    most = 0
    llm_running = 0
    llm_most = 0

    def sleeper(name: str, *, llm: bool = False) -> Graph[int, int, Any]:
        async def step(x: int) -> int:
            nonlocal running, most, llm_running, llm_most
            running += 1
            most = max(most, running)
            if llm:
                llm_running += 1
                llm_most = max(llm_most, llm_running)
            await trio.sleep(1)
            running -= 1
            if llm:
                llm_running -= 1
            return x + 1

        g = node(step).named(name)
        return g.on("llm") if llm else g

    def top(xs: tuple[int, ...]) -> int:
        return max(xs)

    body = gather([sleeper("a", llm=True), sleeper("b", llm=True), sleeper("c")]) >> node(top)
    repeated = loop(body, until=lambda x: x >= 3, max_steps=5)
    g = gather([repeated, sleeper("p"), sleeper("q"), sleeper("r")])

    async def main() -> Any:
        limits = Limits(concurrency=2, resources={"llm": 1})
        return await run(g, 0, limits=limits)

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result.unwrap() == (3, 1, 1, 1)
    assert most == 2
    assert llm_most == 1


def test_fail_fast_under_limits_while_a_loop_body_waits_for_a_slot() -> None:
    import trio.testing

    from dagfn import Limits, gather, run

    @node
    async def bad(x: int) -> int:
        await trio.sleep(0.5)
        raise RuntimeError("boom")

    def top(xs: tuple[int, ...]) -> int:
        return max(xs)

    body = gather([sleeper("a", 1), sleeper("b", 1), sleeper("c", 1)]) >> node(top)
    g = gather([loop(body, until=lambda x: x >= 3, max_steps=5), bad])

    async def main() -> Any:
        return await run(g, 0, limits=Limits(concurrency=1), fail_fast=True)

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert isinstance(result, Failure)
    assert result.failure().step == "bad"


def test_a_loop_cut_off_midway_leaves_its_run_unfinished_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    import trio

    from dagfn import run

    @node
    async def slow_review(d: Draft) -> Draft:
        calls.append(f"review {d.version}")
        await trio.sleep(0.5)
        return d

    @node
    def publish(d: Draft) -> str:
        return f"v{d.version}"

    g = loop(refine >> slow_review, until=good_enough, max_steps=5, name="improve") >> publish
    db = str(tmp_path / "cut.sqlite")

    async def cut_off() -> None:
        with SqliteStore(db) as store, trio.move_on_after(0.75):  # inside iteration 2
            await run(g, Draft(0), store=store, run_id="c")

    trio.run(cut_off)  # real time: the store works in threads
    with SqliteStore(db) as store:
        info = store.get_run("c")
        assert info is not None and info.status != "succeeded"  # iterations do not finish it
    assert calls == ["refine 0", "review 1", "refine 1", "review 2"]
    calls.clear()

    async def rerun() -> Any:
        with SqliteStore(db) as store:
            return await run(g, Draft(0), store=store, run_id="c")

    assert trio.run(rerun) == Success("v3")
    assert calls == ["review 2", "refine 2", "review 3"]  # iteration 1 is not run again
