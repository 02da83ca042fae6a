"""Edge cases of limits, policies and events that hand-made mutation testing found unpinned.

Each test fixes one behaviour a small change to the scheduler, the breaker,
the event bookkeeping or the plan's durations would otherwise break silently.
All run in virtual time (`MockClock`), except where a test says otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from _support import failure_of, sleeper, vrun_graph
from returns.result import Failure, Result, Success
from test_limits import Log

from dagfn import Breaker, Graph, Limits, RunFailure, Trace, gather, loop, node, run
from dagfn._interpret import plan_of


def ends_of(trace: Trace, step: str) -> list[str]:
    return [e.kind for e in trace.events if e.step == step and e.kind not in ("start", "retry")]


# --- retries, regions and fail_fast ---------------------------------------------


def test_a_step_cut_short_while_waiting_to_retry_is_cancelled_and_skipped() -> None:
    trace = Trace()
    flaky = sleeper("flaky", 0, fail=True).retry(3, backoff=10, jitter=False)
    g = gather([flaky, sleeper("boom", 1, fail=True)])
    failure = failure_of(vrun_graph(g, on_event=trace, fail_fast=True))
    assert failure.cancelled == ("flaky",)
    assert trace.status("flaky") == "skipped"


def test_a_step_failing_after_its_region_failed_is_not_retried() -> None:
    trace = Trace()
    flaky = sleeper("flaky", 2, fail=True, error=ConnectionError).retry(3, backoff=10, jitter=False)
    g = gather([sleeper("boom", 1, fail=True), flaky]).recover((-1, -1))

    async def main() -> tuple[Result[Any, RunFailure[Any]], float]:
        return await run(g, 0, on_event=trace), trio.current_time()

    result, ended = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == Success((-1, -1))
    assert [e.kind for e in trace.events if e.step == "flaky"] == ["start", "fail"]
    assert ended == 2


def test_a_region_step_that_stops_retrying_gives_its_slot_back() -> None:
    log = Log()
    flaky = sleeper("flaky", 0, fail=True).retry(3, backoff=10, jitter=False)
    region = gather([sleeper("boom", 1, fail=True), flaky]).recover((-1, -1))
    g = gather([region, *[log.step(f"o{k}", 1) for k in range(4)]])
    result = vrun_graph(g, policy="fifo", limits=Limits(concurrency=2))
    assert result == Success(((-1, -1), 1, 1, 1, 1))


def test_fail_fast_cancels_exactly_the_steps_that_were_ready_and_unfinished() -> None:
    g = gather([sleeper("boom", 1, fail=True), sleeper("slow", 5) >> sleeper("after", 1)])
    assert failure_of(vrun_graph(g, fail_fast=True)).cancelled == ("slow",)


# --- one end event per step --------------------------------------------------------


def _region_with_a_failure() -> Graph[int, tuple[int, ...], Any]:
    inner = gather([sleeper("bad", 0.5, fail=True), sleeper("c", 1) >> sleeper("nxt", 1)])
    return inner.recover((0, 0))


def test_a_timed_out_loop_body_sends_one_end_event_per_step() -> None:
    trace = Trace()

    def join(t: tuple[object, ...]) -> int:
        return 0

    body = gather([_region_with_a_failure(), sleeper("slow", 10)]) >> node(join).named("j")
    timed = loop(body, until=lambda s: True, max_steps=1).named("L").timeout(2).recover(-1)
    assert vrun_graph(timed, on_event=trace) == Success(-1)
    assert ends_of(trace, "L/bad#1") == ["fail"]
    assert ends_of(trace, "L/nxt#1") == ["skip"]
    assert trace.status("L/bad#1") == "recovered"


def test_fail_fast_sends_one_skip_for_a_step_its_region_already_skipped() -> None:
    trace = Trace()
    g = gather([_region_with_a_failure(), sleeper("boom", 3, fail=True)])
    vrun_graph(g, on_event=trace, fail_fast=True)
    assert ends_of(trace, "nxt") == ["skip"]


# --- breakers ------------------------------------------------------------------------


@pytest.mark.parametrize("in_task", [True, False])
def test_a_failure_value_counts_for_the_breaker_in_a_task_and_inline(in_task: bool) -> None:
    calls: list[int] = []

    async def async_bad(x: int) -> Result[int, str]:
        calls.append(x)
        return Failure("bad")

    def plain_bad(x: int) -> Result[int, str]:
        calls.append(x)
        return Failure("bad")

    breaker = Breaker("b", failures=2, cooldown=100)
    if in_task:  # .retry(1) keeps it one attempt but runs it in a task
        g = node(async_bad).named("f").retry(1).breaker(breaker)
    else:
        g = node(plain_bad).named("f").breaker(breaker)
    for _ in range(3):
        vrun_graph(g)
    assert len(calls) == 2  # the third call was refused
    assert breaker.state == "open"


def test_after_a_failed_trial_the_next_cooldown_ends_in_a_trial_again() -> None:
    now = [0.0]
    breaker = Breaker("x", failures=1, cooldown=10, clock=lambda: now[0])
    breaker.failed()
    now[0] = 10
    assert breaker.admit("s") is True
    breaker.failed(trial=True)
    now[0] = 20
    assert breaker.admit("s") is True


# --- budgets -------------------------------------------------------------------------


def test_a_lane_whose_keep_open_ended_gets_a_new_one() -> None:
    log = Log()
    nested = loop(log.step("Y", 1).on("r"), until=lambda s: True, max_steps=1).named("M")
    steps = log.step("pre", 1).on("r") >> nested >> log.step("X", 1).on("r")
    body = loop(steps, until=lambda s: True, max_steps=1).named("L")
    first = log.step("w", 0.5) >> log.step("long", 10).on("r") >> log.step("long2", 10).on("r")
    result = vrun_graph(gather([first, body]), policy="fifo", limits=Limits(resources={"r": 1}))
    assert result == Success((3, 3))
    assert log.at("X") == 22


def test_a_step_s_own_cost_wins_over_its_composite_s() -> None:
    log = Log()
    g = gather([log.step("a", 1).on("gpu", 2), log.step("b", 1).on("gpu", 2)]).on("gpu", 1)
    vrun_graph(g, policy="fifo", limits=Limits(resources={"gpu": 3}))
    assert sorted(t for _, t in log.starts) == [0, 1]


def test_only_steps_needing_a_waiting_step_s_budget_count_as_overtaking_it() -> None:
    log = Log()
    chains = []
    for k in range(10):
        chain = log.step(f"a{k}_0", 1).on("A")
        for n in range(1, 6):
            chain = chain >> log.step(f"a{k}_{n}", 1).on("A")
        chains.append(log.step(f"off{k}", 1) >> chain)
    waiting = log.step("wpre", 0.5) >> log.step("W", 1).on("B", 2)
    later = log.step("ypre", 5) >> log.step("y", 1).on("B", 1)
    g = gather([log.step("x", 100).on("B", 1), waiting, later, *chains])
    vrun_graph(g, policy="fifo", limits=Limits(resources={"A": 100, "B": 2}))
    assert log.at("y") == 5  # the A-only chains did not make W hold B back


def test_a_waiting_step_is_overtaken_at_most_8_times() -> None:
    log = Log()

    def chain(k: int, offset: float) -> Graph[int, int, Any]:
        steps = log.step(f"off{k}", offset)
        for n in range(20):
            steps = steps >> log.step(f"c{k}_{n}", 1).on("B", 1)
        return steps

    waiting = log.step("wpre", 0.5) >> log.step("W", 1).on("B", 2)
    g = gather([chain(0, 0), chain(1, 0.25), waiting])
    vrun_graph(g, policy="fifo", limits=Limits(resources={"B": 2}))
    assert log.at("W") == 5.25  # README: after 8 overtakes its budget is held for it


def test_a_budget_drifted_by_float_costs_is_recounted_while_steps_still_hold_it() -> None:
    log = Log()
    g = gather(
        [
            log.step("a", 10).on("r", 0.3),
            log.step("b", 10).on("r", 0.2),
            log.step("pre", 1) >> log.step("c", 1).on("r", 0.5),  # 1 - 0.3 - 0.2 < 0.5
        ]
    )
    vrun_graph(g, policy="fifo", limits=Limits(resources={"r": 1.0}))
    assert log.at("c") == 1


def test_a_loop_is_not_charged_its_composite_cost_only_its_body_steps_are() -> None:
    log = Log()
    body = log.step("B", 1).on("gpu", 1)
    g = loop(body, until=lambda s: True, max_steps=1).named("L").on("gpu", 5)
    assert vrun_graph(g, limits=Limits(resources={"gpu": 2})) == Success(1)


# --- durations for critical_path -----------------------------------------------------


def test_steps_without_a_seen_duration_get_the_mean_and_plumbing_gets_none() -> None:
    def ident(x: int) -> int:
        return x

    plan = plan_of(gather([node(ident).named(name) for name in "abc"]))
    durations = plan.durations_from({"a": 2.0, "b": 4.0})
    by_path = dict(zip(plan.paths, durations, strict=True))
    assert (by_path["a"], by_path["b"], by_path["c"]) == (2.0, 4.0, 3.0)
    assert all(durations[i] == 0.0 for i in range(len(plan)) if plan.internal[i])
