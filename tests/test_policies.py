"""Step policies: retry schedules, ``on=`` filters, timeouts, circuit breakers.

Time is trio's `MockClock` with autojump, so backoffs and timeouts cost nothing
and their instants are exact; jitter comes from an injected ``random.Random``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from _support import failure_of, sleeper, vrun, vrun_graph
from returns.result import Failure, Result, Success

from dagfn import (
    Breaker,
    BreakerOpen,
    Graph,
    InvalidArgument,
    Limits,
    RetryPolicy,
    RunFailure,
    StepTimeout,
    Trace,
    gather,
    interrupt,
    loop,
    node,
    run,
    run_sync,
)
from dagfn.store import MemoryStore


class Flaky:
    """An async step body that raises (or returns) ``errors`` one per call, then succeeds."""

    def __init__(self, *errors: object, sleep: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []  # trio time of each call
        self.sleep = sleep

    async def __call__(self, x: int) -> Result[int, Any]:
        self.calls.append(trio.current_time())
        if self.sleep:
            await trio.sleep(self.sleep)
        if len(self.calls) <= len(self.errors):
            error = self.errors[len(self.calls) - 1]
            if isinstance(error, BaseException):
                raise error
            return Failure(error)
        return Success(x + 1)


def flaky_node(flaky: Flaky, name: str) -> Graph[int, int, Any]:
    return node(flaky).named(name)


def expected_delays(
    n: int, *, backoff: float, factor: float, max_backoff: float, seed: int | None, step: str = "f"
) -> list[float]:
    """The documented schedule: min(max_backoff, backoff * factor ** (k - 1)), jittered.

    Jitter comes from the step's own generator: seeded by a number the run
    draws from its ``rng`` and by the step's path.
    """
    run_seed = random.Random(seed).getrandbits(64)
    rng = random.Random(f"{run_seed}/{step}") if seed is not None else None
    delays = []
    for k in range(1, n + 1):
        base = min(max_backoff, backoff * factor ** (k - 1))
        delays.append(base * (0.5 + 0.5 * rng.random()) if rng is not None else base)
    return delays


def cumulative(delays: list[float]) -> list[float]:
    out = [0.0]
    for d in delays:
        out.append(out[-1] + d)
    return out


# --- retry ---------------------------------------------------------------------


def test_retry_without_jitter_waits_the_exponential_schedule_capped_by_max_backoff() -> None:
    flaky = Flaky(ValueError(1), ValueError(2), ValueError(3), ValueError(4))
    g = flaky_node(flaky, "f").retry(5, backoff=0.5, factor=3.0, max_backoff=2.0, jitter=False)
    assert vrun(g, 1) == Success(2)
    # waits 0.5, 1.5, then capped at 2.0 twice
    assert flaky.calls == pytest.approx([0.0, 0.5, 2.0, 4.0, 6.0])


def test_retry_jitter_scales_each_wait_by_the_injected_random_generator() -> None:
    flaky = Flaky(ValueError(1), ValueError(2), ValueError(3))
    g = flaky_node(flaky, "f").retry(4, backoff=0.25, factor=2.0, max_backoff=10.0)
    assert vrun(g, 1, rng=random.Random(0)) == Success(2)
    delays = expected_delays(3, backoff=0.25, factor=2.0, max_backoff=10.0, seed=0)
    assert flaky.calls == pytest.approx(cumulative(delays))
    # and the jitter really is in [0.5, 1] of the base wait
    for got, base in zip(delays, [0.25, 0.5, 1.0], strict=True):
        assert 0.5 * base <= got <= base


def test_steps_retrying_at_once_keep_their_own_jitter_whatever_order_trio_wakes_them() -> None:
    schedules = set()
    for _ in range(20):  # trio wakes tasks in a randomised order
        a = Flaky(*[ValueError(n) for n in range(3)])
        b = Flaky(*[ValueError(n) for n in range(3)])
        g = gather([flaky_node(a, "a").retry(4), flaky_node(b, "b").retry(4)])
        assert vrun(g, 1, rng=random.Random(0)) == Success((2, 2))
        schedules.add((tuple(a.calls), tuple(b.calls)))
    assert len(schedules) == 1
    ((a_calls, b_calls),) = schedules
    for calls, step in ((a_calls, "a"), (b_calls, "b")):
        delays = expected_delays(3, backoff=0.1, factor=2.0, max_backoff=10.0, seed=0, step=step)
        assert calls == pytest.approx(cumulative(delays))


def test_a_step_retrying_in_a_region_that_failed_tries_no_more() -> None:
    async def boom(x: int) -> int:
        await trio.sleep(0.5)
        raise ValueError("boom")

    flaky = Flaky(*[ConnectionError(n) for n in range(5)])
    trace = Trace()
    g = gather([node(boom), flaky_node(flaky, "flaky").retry(5, backoff=10, jitter=False)])

    async def main() -> tuple[Result[Any, RunFailure[Any]], float]:
        return await run(g.recover((-1, -1)), 0, on_event=trace), trio.current_time()

    result, ended = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == Success((-1, -1))
    assert ended == 0.5  # its wait to retry was cut short when the region failed
    assert flaky.calls == [0.0]
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


def test_a_step_cut_short_while_waiting_to_retry_is_cancelled_and_skipped() -> None:
    trace = Trace()
    flaky = sleeper("flaky", 0, fail=True).retry(3, backoff=10, jitter=False)
    g = gather([flaky, sleeper("boom", 1, fail=True)])
    failure = failure_of(vrun_graph(g, on_event=trace, fail_fast=True))
    assert failure.cancelled == ("flaky",)
    assert trace.status("flaky") == "skipped"


def test_retry_runs_before_recover_gives_up() -> None:
    flaky = Flaky(ValueError(), ValueError())
    g = flaky_node(flaky, "f").retry(3, backoff=0.0).recover(-1)
    assert vrun(g, 1) == Success(2)
    failing = Flaky(ValueError(), ValueError(), ValueError())
    assert vrun(flaky_node(failing, "g").retry(3, backoff=0.0).recover(-1), 1) == Success(-1)
    assert len(failing.calls) == 3


def test_an_output_that_cannot_be_journaled_fails_the_attempt_that_made_it() -> None:
    calls = []

    async def unjournalable(x: int) -> object:
        calls.append(x)
        if len(calls) < 3:
            raise OSError("again")
        return object()  # not JSON

    trace = Trace()
    g = node(unjournalable).named("f").retry(3, jitter=False)
    failure_of(vrun(g, 1, on_event=trace, store=MemoryStore(), run_id="j"))
    assert [(e.kind, e.attempt) for e in trace.events][-2:] == [("start", 3), ("fail", 3)]


def test_thousands_of_attempts_with_a_capped_backoff_never_overflow() -> None:
    flaky = Flaky(*[ConnectionError(n) for n in range(1100)])
    g = flaky_node(flaky, "poll").retry(2000, backoff=0.1, factor=10.0, max_backoff=1.0)
    assert vrun(g, 1, rng=random.Random(0)) == Success(2)
    assert len(flaky.calls) == 1101


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    def schedule(seed: int) -> list[float]:
        flaky = Flaky(ValueError(), ValueError())
        vrun(flaky_node(flaky, "f").retry(3), 0, rng=random.Random(seed))
        return flaky.calls

    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)


def test_retry_gives_up_after_the_last_attempt_with_its_error() -> None:
    flaky = Flaky(ValueError("a"), ValueError("b"), ValueError("c"), ValueError("d"))
    g = flaky_node(flaky, "f").retry(3, backoff=1.0, jitter=False)
    failure = failure_of(vrun(g, 1))
    assert len(flaky.calls) == 3
    assert failure.step == "f"
    assert isinstance(failure.error, ValueError)
    assert failure.error.args == ("c",)


def test_retry_on_filters_raised_exceptions_by_type() -> None:
    flaky = Flaky(KeyError("k"), ValueError("v"))
    g = flaky_node(flaky, "f").retry(5, backoff=0.0, on=KeyError)
    failure = failure_of(vrun(g, 1))
    assert len(flaky.calls) == 2  # the KeyError was retried, the ValueError was not
    assert isinstance(failure.error, ValueError)


def test_retry_on_accepts_a_tuple_of_types() -> None:
    flaky = Flaky(KeyError("k"), TimeoutError(), ValueError("v"))
    g = flaky_node(flaky, "f").retry(5, backoff=0.0, on=(KeyError, TimeoutError))
    assert isinstance(failure_of(vrun(g, 1)).error, ValueError)
    assert len(flaky.calls) == 3


def test_failure_values_retry_when_they_are_instances_of_on() -> None:
    busy = Flaky("busy", "busy")
    g = flaky_node(busy, "f").retry(3, backoff=0.0, on=str)
    assert vrun(g, 1) == Success(2)
    assert len(busy.calls) == 3

    # A failure value that is not an exception is not retried by the default on=(Exception,).
    plain = Flaky("busy")
    assert failure_of(vrun(flaky_node(plain, "f").retry(3), 1)).error == "busy"
    assert len(plain.calls) == 1

    # A failure value that is an exception is retried by the default.
    exc = Flaky(ConnectionError("down"))
    exc.errors = [Failure(ConnectionError("down")).failure()]  # returned, not raised
    assert vrun(flaky_node(exc, "f").retry(2, backoff=0.0), 1) == Success(2)
    assert len(exc.calls) == 2


def test_a_sync_step_with_retry_is_retried_too() -> None:
    calls: list[float] = []

    @node
    def shaky(x: int) -> int:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise OSError("flap")
        return x * 10

    assert vrun(shaky.retry(3, backoff=1.0, factor=1.0, jitter=False), 2) == Success(20)
    assert calls == pytest.approx([0.0, 1.0, 2.0])


def test_retry_on_a_composite_applies_to_every_inner_step() -> None:
    a, b = Flaky(ValueError()), Flaky(ValueError(), ValueError())
    g = (flaky_node(a, "a") >> flaky_node(b, "b")).retry(3, backoff=0.0)
    assert vrun(g, 0) == Success(2)
    assert (len(a.calls), len(b.calls)) == (2, 3)


def test_retry_on_a_join_applies_to_its_branches_and_the_join_step() -> None:
    a, b = Flaky(ValueError()), Flaky(ValueError())
    joins: list[int] = []

    def total(x: int, y: int) -> int:
        joins.append(x + y)
        if len(joins) == 1:
            raise ValueError("join")
        return x + y

    g = (flaky_node(a, "a") & flaky_node(b, "b")).join(total).retry(2, backoff=0.0)
    assert vrun(g, 0) == Success(2)
    assert (len(a.calls), len(b.calls), len(joins)) == (2, 2, 2)


def test_a_step_s_own_retry_wins_over_the_composite_s() -> None:
    a, b = Flaky(ValueError()), Flaky(ValueError())
    g = (flaky_node(a, "a").retry(1) >> flaky_node(b, "b")).retry(3, backoff=0.0)
    failure = failure_of(vrun(g, 0))
    assert failure.step == "a"  # its own retry(1) means a single attempt
    assert len(a.calls) == 1
    assert not b.calls


def test_retries_of_independent_steps_do_not_hold_up_each_other() -> None:
    slow = Flaky(ValueError(), ValueError())
    fast = Flaky()
    g = gather(
        [flaky_node(slow, "slow").retry(3, backoff=5.0, jitter=False), flaky_node(fast, "fast")]
    )
    assert vrun(g, 0) == Success((1, 1))
    assert fast.calls == [0.0]
    assert slow.calls == pytest.approx([0.0, 5.0, 15.0])


# --- timeouts ------------------------------------------------------------------


def test_a_timeout_fails_an_async_step_with_step_timeout_naming_step_and_seconds() -> None:
    ended: list[float] = []

    @node
    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x

    @node
    async def after(x: int) -> int:
        return x

    async def main() -> Result[Any, RunFailure[Any]]:
        result = await run(slow.timeout(1.5) >> after, 1)
        ended.append(trio.current_time())
        return result

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    failure = failure_of(result)
    assert isinstance(failure.error, StepTimeout)
    assert isinstance(failure.error, TimeoutError)
    assert (failure.error.step, failure.error.seconds) == ("slow", 1.5)
    assert str(failure.error) == "step 'slow' timed out after 1.5 s"
    assert failure.not_run == ("after",)
    assert ended == [1.5]  # cut off at the deadline, not after 10 s


def test_a_step_within_its_timeout_is_unaffected() -> None:
    @node
    async def quick(x: int) -> int:
        await trio.sleep(0.5)
        return x + 1

    assert vrun(quick.timeout(1), 1) == Success(2)


def test_a_plain_function_under_a_timeout_runs_in_a_thread_that_is_abandoned() -> None:
    release = threading.Event()
    threads: list[str] = []

    @node
    def blocking(x: int) -> int:
        threads.append(threading.current_thread().name)
        release.wait(10)
        return x

    @node
    def fine(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x + 1

    try:
        # Real time: a worker thread does not advance a MockClock.
        failure = failure_of(run_sync(blocking.timeout(0.05), 1))
    finally:
        release.set()
    assert isinstance(failure.error, StepTimeout)
    assert failure.error.step == "blocking"
    assert run_sync(fine.timeout(5), 1) == Success(2)
    main = threading.main_thread().name
    assert len(threads) == 2
    assert all(name != main for name in threads)


def test_steps_hung_past_their_timeout_leave_threads_for_later_steps_and_the_journal() -> None:
    release = threading.Event()
    ran: list[tuple[int, ...]] = []

    def hang(x: int) -> int:
        release.wait(10)
        return x

    def quick(x: tuple[int, ...]) -> tuple[int, ...]:
        ran.append(x)
        return x

    # More hung threads than trio's default limiter has (40).
    hung = gather([node(hang).named(f"h{k}").timeout(0.05) for k in range(45)]).recover(())
    g = hung >> node(quick).timeout(2)

    async def main() -> tuple[Result[Any, RunFailure[Any]], float]:
        began = trio.current_time()
        result = await run(g, 1, store=MemoryStore(), run_id="hung")
        return result, trio.current_time() - began

    try:
        result, took = trio.run(main)  # real time: threads do not advance a MockClock
    finally:
        release.set()
    assert result == Success(())
    assert ran == [()]
    assert took < 2  # neither quick nor the journal waited for the hung threads


def test_a_too_slow_error_raised_by_a_step_s_own_code_is_its_error_not_a_timeout() -> None:
    async def fetch(x: int) -> int:
        with trio.fail_after(5):
            await trio.sleep(10)
        return x

    for g in (node(fetch), node(fetch).timeout(60)):
        failure = failure_of(vrun(g, 0))
        assert type(failure.error) is trio.TooSlowError


def test_a_timeout_on_a_composite_applies_to_each_step_separately() -> None:
    @node
    async def one(x: int) -> int:
        await trio.sleep(0.75)
        return x + 1

    @node
    async def two(x: int) -> int:
        await trio.sleep(0.75)
        return x + 2

    # Each step takes 0.75 s, under the 1 s of each; together they take 1.5 s.
    assert vrun((one >> two).timeout(1), 0) == Success(3)


def test_a_timed_out_attempt_is_retried_and_the_timeout_is_per_attempt() -> None:
    flaky = Flaky(sleep=0.0)
    durations = iter([5.0, 5.0, 0.5])

    @node
    async def sometimes_slow(x: int) -> int:
        flaky.calls.append(trio.current_time())
        await trio.sleep(next(durations))
        return x + 1

    g = sometimes_slow.timeout(1).retry(3, backoff=0.25, factor=2.0, jitter=False)
    trace = Trace()
    assert vrun(g, 1, on_event=trace) == Success(2)
    # attempt 1: 0..1 (timeout), wait 0.25; attempt 2: 1.25..2.25, wait 0.5; attempt 3: 2.75
    assert flaky.calls == pytest.approx([0.0, 1.25, 2.75])
    retries = [e for e in trace.events if e.kind == "retry"]
    assert [type(e.error) for e in retries] == [StepTimeout, StepTimeout]


def test_timeouts_retry_only_if_on_matches() -> None:
    @node
    async def slow(x: int) -> int:
        await trio.sleep(5)
        return x

    calls = Trace()
    failure = failure_of(vrun(slow.timeout(1).retry(3, on=KeyError), 1, on_event=calls))
    assert isinstance(failure.error, StepTimeout)
    assert [e.kind for e in calls.events] == ["start", "fail"]


# --- circuit breaker -----------------------------------------------------------


class Clock:
    """An injectable time source for breakers."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Service:
    """A step body whose health the test switches; counts real calls."""

    def __init__(self) -> None:
        self.healthy = False
        self.calls = 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        if not self.healthy:
            raise ConnectionError("down")
        return x


