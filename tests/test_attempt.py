"""One step's attempts alone: `attempt` and `call_inline` with a recording `Hooks`, no run.

Time is trio's `MockClock` with autojump, so timeouts and waits between
attempts cost nothing and their instants are exact; but a plain function under
a timeout runs in a thread, which autojump does not wait for, so those tests
run in real time. Breakers get an injected clock, set by hand.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import trio
import trio.testing
from returns.result import Failure, Success

from dagfn import Breaker, BreakerOpen, Paused, RetryPolicy, StepTimeout
from dagfn._attempt import Abandoned, Done, Failed, Outcome, Suspended, attempt, call_inline
from dagfn._outcome import NestedPause
from dagfn._policy import NO_OPTIONS, StepOptions

STEP = 7  # the step number `attempt` hands to every hook


class Hooks:
    """Records what `attempt` tells the run; ``given_up`` and ``wait`` answer as set."""

    def __init__(self, *, give_up: bool = False, go_on: bool = True) -> None:
        self.listening = True  # started and retrying are called
        self.give_up = give_up
        self.go_on = go_on
        self.log: list[tuple[str, int, int]] = []  # (hook, step, attempt)
        self.errors: list[object] = []  # what `retrying` was told
        self.started_at: list[float] = []
        self.waits: list[float] = []

    def started(self, i: int, attempt: int) -> None:
        self.log.append(("started", i, attempt))
        self.started_at.append(trio.current_time())

    def retrying(self, i: int, attempt: int, error: object) -> None:
        self.log.append(("retrying", i, attempt))
        self.errors.append(error)

    def given_up(self, i: int) -> bool:
        return self.give_up

    async def wait(self, i: int, seconds: float) -> bool:
        self.waits.append(seconds)
        await trio.sleep(seconds)
        return self.go_on


def attempt_of(
    call: Callable[..., Any],
    options: StepOptions = NO_OPTIONS,
    *,
    awaited: bool = False,
    hooks: Hooks | None = None,
    path: str = "s",
    seed: int | None = 0,
    virtual: bool = True,
) -> Outcome:
    """``attempt`` of ``call(1)`` as step `STEP` at ``path``, in virtual time unless not."""

    async def main() -> Outcome:
        return await attempt(hooks or Hooks(), STEP, path, call, [1], awaited, options, seed)

    if not virtual:
        return trio.run(main)
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def retry(
    attempts: int, *, backoff: float = 1.0, jitter: bool = False, on: Any = Exception
) -> RetryPolicy:
    return RetryPolicy.checked(attempts, backoff, 2.0, 10.0, jitter, on)


def done(outcome: Outcome) -> Done:
    assert isinstance(outcome, Done), f"not done: {getattr(outcome, 'error', outcome)!r}"
    return outcome


def failed(outcome: Outcome) -> Failed:
    assert isinstance(outcome, Failed), f"not failed: {outcome!r}"
    return outcome


class Calls:
    """A step that fails its first ``failures`` calls (with ``error``), then returns x + 1."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error if error is not None else ValueError("flaky")
        self.n = 0

    def __call__(self, x: int) -> int:
        self.n += 1
        if self.n <= self.failures:
            raise self.error
        return x + 1

    async def awaited(self, x: int) -> int:
        await trio.sleep(0)
        return self(x)


