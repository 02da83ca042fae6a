"""Recover regions and ``|``: a failure inside a region is replaced by its fallback (a value,
or a graph run on the region's input), and the region's steps not yet started never start.

Time is trio's `MockClock` with autojump (`vrun`), so the instants in these tests are exact.
"""

from __future__ import annotations

from typing import Any, Literal

import trio
from _support import failure_of, vrun
from returns.result import Success

from dagfn import Graph, Limits, Trace, gather, node, route


class Log:
    """Step bodies that record which of them ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def step(self, name: str, *, fail: bool = False, sleep: float = 0.0) -> Graph[int, int, Any]:
        async def body(x: int) -> int:
            self.ran.append(name)
            if sleep:
                await trio.sleep(sleep)
            if fail:
                raise ValueError(name)
            return x + 1

        return node(body).named(name)


def test_recover_with_a_value_replaces_a_failure_and_cannot_fail() -> None:
    log = Log()
    g = (log.step("a") >> log.step("boom", fail=True) >> log.step("never")).recover(-1)
    assert vrun(g, 0) == Success(-1)
    assert log.ran == ["a", "boom"]


def test_recover_passes_the_value_through_on_success() -> None:
    log = Log()
    assert vrun((log.step("a") >> log.step("b")).recover(-1), 0) == Success(2)


def test_recover_with_a_graph_runs_it_on_the_same_input() -> None:
    log = Log()

    @node
    def backup(x: int) -> int:
        return x * 100

    g = (log.step("a") >> log.step("boom", fail=True)).recover(backup)
    assert vrun(g, 3) == Success(300)
    ok = (log.step("c") >> log.step("d")).recover(backup)
    assert vrun(ok, 3) == Success(5)


def test_or_tries_the_left_graph_then_the_right_one() -> None:
    log = Log()
    g = log.step("primary", fail=True) | log.step("secondary")
    assert vrun(g, 1) == Success(2)
    assert log.ran == ["primary", "secondary"]
    log.ran.clear()
    g2 = log.step("p2") | log.step("s2")
    assert vrun(g2, 1) == Success(2)
    assert log.ran == ["p2"]  # the fallback does not run when the left side succeeds


def test_or_chains_to_the_first_graph_that_succeeds() -> None:
    log = Log()
    g = log.step("x", fail=True) | log.step("y", fail=True) | log.step("z")
    assert vrun(g, 1) == Success(2)
    assert log.ran == ["x", "y", "z"]


def test_when_the_fallback_fails_too_the_run_fails_naming_the_fallback_step() -> None:
    log = Log()
    g = log.step("x", fail=True) | log.step("y", fail=True)
    failure = failure_of(vrun(g, 1))
    assert [f.step for f in failure.failures] == ["y"]


def test_nested_recover_catches_in_the_innermost_region() -> None:
    log = Log()
    inner = (log.step("i1") >> log.step("i_boom", fail=True)).recover(10)
    g = (log.step("o1") >> inner >> log.step("o2")).recover(-1)
    assert vrun(g, 0) == Success(11)
    assert log.ran == ["o1", "i1", "i_boom", "o2"]

    log.ran.clear()
    inner2 = (log.step("j1") >> log.step("j2")).recover(10)
    g2 = (log.step("p1") >> inner2 >> log.step("p_boom", fail=True) >> log.step("p3")).recover(-1)
    assert vrun(g2, 0) == Success(-1)
    assert log.ran == ["p1", "j1", "j2", "p_boom"]


def test_a_failure_in_the_outer_region_stops_the_inner_region_s_remaining_steps() -> None:
    log = Log()
    inner = (log.step("slow", sleep=2) >> log.step("after_slow")).recover(10)
    g = (log.step("fails_at_1", sleep=1, fail=True) & inner).join(lambda a, b: a + b)
    failure_of(vrun(g, 0))  # not recovered: the join fails the run
    wrapped = gather([log.step("w_fail", sleep=1, fail=True), inner]).recover((-1, -1))
    log.ran.clear()
    assert vrun(wrapped, 0) == Success((-1, -1))
    assert "after_slow" not in log.ran


def test_steps_after_a_failure_in_the_region_do_not_start_while_others_outside_run() -> None:
    log = Log()
    trace = Trace()
    region = gather(
        [log.step("fails", sleep=1, fail=True), log.step("slow", sleep=3) >> log.step("next")]
    )
    outside = log.step("outside", sleep=5)
    g = gather([region.recover((0, 0)), outside])
    assert vrun(g, 0, on_event=trace) == Success(((0, 0), 1))
    assert sorted(log.ran) == ["fails", "outside", "slow"]  # "next" never started
    assert trace.status("fails") == "recovered"
    assert trace.status("next") == "skipped"
    skip = next(e for e in trace.events if e.kind == "skip")
    assert (skip.step, skip.at) == ("next", 1.0)  # known the moment the region failed


def test_a_step_of_the_region_waiting_for_a_slot_does_not_start_after_the_failure() -> None:
    log = Log()
    region = gather([log.step("fails", sleep=1, fail=True), log.step("queued")]).recover((0, 0))
    trace = Trace()
    result = vrun(region, 0, limits=Limits(concurrency=1), on_event=trace)
    assert result == Success((0, 0))
    assert log.ran == ["fails"]
    assert trace.status("queued") == "skipped"


def test_an_async_step_spawned_with_a_failing_plain_step_does_not_start() -> None:
    log = Log()

    @node
    def fails_now(x: int) -> int:
        raise ValueError("now")

    region = gather([log.step("spawned"), fails_now]).recover((0, 0))
    assert vrun(region, 0) == Success((0, 0))
    assert log.ran == []


def test_a_caught_failure_is_a_fail_event_marked_recovered_with_the_error() -> None:
    log = Log()
    trace = Trace()
    assert vrun(log.step("boom", fail=True).recover(0), 1, on_event=trace) == Success(0)
    kinds = [(e.kind, e.step) for e in trace.events]
    assert kinds == [("start", "boom"), ("fail", "boom")]
    caught = trace.events[-1]
    assert isinstance(caught.error, ValueError)
    assert caught.recovered
    assert trace.status("boom") == "recovered"
    assert {e.kind for e in trace.events} <= {"start", "finish", "retry", "fail", "skip", "pause"}


def test_recover_does_not_catch_failures_outside_its_region() -> None:
    log = Log()
    g = log.step("before", fail=True) >> log.step("inside").recover(0)
    failure = failure_of(vrun(g, 1))
    assert failure.step == "before"
    assert failure.not_run == ("inside",)


def test_recover_inside_route_branches() -> None:
    log = Log()

    def pick(x: int) -> Literal["risky", "safe"]:
        return "risky" if x > 0 else "safe"

    g = route(pick).cases(
        {
            "risky": (log.step("r1") >> log.step("r_boom", fail=True)).recover(-1),
            "safe": log.step("s1") | log.step("s2"),
        }
    )
    assert vrun(g, 5) == Success(-1)
    assert log.ran == ["r1", "r_boom"]
    log.ran.clear()
    assert vrun(g, 0) == Success(1)
    assert log.ran == ["s1"]


def test_a_route_inside_a_recover_region_is_recovered() -> None:
    log = Log()

    def pick(x: int) -> Literal["a", "b"]:
        return "a"

    g = route(pick).cases({"a": log.step("a_boom", fail=True), "b": log.step("b")}).recover(7)
    assert vrun(g, 0) == Success(7)
    assert log.ran == ["a_boom"]