def test_breaker_opens_after_consecutive_failures_across_runs_and_refuses_calls() -> None:
    clock, service = Clock(), Service()
    breaker = Breaker("search", failures=2, cooldown=30, clock=clock)
    g = node(service).named("call").breaker(breaker)

    assert breaker.state == "closed"
    failure_of(run_sync(g, 1))
    assert breaker.state == "closed"  # one failure is below the threshold
    failure_of(run_sync(g, 1))
    assert breaker.state == "open"
    assert service.calls == 2

    clock.now += 10
    refused = failure_of(run_sync(g, 1))
    assert service.calls == 2  # not called while open
    assert isinstance(refused.error, BreakerOpen)
    assert isinstance(refused.error, RuntimeError)
    assert (refused.error.breaker, refused.error.step) == ("search", "call")
    assert refused.error.retry_in == pytest.approx(20)
    assert "circuit breaker 'search' is open" in str(refused.error)
    assert "'call'" in str(refused.error)


def test_breaker_half_opens_after_the_cooldown_and_a_success_closes_it() -> None:
    clock, service = Clock(), Service()
    breaker = Breaker("search", failures=1, cooldown=30, clock=clock)
    g = node(service).breaker(breaker)
    failure_of(run_sync(g, 1))
    assert breaker.state == "open"
    clock.now += 30
    assert breaker.state == "half-open"
    service.healthy = True
    assert run_sync(g, 5) == Success(5)
    assert breaker.state == "closed"
    assert run_sync(g, 6) == Success(6)


