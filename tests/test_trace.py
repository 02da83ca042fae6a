"""Events and the audit trail: what `on_event` receives, and what `Trace` makes of it.

Time is trio's `MockClock` with autojump, so event times are exact.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import trio
import trio.testing
from _support import sleeper, vrun, vrun_graph
from returns.result import Failure, Success

import dagfn._execute
from dagfn import Event, Graph, Limits, StepRecord, Trace, gather, loop, node, run
from dagfn._plan import plan_of
from dagfn._trace import digest


@node
def plain(x: int) -> int:
    return x * 2


def kinds(trace: Trace) -> list[tuple[str, str, float]]:
    return [(e.kind, e.step, e.at) for e in trace.events]


def ends_of(trace: Trace, step: str) -> list[str]:
    return [e.kind for e in trace.events if e.step == step and e.kind not in ("start", "retry")]


def test_a_chain_emits_start_and_finish_per_step_in_order_with_exact_times() -> None:
    trace = Trace()
    g = sleeper("a", 1) >> plain >> sleeper("b", 2.5)
    assert vrun(g, 0, on_event=trace) == Success(3)
    assert kinds(trace) == [
        ("start", "a", 0.0),
        ("finish", "a", 1.0),
        ("start", "plain", 1.0),
        ("finish", "plain", 1.0),
        ("start", "b", 1.0),
        ("finish", "b", 3.5),
    ]
    assert all(e.attempt == 1 for e in trace.events)


def test_start_and_finish_carry_the_digests_of_input_and_output() -> None:
    trace = Trace()
    vrun(sleeper("a", 1) >> plain, 3, on_event=trace)
    start_a, finish_a, start_p, finish_p = trace.events
    # a step's input digest is the digest of its argument list
    assert start_a.digest == digest([3])
    assert finish_a.digest == digest(4)
    assert start_p.digest == digest([4])
    assert finish_p.digest == digest(8)
    assert len({start_a.digest, finish_a.digest, finish_p.digest}) == 3
    assert all(isinstance(e.digest, str) and len(e.digest) == 16 for e in trace.events)


def test_digests_are_stable_for_equal_values_and_tolerate_odd_ones() -> None:
    assert digest({"b": 1, "a": (1, 2)}) == digest({"a": [1, 2], "b": 1})
    assert digest(1) != digest(2)
    circular: list[Any] = []
    circular.append(circular)
    assert len(digest(circular)) == 16


def test_retries_emit_start_retry_and_attempt_numbers_then_fail() -> None:
    calls = 0

    @node
    async def down(x: int) -> int:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"down {calls}")

    trace = Trace()
    g = down.retry(3, backoff=1.0, factor=2.0, jitter=False)
    result = vrun(g, 0, on_event=trace)
    assert isinstance(result, Failure)
    assert [(e.kind, e.attempt, e.at) for e in trace.events] == [
        ("start", 1, 0.0),
        ("retry", 1, 0.0),
        ("start", 2, 1.0),
        ("retry", 2, 1.0),
        ("start", 3, 3.0),
        ("fail", 3, 3.0),
    ]
    assert [str(e.error) for e in trace.events if e.error is not None] == [
        "down 1",
        "down 2",
        "down 3",
    ]
    record = trace.steps["down"]
    assert record.status == "failed"
    assert record.attempts == 3
    assert record.errors == [
        "ConnectionError('down 1')",
        "ConnectionError('down 2')",
        "ConnectionError('down 3')",
    ]
    assert record.duration == 3.0


def test_a_retried_success_finishes_with_its_attempt_number() -> None:
    calls = 0

    @node
    async def flaky(x: int) -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(0.5)
        if calls < 2:
            raise OSError("once")
        return x

    trace = Trace()
    assert vrun(flaky.retry(2, backoff=0.25), 9, on_event=trace, rng=random.Random(0)) == Success(9)
    finish = trace.events[-1]
    assert (finish.kind, finish.attempt) == ("finish", 2)
    record = trace.steps["flaky"]
    assert (record.status, record.attempts, record.started_at) == ("completed", 2, 0.0)
    assert record.finished_at == finish.at
    assert record.errors == ["OSError('once')"]


def test_a_failure_emits_fail_then_skip_for_every_dependent_once() -> None:
    trace = Trace()

    def total(a: int, b: int) -> int:
        return a + b

    g = (sleeper("x", 1, fail=True) & sleeper("y", 2, fail=True)).join(total) >> plain
    failure = vrun(g, 0, on_event=trace)
    assert isinstance(failure, Failure)
    events = kinds(trace)
    assert sorted(e for e in events if e[0] == "start") == [
        ("start", "x", 0.0),
        ("start", "y", 0.0),
    ]
    assert [e for e in events if e[0] != "start"] == [
        ("fail", "x", 1.0),
        ("fail", "y", 2.0),
        ("skip", "total", 2.0),
        ("skip", "plain", 2.0),
    ]
    assert trace.status("total") == "skipped"
    assert trace.status("x") == "failed"
    assert trace.steps["total"].attempts == 0


@pytest.mark.parametrize("fail_fast", [False, True])
def test_a_failing_loop_body_sends_one_event_per_step_inside_and_after_it(fail_fast: bool) -> None:
    trace = Trace()
    body = sleeper("a", 1) >> sleeper("b", 1, fail=True) >> sleeper("c", 1)
    inner = loop(body, until=lambda s: s > 9, max_steps=5).named("in")
    outer = loop(inner >> sleeper("d", 1), until=lambda s: s > 9, max_steps=5).named("out")
    g = outer >> sleeper("e", 1)
    failure = vrun(g, 0, on_event=trace, fail_fast=fail_fast)
    assert isinstance(failure, Failure)
    ends = [(e.kind, e.step) for e in trace.events if e.kind in ("fail", "skip", "finish")]
    assert len(ends) == len(set(e[1] for e in ends)), ends  # one end per step
    assert ("fail", "out/in/b#1#1") in ends
    assert {step for kind, step in ends if kind == "skip"} == {"out/in/c#1#1", "out/d#1", "e"}


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


def test_fail_fast_skips_only_steps_that_had_no_end_yet() -> None:
    trace = Trace()
    caught = sleeper("caught", 1, fail=True).recover(0)
    g = gather([caught, sleeper("boom", 2, fail=True), sleeper("slow", 3)])
    assert isinstance(vrun(g, 0, on_event=trace, fail_fast=True), Failure)
    ends = [(e.kind, e.step) for e in trace.events if e.kind != "start"]
    assert ends == [("fail", "caught"), ("fail", "boom"), ("skip", "slow")]
    assert trace.status("caught") == "recovered"


def test_fail_fast_sends_one_skip_for_a_step_its_region_already_skipped() -> None:
    trace = Trace()
    g = gather([_region_with_a_failure(), sleeper("boom", 3, fail=True)])
    vrun_graph(g, on_event=trace, fail_fast=True)
    assert ends_of(trace, "nxt") == ["skip"]


def test_recover_and_in_region_skip_events() -> None:
    trace = Trace()
    region = gather([sleeper("boom", 1, fail=True), sleeper("slow", 2) >> sleeper("next", 1)])
    assert vrun(region.recover((0, 0)), 0, on_event=trace) == Success((0, 0))
    recover = next(e for e in trace.events if e.kind == "fail")
    assert (recover.step, recover.at, recover.attempt, recover.recovered) == ("boom", 1.0, 1, True)
    assert isinstance(recover.error, ValueError)
    assert trace.status("boom") == "recovered"
    assert trace.steps["boom"].errors == ["ValueError('boom')"]
    assert trace.status("slow") == "completed"
    assert trace.status("next") == "skipped"
    assert [e for e in trace.events if e.kind == "fail" and not e.recovered] == []


def test_every_step_a_tripped_region_will_not_run_is_skipped_once_when_it_trips() -> None:
    trace = Trace()
    after_boom = sleeper("boom", 1, fail=True) >> sleeper("a1", 1) >> sleeper("a2", 1)
    beside = sleeper("slow", 2) >> sleeper("next", 1)
    nested = (sleeper("n1", 3) >> sleeper("n2", 1)).recover(7)
    region = gather([after_boom, beside, nested])
    assert vrun(region.recover((0, 0, 0)), 0, on_event=trace) == Success((0, 0, 0))
    skips = [(e.step, e.at) for e in trace.events if e.kind == "skip"]
    assert sorted(skips) == [("a1", 1.0), ("a2", 1.0), ("n2", 1.0), ("next", 1.0)]
    assert {trace.status(step) for step in ("slow", "n1")} == {"completed"}  # already running
    assert trace.status("boom") == "recovered"


def test_internal_plumbing_emits_no_events() -> None:
    trace = Trace()
    g = gather([sleeper("a", 1), plain]).recover((0, 0))
    vrun(g, 1, on_event=trace)
    assert {e.step for e in trace.events} == {"a", "plain"}


def test_event_times_are_monotonic() -> None:
    trace = Trace()
    g = gather([sleeper(f"s{i}", i % 3 + 0.5) >> plain.named(f"p{i}") for i in range(6)])
    vrun(g, 0, on_event=trace, limits=Limits(concurrency=2))
    times = [e.at for e in trace.events]
    assert times == sorted(times)
    assert len(trace.events) == 24


def test_an_async_on_event_is_awaited_for_every_event_in_order() -> None:
    seen: list[tuple[str, str, float]] = []

    async def slow_sink(event: Event) -> None:
        await trio.sleep(0.01)  # a slow consumer must not reorder or drop events
        seen.append((event.kind, event.step, event.at))

    g = sleeper("a", 1) >> sleeper("b", 1) >> plain
    assert vrun(g, 0, on_event=slow_sink) == Success(4)
    assert seen == [
        ("start", "a", 0.0),
        ("finish", "a", 1.0),
        ("start", "b", 1.0),
        ("finish", "b", 2.0),
        ("start", "plain", 2.0),
        ("finish", "plain", 2.0),
    ]


def test_an_object_with_an_async_call_is_awaited_too() -> None:
    class Sink:
        def __init__(self) -> None:
            self.kinds: list[str] = []

        async def __call__(self, event: Event) -> None:
            await trio.sleep(0)
            self.kinds.append(event.kind)

    sink = Sink()
    assert vrun(sleeper("a", 1), 0, on_event=sink) == Success(1)
    assert sink.kinds == ["start", "finish"]


def test_skip_events_reach_an_async_on_event() -> None:
    seen: list[str] = []

    async def sink(event: Event) -> None:
        seen.append(event.kind)

    vrun(sleeper("a", 1, fail=True) >> plain, 0, on_event=sink)
    assert seen == ["start", "fail", "skip"]


def test_trace_records_each_step_s_outcome() -> None:
    trace = Trace()
    g = gather([sleeper("ok", 2), sleeper("bad", 1, fail=True) >> plain])
    vrun(g, 0, on_event=trace)
    ok, bad, skipped = trace.steps["ok"], trace.steps["bad"], trace.steps["plain"]
    assert isinstance(ok, StepRecord)
    assert (ok.status, ok.attempts, ok.started_at, ok.finished_at, ok.duration) == (
        "completed",
        1,
        0.0,
        2.0,
        2.0,
    )
    assert ok.input_digest == digest([0])
    assert ok.output_digest == digest(1)
    assert ok.errors == []
    assert (bad.status, bad.duration, bad.output_digest) == ("failed", 1.0, None)
    assert bad.errors == ["ValueError('bad')"]
    assert (skipped.status, skipped.started_at, skipped.duration) == ("skipped", None, None)
    assert trace.status("never-heard-of") == "pending"


def test_to_json_parses_and_holds_steps_and_events() -> None:
    trace = Trace()
    g = gather([sleeper("ok", 2), sleeper("bad", 1, fail=True) >> plain])
    vrun(g, 0, on_event=trace)
    data = json.loads(trace.to_json())
    assert {s["step"]: s["status"] for s in data["steps"]} == {
        "ok": "completed",
        "bad": "failed",
        "plain": "skipped",
    }
    ok = next(s for s in data["steps"] if s["step"] == "ok")
    assert ok["duration"] == 2.0
    assert ok["attempts"] == 1
    assert len(data["events"]) == len(trace.events)
    fail = next(e for e in data["events"] if e["kind"] == "fail")
    assert fail == {
        "kind": "fail",
        "step": "bad",
        "at": 1.0,
        "attempt": 1,
        "error": "ValueError('bad')",
        "digest": None,
        "recovered": False,
        "cached": False,
    }
    assert json.loads(trace.to_json(indent=None)) == data


def test_to_json_of_an_empty_trace() -> None:
    assert json.loads(Trace().to_json()) == {"steps": [], "events": []}


def test_without_on_event_nothing_is_emitted_and_the_run_still_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError("an event was built in a run without on_event")

    # Neither events nor digests are computed when nobody listens.
    monkeypatch.setattr(dagfn._execute, "Event", forbidden)
    monkeypatch.setattr(dagfn._execute, "digest", forbidden)
    g = gather([sleeper("a", 1) >> plain, sleeper("b", 1, fail=True) >> plain.named("p2")])
    assert vrun(sleeper("a", 1) >> plain, 1) == Success(4)
    failure = vrun(g, 1, on_event=None, limits=Limits(concurrency=1))
    assert isinstance(failure, Failure)
    assert failure.failure().not_run == ("p2",)
    # and plain steps outside regions keep the interpreter's fast path
    plan = plan_of(sleeper("a", 1) >> plain)
    assert not any(plan.slow[i] for i in plan.user_steps())


def test_an_output_that_cannot_be_digested_does_not_break_the_run() -> None:
    @node
    def circular(x: int) -> list[Any]:
        out: list[Any] = [x]
        out.append(out)
        return out

    trace = Trace()
    result = vrun(circular, 1, on_event=trace)
    assert isinstance(result, Success)
    assert trace.status("circular") == "completed"
    assert trace.steps["circular"].output_digest is not None


def test_events_do_not_change_results_or_timing() -> None:
    g = gather([sleeper("a", 1) >> sleeper("b", 2), sleeper("c", 2.5)])
    ended: list[float] = []

    async def main(on_event: Any) -> Any:
        result = await run(g, 0, on_event=on_event)
        ended.append(trio.current_time())
        return result

    clock = trio.testing.MockClock
    assert trio.run(main, None, clock=clock(autojump_threshold=0)) == Success((2, 1))
    assert trio.run(main, Trace(), clock=clock(autojump_threshold=0)) == Success((2, 1))
    assert ended == [3.0, 3.0]


@pytest.mark.parametrize("raises", [False, True])
def test_a_plain_on_event_sees_events_as_they_happen(raises: bool) -> None:
    at: list[tuple[str, float]] = []

    def sink(event: Event) -> None:
        at.append((event.kind, trio.current_time()))

    vrun(sleeper("a", 1, fail=raises), 0, on_event=sink)
    assert at == [("start", 0.0), ("fail" if raises else "finish", 1.0)]


def test_steps_cut_short_by_fail_fast_end_as_skipped_in_the_trace() -> None:
    import trio.testing

    from dagfn import Trace, node, run

    @node
    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x

    @node
    async def bad(x: int) -> int:
        await trio.sleep(1)
        raise RuntimeError("boom")

    trace = Trace()

    async def main() -> object:
        return await run((slow & bad).join(lambda a, b: a), 0, fail_fast=True, on_event=trace)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert trace.status("bad") == "failed"
    assert trace.status("slow") == "skipped"