class Clock:
    """A breaker's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def half_open(clock: Clock) -> Breaker:
    """A breaker ``b`` that opened at 0 and half-opens now (its cooldown is 10 s)."""
    breaker = Breaker("b", failures=1, cooldown=10, clock=clock)
    breaker.failed()
    clock.now = 10.0
    assert breaker.state == "half-open"
    return breaker


# -- one attempt: what a step's output means -----------------------------------------


@pytest.mark.parametrize("awaited", [False, True])
def test_a_step_s_output_is_done_on_the_first_attempt(awaited: bool) -> None:
    calls = Calls()
    hooks = Hooks()
    outcome = done(attempt_of(calls.awaited if awaited else calls, awaited=awaited, hooks=hooks))
    assert (outcome.value, outcome.attempt) == (2, 1)
    assert hooks.log == [("started", STEP, 1)]


@pytest.mark.parametrize("awaited", [False, True])
def test_a_success_is_unwrapped_exactly_once(awaited: bool) -> None:
    def plain(x: int) -> Success[Success[int]]:
        return Success(Success(x))

    async def coro(x: int) -> Success[Success[int]]:
        return plain(x)

    assert done(attempt_of(coro if awaited else plain, awaited=awaited)).value == Success(1)


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_returned_failure_is_the_attempt_s_error(timeout: float | None) -> None:
    error = KeyError("missing")

    def step(x: int) -> Failure[KeyError]:
        return Failure(error)

    outcome = failed(attempt_of(step, StepOptions(timeout=timeout), virtual=False))
    assert (outcome.error, outcome.attempt) == (error, 1)


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_plain_function_returning_a_coroutine_fails_with_a_type_error_naming_the_step(
    timeout: float | None,
) -> None:
    made: list[Coroutine[Any, Any, None]] = []

    def step(x: int) -> Coroutine[Any, Any, None]:
        made.append(trio.sleep(x))
        return made[0]

    options = StepOptions(timeout=timeout)
    error = failed(attempt_of(step, options, path="fetch", virtual=False)).error
    assert isinstance(error, TypeError)
    with pytest.raises(TypeError, match=r"step 'fetch' returned a coroutine .* `async def`"):
        raise error
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED  # never left unawaited


def test_a_loop_body_pausing_gives_suspended_and_is_not_retried() -> None:
    paused = Paused((), (), run_id="r", pending=())
    hooks = Hooks()

    def step(x: int) -> int:
        raise NestedPause(paused)

    outcome = attempt_of(step, StepOptions(retry=retry(3)), hooks=hooks)
    assert isinstance(outcome, Suspended)
    assert outcome.paused is paused
    assert hooks.log == [("started", STEP, 1)]


# -- retries ------------------------------------------------------------------------


def test_retries_up_to_attempts_then_fails_with_the_last_error() -> None:
    errors = [ValueError(str(n)) for n in range(3)]
    hooks = Hooks()

    def step(x: int) -> int:
        raise errors[len(hooks.errors)]

    outcome = failed(attempt_of(step, StepOptions(retry=retry(3)), hooks=hooks))
    assert (outcome.error, outcome.attempt) == (errors[2], 3)
    assert hooks.log == [
        ("started", STEP, 1),
        ("retrying", STEP, 1),
        ("started", STEP, 2),
        ("retrying", STEP, 2),
        ("started", STEP, 3),
    ]
    assert hooks.errors == errors[:2]


def test_a_retried_step_that_then_succeeds_is_done_with_its_attempt_number() -> None:
    calls = Calls(failures=2)
    outcome = done(attempt_of(calls.awaited, StepOptions(retry=retry(5)), awaited=True))
    assert (outcome.value, outcome.attempt, calls.n) == (2, 3, 3)


def test_an_error_that_is_not_an_instance_of_on_is_not_retried() -> None:
    calls = Calls(failures=5, error=ValueError("not a KeyError"))
    outcome = failed(attempt_of(calls, StepOptions(retry=retry(5, on=KeyError))))
    assert (outcome.error, outcome.attempt, calls.n) == (calls.error, 1, 1)


def test_a_failure_value_retries_only_when_it_is_an_instance_of_on() -> None:
    def quota(x: int) -> Failure[str]:
        return Failure("quota")

    assert failed(attempt_of(quota, StepOptions(retry=retry(3)))).attempt == 1
    assert failed(attempt_of(quota, StepOptions(retry=retry(3, on=str)))).attempt == 3


def test_the_wait_after_attempt_k_is_the_policy_s_delay_for_k() -> None:
    hooks = Hooks()
    calls = Calls(failures=9)
    policy = RetryPolicy.checked(5, 1.0, 2.0, 5.0, False, Exception)
    failed(attempt_of(calls, StepOptions(retry=policy), hooks=hooks))
    assert hooks.waits == [1.0, 2.0, 4.0, 5.0]
    assert hooks.started_at == [0.0, 1.0, 3.0, 7.0, 12.0]


def test_jitter_is_the_same_for_the_same_seed_and_path_and_differs_for_another() -> None:
    def waits(seed: int, path: str) -> list[float]:
        hooks = Hooks()
        options = StepOptions(retry=retry(6, jitter=True))
        failed(attempt_of(Calls(failures=9), options, hooks=hooks, path=path, seed=seed))
        return hooks.waits

    first = waits(1, "s")
    assert waits(1, "s") == first
    assert waits(2, "s") != first
    assert waits(1, "t") != first
    assert all(0.5 * min(10, 2**k) <= w <= min(10, 2**k) for k, w in enumerate(first))


def test_a_step_whose_region_gave_up_fails_without_another_attempt() -> None:
    hooks = Hooks(give_up=True)
    calls = Calls(failures=1)
    outcome = failed(attempt_of(calls, StepOptions(retry=retry(3)), hooks=hooks))
    assert (outcome.error, outcome.attempt) == (calls.error, 1)
    assert hooks.log == [("started", STEP, 1)]
    assert hooks.waits == []


def test_a_wait_answering_false_abandons_the_step() -> None:
    hooks = Hooks(go_on=False)
    calls = Calls(failures=1)
    outcome = attempt_of(calls, StepOptions(retry=retry(3)), hooks=hooks)
    assert isinstance(outcome, Abandoned)
    assert hooks.log == [("started", STEP, 1), ("retrying", STEP, 1)]
    assert calls.n == 1


# -- timeouts -----------------------------------------------------------------------


def test_a_timeout_fails_the_attempt_with_step_timeout_naming_step_and_seconds() -> None:
    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x

    hooks = Hooks()
    options = StepOptions(retry=retry(2, backoff=0.5), timeout=1.5)
    outcome = failed(attempt_of(slow, options, awaited=True, hooks=hooks, path="fetch"))
    error = outcome.error
    assert isinstance(error, StepTimeout)
    assert (error.step, error.seconds, outcome.attempt) == ("fetch", 1.5, 2)
    with pytest.raises(StepTimeout, match=r"^step 'fetch' timed out after 1\.5 s$"):
        raise error
    assert hooks.started_at == [0.0, 2.0]  # each attempt has its own deadline


def test_a_plain_function_under_a_timeout_runs_in_a_thread_the_timeout_abandons() -> None:
    release = threading.Event()
    threads: list[int] = []

    def hung(x: int) -> int:
        threads.append(threading.get_ident())
        release.wait()
        return x

    try:
        error = failed(attempt_of(hung, StepOptions(timeout=0.05), virtual=False)).error
    finally:
        release.set()
    assert isinstance(error, StepTimeout)
    assert threads != [threading.get_ident()]


async def too_slow_async(x: int) -> int:
    with trio.fail_after(0.5):
        await trio.sleep(1)
    return x


def too_slow_plain(x: int) -> int:
    raise trio.TooSlowError


@pytest.mark.parametrize("step", [too_slow_async, too_slow_plain])
def test_too_slow_error_raised_by_the_step_s_own_code_is_its_own_error(
    step: Callable[[int], Any],
) -> None:
    awaited = inspect.iscoroutinefunction(step)
    options = StepOptions(timeout=10.0)
    error = failed(attempt_of(step, options, awaited=awaited, virtual=awaited)).error
    assert type(error) is trio.TooSlowError


# -- breakers -----------------------------------------------------------------------


def test_a_breaker_hears_one_failure_per_failed_attempt() -> None:
    breaker = Breaker("b", failures=3, clock=Clock())
    failed(attempt_of(Calls(failures=9), StepOptions(retry=retry(2), breaker=breaker)))
    assert breaker.state == "closed"  # two failures
    failed(attempt_of(Calls(failures=9), StepOptions(breaker=breaker)))
    assert breaker.state == "open"  # the third


def test_a_success_resets_the_breaker_s_count_of_failures() -> None:
    breaker = Breaker("b", failures=2, clock=Clock())
    done(attempt_of(Calls(failures=1), StepOptions(retry=retry(2), breaker=breaker)))
    failed(attempt_of(Calls(failures=1), StepOptions(breaker=breaker)))
    assert breaker.state == "closed"


def test_an_open_breaker_fails_the_step_at_once_with_breaker_open_and_no_retry() -> None:
    clock = Clock()
    breaker = Breaker("b", failures=1, cooldown=10, clock=clock)
    breaker.failed()
    clock.now = 4.0
    calls = Calls()
    hooks = Hooks()
    options = StepOptions(retry=retry(5), breaker=breaker)
    outcome = failed(attempt_of(calls, options, hooks=hooks, path="fetch"))
    assert isinstance(outcome.error, BreakerOpen)
    assert (outcome.attempt, calls.n) == (1, 0)
    assert hooks.log == [("started", STEP, 1)]
    message = r"^circuit breaker 'b' is open: step 'fetch' was not called \(it half-opens in 6 s\)$"
    with pytest.raises(BreakerOpen, match=message):
        raise outcome.error


def test_a_half_open_trial_that_succeeds_closes_the_breaker() -> None:
    breaker = half_open(Clock())
    done(attempt_of(Calls(), StepOptions(breaker=breaker)))
    assert breaker.state == "closed"


def test_a_failed_half_open_trial_reopens_the_breaker_so_the_retry_is_refused() -> None:
    breaker = half_open(Clock())
    calls = Calls(failures=1)
    outcome = failed(attempt_of(calls, StepOptions(retry=retry(3), breaker=breaker)))
    assert isinstance(outcome.error, BreakerOpen)
    assert (outcome.attempt, calls.n) == (2, 1)
    assert breaker.state == "open"


def test_a_cancelled_half_open_trial_lets_the_next_call_be_the_trial() -> None:
    breaker = half_open(Clock())

    async def forever(x: int) -> int:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def main() -> None:
        with trio.move_on_after(1):
            await attempt(Hooks(), STEP, "s", forever, [1], True, StepOptions(breaker=breaker), 0)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert breaker.admit("s") is True  # not refused: the lost trial did not jam it


def test_a_half_open_trial_ended_by_a_base_exception_propagates_it_and_frees_the_trial() -> None:
    class Halt(BaseException):
        pass

    breaker = half_open(Clock())

    def step(x: int) -> int:
        raise Halt

    with pytest.raises(Halt):
        attempt_of(step, StepOptions(retry=retry(3), breaker=breaker))
    assert breaker.admit("s") is True


def test_a_pausing_half_open_trial_lets_the_next_call_be_the_trial() -> None:
    breaker = half_open(Clock())

    def step(x: int) -> int:
        raise NestedPause(Paused((), (), run_id="r", pending=()))

    assert isinstance(attempt_of(step, StepOptions(breaker=breaker)), Suspended)
    assert breaker.admit("s") is True


def refused_by_another_breaker(x: int) -> int:
    """A step whose own code calls through a breaker of its own, which is open."""
    raise BreakerOpen("inner", "inner call", 1.0)


def test_a_half_open_trial_whose_code_raises_breaker_open_does_not_jam_the_breaker() -> None:
    clock = Clock()
    breaker = half_open(clock)
    failed(attempt_of(refused_by_another_breaker, StepOptions(breaker=breaker)))
    clock.now += breaker.cooldown
    done(attempt_of(Calls(), StepOptions(breaker=breaker)))


# -- call_inline: one attempt of a plain function, on the trio thread ---------------


def test_call_inline_unwraps_outputs_like_attempt() -> None:
    error = KeyError("missing")
    outcome = call_inline(lambda x: Success(x + 1), [1], "s", None)
    assert isinstance(outcome, Done)
    assert (outcome.value, outcome.attempt) == (2, 1)
    outcome = call_inline(lambda x: Failure(error), [1], "s", None)
    assert isinstance(outcome, Failed)
    assert (outcome.error, outcome.attempt) == (error, 1)
    outcome = call_inline(Calls(failures=1, error=error), [1], "s", None)
    assert isinstance(outcome, Failed)
    assert outcome.error is error


def test_call_inline_of_a_function_returning_a_coroutine_fails_naming_the_step() -> None:
    outcome = call_inline(lambda x: trio.sleep(x), [1], "fetch", None)
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.error, TypeError)
    assert "step 'fetch' returned a coroutine" in str(outcome.error)


def test_call_inline_through_a_breaker_gives_it_one_verdict_per_call() -> None:
    breaker = Breaker("b", failures=2, clock=Clock())
    assert isinstance(call_inline(Calls(failures=1), [1], "s", breaker), Failed)
    assert breaker.state == "closed"
    assert isinstance(call_inline(Calls(failures=1), [1], "s", breaker), Failed)
    assert breaker.state == "open"
    calls = Calls()
    outcome = call_inline(calls, [1], "s", breaker)
    assert isinstance(outcome, Failed)
    assert isinstance(outcome.error, BreakerOpen)
    assert calls.n == 0


def test_call_inline_half_open_trial_closes_or_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = half_open(clock)
    assert isinstance(call_inline(Calls(failures=1), [1], "s", breaker), Failed)
    assert breaker.state == "open"
    clock.now += breaker.cooldown
    outcome = call_inline(Calls(), [1], "s", breaker)
    assert isinstance(outcome, Done), f"not done: {getattr(outcome, 'error', outcome)!r}"
    assert breaker.state == "closed"


def test_call_inline_half_open_trial_whose_code_raises_breaker_open_does_not_jam_it() -> None:
    clock = Clock()
    breaker = half_open(clock)
    assert isinstance(call_inline(refused_by_another_breaker, [1], "s", breaker), Failed)
    clock.now += breaker.cooldown
    outcome = call_inline(Calls(), [1], "s", breaker)
    assert isinstance(outcome, Done), f"not done: {getattr(outcome, 'error', outcome)!r}"


def first_failed(
    call: Callable[..., Any], options: StepOptions, first: Failed, hooks: Hooks
) -> Outcome:
    """``attempt`` going on after a first attempt that the caller made and that failed."""

    async def main() -> Outcome:
        return await attempt(hooks, STEP, "s", call, [1], False, options, 0, first)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_attempts_go_on_after_a_first_attempt_the_caller_made() -> None:
    hooks, calls = Hooks(), Calls()
    first = Failed(ValueError("first"), 1)
    outcome = done(first_failed(calls, StepOptions(retry=retry(3)), first, hooks))
    assert (outcome.value, outcome.attempt, calls.n) == (2, 2, 1)
    assert hooks.log == [("retrying", STEP, 1), ("started", STEP, 2)]
    assert hooks.waits == [1.0]  # the wait after attempt 1, as if attempt had made it


def test_a_first_attempt_whose_error_does_not_retry_is_the_outcome_and_nothing_is_called() -> None:
    hooks, calls = Hooks(), Calls()
    first = Failed(KeyError("no"), 1)
    options = StepOptions(retry=retry(3, on=ValueError))
    outcome = failed(first_failed(calls, options, first, hooks))
    assert (outcome.error, outcome.attempt, calls.n) == (first.error, 1, 0)
    assert hooks.log == []