def test_a_failed_trial_call_opens_the_breaker_again_for_a_full_cooldown() -> None:
    clock, service = Clock(), Service()
    breaker = Breaker("search", failures=3, cooldown=30, clock=clock)
    g = node(service).breaker(breaker)
    for _ in range(3):
        failure_of(run_sync(g, 1))
    clock.now += 31
    assert breaker.state == "half-open"
    failure_of(run_sync(g, 1))  # one failure while half-open reopens it at once
    assert breaker.state == "open"
    assert service.calls == 4
    clock.now += 29
    assert isinstance(failure_of(run_sync(g, 1)).error, BreakerOpen)
    clock.now += 1
    assert breaker.state == "half-open"


def test_after_a_failed_trial_the_next_cooldown_ends_in_a_trial_again() -> None:
    now = [0.0]
    breaker = Breaker("x", failures=1, cooldown=10, clock=lambda: now[0])
    breaker.failed()
    now[0] = 10
    assert breaker.admit("s") is True
    breaker.failed(trial=True)
    now[0] = 20
    assert breaker.admit("s") is True


def test_a_half_open_loop_that_pauses_leaves_the_trial_to_the_next_call() -> None:
    clock, service = Clock(), Service()
    breaker = Breaker("search", failures=1, cooldown=30, clock=clock)
    failure_of(run_sync(node(service).breaker(breaker), 1))
    clock.now += 30
    assert breaker.state == "half-open"

    def prompt(x: int) -> str:
        return f"ok {x}?"

    def one(ok: bool) -> int:
        return 1

    ask = interrupt(prompt, answer=bool).named("ask")
    asking = loop(ask >> node(one), until=lambda s: True, max_steps=1)
    paused = run_sync(asking.breaker(breaker), 0)
    assert isinstance(paused, Failure)  # paused inside the loop: no verdict on the breaker
    service.healthy = True
    assert run_sync(node(service).breaker(breaker), 5) == Success(5)  # admitted as the trial
    assert breaker.state == "closed"


def test_cancelling_a_run_with_an_async_on_event_is_no_failure_of_its_loop() -> None:
    breaker = Breaker("loop", failures=1, cooldown=100)
    store = MemoryStore()

    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x + 1

    async def sink(event: object) -> None:
        pass

    body = node(slow).named("s")
    g = loop(body, until=lambda x: x >= 1, max_steps=3).named("L").breaker(breaker)

    async def main() -> None:
        with trio.move_on_after(0.2):  # the caller gives up while the loop body runs
            await run(g, 0, on_event=sink, store=store, run_id="r")

    trio.run(main)  # real time: the store opens the run in a thread
    assert breaker.state == "closed"
    assert {e.status for e in store.entries("r").values()} <= {"done"}  # no failure journaled


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    service = Service()
    breaker = Breaker("s", failures=2, clock=Clock())
    g = node(service).breaker(breaker)
    failure_of(run_sync(g, 1))
    service.healthy = True
    run_sync(g, 1)
    service.healthy = False
    failure_of(run_sync(g, 1))
    assert breaker.state == "closed"
    failure_of(run_sync(g, 1))
    assert breaker.state == "open"


def test_half_open_lets_exactly_one_trial_call_through() -> None:
    clock = Clock()
    breaker = Breaker("llm", failures=1, cooldown=5, clock=clock)
    calls: list[int] = []

    async def call(x: int) -> int:
        calls.append(x)
        await trio.sleep(1)
        if x < 0:
            raise ConnectionError("down")
        return x

    a = node(call).named("a").breaker(breaker)
    b = node(call).named("b").breaker(breaker)
    failure_of(vrun(node(call).named("c").breaker(breaker), -1))
    clock.now += 5
    failure = failure_of(vrun(gather([a, b]), 1))
    assert calls == [-1, 1]  # only one of the two steps was let through
    assert len(failure.failures) == 1  # the other was refused (trio picks which starts first)
    assert failure.step in ("a", "b")
    assert isinstance(failure.error, BreakerOpen)
    assert breaker.state == "closed"  # the trial succeeded


def test_a_cancelled_trial_call_does_not_leave_the_breaker_refusing_every_call() -> None:
    clock = Clock()
    breaker = Breaker("svc", failures=1, cooldown=10, clock=clock)

    @node
    async def hang(x: int) -> int:
        await trio.sleep(100)
        return x

    @node
    async def boom(x: int) -> int:
        raise ConnectionError("down")

    @node
    async def ok(x: int) -> int:
        return x

    async def main() -> Result[Any, RunFailure[Any]]:
        await run(boom.breaker(breaker), 1)
        clock.now += 10
        with trio.move_on_after(1):  # the trial call is cancelled with its caller
            await run(hang.breaker(breaker), 1)
        return await run(ok.breaker(breaker), 7)

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == Success(7)
    assert breaker.state == "closed"


def test_graph_breaker_keeps_its_state_across_runs_of_the_same_graph() -> None:
    service = Service()
    g = node(service).named("search").breaker(failures=2, cooldown=60, name="search-api")
    failure_of(run_sync(g, 1))
    failure_of(run_sync(g, 1))
    refused = failure_of(run_sync(g, 1))
    assert isinstance(refused.error, BreakerOpen)
    assert refused.error.breaker == "search-api"
    assert service.calls == 2


def test_one_breaker_on_a_composite_guards_every_step_and_counts_them_together() -> None:
    breaker = Breaker("shared", failures=2, clock=Clock())
    first, second = Service(), Service()
    g = gather([node(first).named("first"), node(second).named("second")]).breaker(breaker)
    failure = failure_of(run_sync(g, 1))
    assert breaker.state == "open"
    assert {f.step for f in failure.failures} == {"first", "second"}


def test_a_breaker_that_opens_during_retries_fails_the_step_at_once() -> None:
    clock, service = Clock(), Service()
    breaker = Breaker("svc", failures=2, cooldown=30, clock=clock)
    trace = Trace()
    g = node(service).named("svc").retry(6, backoff=1.0, jitter=False).breaker(breaker)

    async def main() -> tuple[Result[Any, RunFailure[Any]], float]:
        return await run(g, 0, on_event=trace), trio.current_time()

    result, ended = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    failure = failure_of(result)
    assert isinstance(failure.error, BreakerOpen)
    assert service.calls == 2  # then the breaker opened: no more waiting or trying
    assert ended == 3.0  # waits of 1 s and 2 s, then the refused third attempt
    assert trace.steps["svc"].attempts == 3


def test_a_slow_call_let_through_before_the_breaker_opened_does_not_close_it() -> None:
    breaker = Breaker("api", failures=2, cooldown=30, clock=Clock())

    async def slow_ok(x: int) -> int:
        await trio.sleep(5)
        return x

    async def bad(x: int) -> int:
        await trio.sleep(x)
        raise ConnectionError("down")

    def first(a: int, b: int, c: int) -> int:
        return a

    shared = (node(slow_ok) & node(bad).named("b1") & node(bad).named("b2")).join(first)
    failure_of(vrun(shared.breaker(breaker), 1))  # b1 and b2 fail at 1 s: open
    assert breaker.state == "open"  # slow_ok's success at 5 s has no say


def test_timeouts_count_as_breaker_failures() -> None:
    breaker = Breaker("slow", failures=1, clock=Clock())

    @node
    async def slow(x: int) -> int:
        await trio.sleep(5)
        return x

    assert isinstance(failure_of(vrun(slow.timeout(1).breaker(breaker), 1)).error, StepTimeout)
    assert breaker.state == "open"


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


# --- argument errors -------------------------------------------------------------


@node
def ident(x: int) -> int:
    return x


BAD_ARGUMENTS: list[tuple[Callable[[], object], str, str]] = [
    (lambda: ident.retry(0), "attempts", "Expected a positive int but got attempts=0"),
    (lambda: ident.retry(True), "attempts", "attempts=True"),
    (lambda: ident.retry(2, backoff=-1), "backoff", "backoff=-1"),
    (lambda: ident.retry(2, factor=0.5), "factor", "Expected a number >= 1"),
    (lambda: ident.retry(2, max_backoff=float("inf")), "max_backoff", "max_backoff=inf"),
    (lambda: ident.retry(2, on=42), "on", "a type or a non-empty tuple of types"),  # type: ignore[arg-type]
    (lambda: ident.retry(2, on=()), "on", "on=()"),
    (lambda: ident.timeout(-1), "seconds", "Expected a positive number but got seconds=-1"),
    (lambda: ident.timeout(0), "seconds", "seconds=0"),
    (lambda: ident.on("", 1), "resource", "Expected a non-empty resource name"),
    (lambda: ident.on("llm", 0), "cost", "cost=0"),
    (lambda: ident.breaker(failures=0), "failures", "failures=0"),
    (lambda: ident.breaker(cooldown=-1), "cooldown", "cooldown=-1"),
    (lambda: ident.breaker("x"), "breaker", "Expected a Breaker"),  # type: ignore[arg-type]
    (lambda: Breaker(3), "name", "a non-empty str"),  # type: ignore[arg-type]
    (lambda: ident.breaker(name=""), "name", "name=''"),
    (lambda: Limits(concurrency=0), "concurrency", "concurrency=0"),
    (lambda: Limits(resources={"llm": 0}), "resources['llm']", "resources['llm']=0"),
    (lambda: Limits(resources={"": 1}), "resources key", "a non-empty resource name"),
    (lambda: run_sync(ident, 1, policy="lifo"), "policy", "'critical_path', 'fifo', 'waves'"),
    (lambda: run_sync(ident, 1, limits=4), "limits", "a dagfn.Limits"),  # type: ignore[arg-type]
    (lambda: run_sync(ident, 1, rng=0), "rng", "a random.Random"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "argument", "message"), BAD_ARGUMENTS)
def test_bad_policy_arguments_raise_at_once_naming_the_argument(
    call: Callable[[], object], argument: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=None) as info:
        call()
    assert info.value.argument == argument
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_cost_above_its_budget_is_an_error_naming_the_step_before_anything_runs() -> None:
    ran: list[int] = []

    @node
    def first(x: int) -> int:
        ran.append(x)
        return x

    g = first >> ident.named("big").on("tokens", 5000)
    with pytest.raises(InvalidArgument) as info:
        run_sync(g, 1, limits=Limits(resources={"tokens": 4000}))
    assert "step 'big' needs 5000 of 'tokens' but the budget is 4000" in str(info.value)
    assert info.value.argument == "limits.resources['tokens']"
    assert ran == []
    # A resource the limits do not name has no budget: the cost is not checked.
    assert run_sync(g, 1, limits=Limits(resources={"llm": 1})) == Success(1)


# --- policies as node keywords ---------------------------------------------------


def test_node_keywords_retry_time_out_and_take_a_budget_like_the_methods() -> None:
    flaky = Flaky(ValueError("1"), ValueError("2"))
    by_keyword = node(flaky, name="kw", retry=3)
    assert vrun(by_keyword, 1, rng=random.Random(0)) == Success(2)
    assert len(flaky.calls) == 3

    slow = Flaky(sleep=5)
    failure = failure_of(vrun(node(slow, name="slow", timeout=1.0), 1))
    assert isinstance(failure.error, StepTimeout)
    assert failure.step == "slow"

    log: list[tuple[str, float]] = []

    def holder(name: str, resource: str | dict[str, float]) -> Graph[int, int, Any]:
        async def body(x: int) -> int:
            log.append((name, trio.current_time()))
            await trio.sleep(1)
            return x

        return node(body, name=name, resource=resource)

    g = gather([holder("a", "llm"), holder("b", {"llm": 1, "tokens": 10}), holder("c", "llm")])
    assert vrun(g, 0, limits=Limits(resources={"llm": 1, "tokens": 10})) == Success((0, 0, 0))
    assert sorted(t for _, t in log) == [0.0, 1.0, 2.0]  # one "llm" at a time


def test_node_keywords_take_a_retry_policy_and_work_as_a_decorator() -> None:
    flaky = Flaky(ValueError("1"))
    policy = RetryPolicy(2, backoff=3.0, jitter=False)
    decorated = node(name="dec", retry=policy)(flaky)
    assert vrun(decorated, 1) == Success(2)
    assert flaky.calls == [0.0, 3.0]


@pytest.mark.parametrize(
    ("keywords", "argument"),
    [
        ({"retry": 0}, "retry"),
        ({"retry": True}, "retry"),
        ({"retry": RetryPolicy(2, backoff=-1.0)}, "backoff"),
        ({"timeout": -1.0}, "timeout"),
        ({"resource": ""}, "resource"),
        ({"resource": {"tokens": -5}}, "cost"),
        ({"resource": ["llm"]}, "resource"),
    ],
)
def test_bad_node_keywords_are_errors_naming_the_argument(
    keywords: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidArgument, match=argument):
        node(lambda x: x, **keywords)
    with pytest.raises(InvalidArgument, match=argument):
        node(**keywords)
