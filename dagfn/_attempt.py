"""One step's careful call: attempts under retries, a timeout and a breaker, as one outcome.

`attempt` runs a step until it has an outcome and returns it as a value:
`Done` (its output), `Failed` (the error of its last attempt), `Suspended` (a
loop body paused at an interrupt) or `Abandoned` (its recover region failed
while it waited to retry). It never raises for a failure of the step; only
cancellation (and BaseExceptions that are not failures) propagate. What the
outcome means for the run is the interpreter's business, so this module can be
tested with a `Hooks` of a few lines and no run at all.

Invariants:
- a step function's output is unwrapped exactly once (`unwrap`): a
  ``Success`` gives its value; a ``Failure`` (or a coroutine a plain function
  returned by mistake) is the attempt's error;
- a breaker hears one verdict per call it let through: ``succeeded`` or
  ``failed``, or ``abandoned`` when a half-open trial is cancelled or pauses,
  so a lost trial never jams it; a call it refused (`BreakerOpen`) is no
  verdict and is never retried;
- a timeout is the step's own deadline: ``trio.TooSlowError`` raised by the
  step's code is its error, not a `StepTimeout`; a plain function under a
  timeout runs in a thread the timeout abandons.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from types import CoroutineType
from typing import Any, Final, Protocol

import trio
from returns.result import Failure, Success

from dagfn._errors import DagfnError
from dagfn._failures import Paused
from dagfn._outcome import NestedPause
from dagfn._policy import Breaker, BreakerOpen, RetryPolicy, StepExecutor, StepOptions


class StepTimeout(DagfnError, TimeoutError):
    """A step attempt took longer than its ``.timeout(seconds)``."""

    def __init__(self, step: str, seconds: float) -> None:
        super().__init__(f"step {step!r} timed out after {seconds:g} s")
        self.step = step
        self.seconds = seconds


class Done:
    """The step produced ``value`` on attempt number ``attempt``."""

    __slots__ = ("attempt", "value")

    def __init__(self, value: Any, attempt: int) -> None:
        self.value = value
        self.attempt = attempt


class Failed:
    """The step failed with ``error`` on its last attempt, number ``attempt``."""

    __slots__ = ("attempt", "error")

    def __init__(self, error: object, attempt: int) -> None:
        self.error = error
        self.attempt = attempt


class Suspended:
    """A loop step's body paused at interrupts (``paused.pending``): the run pauses too."""

    __slots__ = ("paused",)

    def __init__(self, paused: Paused) -> None:
        self.paused = paused


class Abandoned:
    """The step's recover region failed while it waited to retry: it makes no more attempts."""

    __slots__ = ()


ABANDONED: Final = Abandoned()

Outcome = Done | Failed | Suspended | Abandoned


class Hooks(Protocol):
    """What `attempt` tells the run and asks of it, for step number ``i``.

    ``started`` and ``retrying`` are called only while ``listening`` is true.
    """

    listening: bool

    def started(self, i: int, attempt: int) -> None:
        """Attempt number ``attempt`` starts now."""

    def retrying(self, i: int, attempt: int, error: object) -> None:
        """Attempt number ``attempt`` failed with ``error``; another one follows."""

    def given_up(self, i: int) -> bool:
        """True if the step must not try again (its recover region failed)."""
        ...

    async def wait(self, i: int, seconds: float) -> bool:
        """Sleep ``seconds`` before the next attempt; False to make no more."""
        ...


def failure_value(path: str, out: Any) -> object:
    """The error of a step that returned a ``Failure`` or, by mistake, a coroutine."""
    if out.__class__ is Failure:
        return out.failure()
    out.close()
    msg = (
        f"step {path!r} returned a coroutine from a function dagfn took for a "
        "plain one; define it with `async def` (or give it an async __call__)"
    )
    return TypeError(msg)


class _Failed(Exception):
    """Carries a step's failure value out of the call."""

    def __init__(self, error: object) -> None:
        self.error = error


class _TimedOut(Exception):
    """A step's own deadline passed (``trio.TooSlowError`` from its code is its own error)."""


WRAPPED: Final[frozenset[type]] = frozenset(
    (Success, Failure, CoroutineType)
)  # outputs `unwrap` changes


def unwrap(out: Any, path: str) -> Any:
    """A step function's output: a ``Success``'s value; raises `_Failed` for a failure."""
    cls = out.__class__
    if cls is Success:
        return out.unwrap()
    if cls is Failure or cls is CoroutineType:
        raise _Failed(failure_value(path, out))
    return out


def judged(out: Any, path: str) -> Done | Failed:
    """The outcome of a step's single attempt that returned ``out``."""
    if out.__class__ in WRAPPED:
        try:
            return Done(unwrap(out, path), 1)
        except _Failed as failed:
            return Failed(failed.error, 1)
    return Done(out, 1)


def call_inline(
    fn: Callable[..., Any], args: list[Any], path: str, breaker: Breaker | None
) -> Done | Failed:
    """One attempt of a plain function right here, on the trio thread (no retry, no timeout)."""
    probe = False  # this call is the half-open breaker's trial
    if breaker is not None:
        try:
            probe = breaker.admit(path)
        except BreakerOpen as refused:  # a refusal: no verdict
            return Failed(refused, 1)
    try:
        outcome = judged(fn(*args), path)
    except Exception as raised:
        outcome = Failed(raised, 1)
    if breaker is not None:
        if isinstance(outcome, Done):
            breaker.succeeded(trial=probe)
        else:
            breaker.failed(trial=probe)
    return outcome


async def attempt(
    hooks: Hooks,
    i: int,
    path: str,
    call: Callable[..., Any],
    args: list[Any],
    awaited: bool,
    options: StepOptions,
    seed: int | None,
    first: Failed | None = None,
) -> Outcome:
    """Step ``i``'s attempts until it has an outcome; ``call(*args)`` is one attempt.

    ``awaited``: ``call`` returns an awaitable (an async step, a loop, a remote
    executor); otherwise it is a plain function, called inline or, under a
    timeout, in an abandonable thread. ``seed`` and ``path`` seed the jitter.
    ``first``: the caller made the first attempt itself and it failed so;
    the attempts go on from there.
    """
    retry, breaker, timeout = options.retry, options.breaker, options.timeout
    jitter = _Jitter(seed, path) if retry is not None else None
    n = 0
    if first is not None:
        n = first.attempt
        stop = await _after_failure(hooks, i, retry, n, first.error, jitter)
        if stop is not None:
            return stop
    while True:
        n += 1
        if hooks.listening:
            hooks.started(i, n)
        probe = False  # this attempt is a half-open breaker's trial call
        if breaker is not None:
            try:
                probe = breaker.admit(path)
            except BreakerOpen as refused:  # a refusal: no verdict, never retried
                return Failed(refused, n)
        try:
            if timeout is None:
                out = await call(*args) if awaited else call(*args)
            elif awaited:  # fail_after without its generator, only ours
                with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
                    out = await call(*args)
                if scope.cancelled_caught:
                    raise _TimedOut
            else:
                out = await _in_thread(call, args, timeout)
            if out.__class__ in WRAPPED:
                out = unwrap(out, path)
        except NestedPause as nested:
            if probe and breaker is not None:
                breaker.abandoned()  # no verdict yet: let another call probe
            return Suspended(nested.paused)
        except Exception as raised:
            error = _error_of(raised, path, timeout)
            if breaker is not None:
                breaker.failed(trial=probe)
        except BaseException:  # cancelled: a lost trial must not jam the breaker
            if probe and breaker is not None:
                breaker.abandoned()
            raise
        else:
            if breaker is not None:
                breaker.succeeded(trial=probe)
            return Done(out, n)
        stop = await _after_failure(hooks, i, retry, n, error, jitter)
        if stop is not None:
            return stop


async def _after_failure(
    hooks: Hooks,
    i: int,
    retry: RetryPolicy | None,
    n: int,
    error: object,
    jitter: _Jitter | None,
) -> Failed | Abandoned | None:
    """Attempt ``n`` failed with ``error``: the outcome, or None after the wait to retry."""
    if retry is None or n >= retry.attempts or not retry.retries(error) or hooks.given_up(i):
        return Failed(error, n)
    if hooks.listening:
        hooks.retrying(i, n, error)
    assert jitter is not None  # made whenever there is a retry policy
    return None if await hooks.wait(i, retry.delay(n, jitter.rng())) else ABANDONED


class _Jitter:
    """A step's own random generator for retry jitter, seeded by its key when first needed."""

    __slots__ = ("_rng", "path", "seed")

    def __init__(self, seed: int | None, path: str) -> None:
        # The run's seed and the step's path: the same waits whatever order steps run in.
        self.seed = seed
        self.path = path
        self._rng: random.Random | None = None

    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(f"{self.seed}/{self.path}")
        return self._rng


def _error_of(raised: Exception, path: str, timeout: float | None) -> object:
    if isinstance(raised, _TimedOut):
        return StepTimeout(path, timeout or 0.0)
    if isinstance(raised, _Failed):
        return raised.error
    return raised


async def _in_thread(call: Callable[..., Any], args: list[Any], timeout: float) -> Any:
    """A plain function under a timeout: in a thread the timeout abandons."""
    # The wait for a thread is not the step's time: take one first.
    async with trio.to_thread.current_default_thread_limiter():
        with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
            out = await _abandonable(call, args)
    if scope.cancelled_caught:
        raise _TimedOut
    return out


_ABANDONABLE: Final = trio.lowlevel.RunVar[trio.CapacityLimiter]("dagfn_abandonable_threads")


async def _abandonable(fn: Callable[..., Any], args: list[Any]) -> Any:
    """Call ``fn`` in a thread that a timeout abandons (it runs on until it returns).

    The thread holds a token of an unbounded limiter, not of trio's default one
    (the caller holds that for the step and gives it back on timeout), so hung
    steps never starve later steps, or the journal, of threads.
    """
    try:
        limiter = _ABANDONABLE.get()
    except LookupError:
        limiter = trio.CapacityLimiter(math.inf)
        _ABANDONABLE.set(limiter)

    def call() -> tuple[Any]:
        # Boxed: a coroutine returned by mistake reaches `unwrap` (which names the
        # step) instead of trio's own TypeError for a thread that returned one.
        return (fn(*args),)

    (out,) = await trio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=limiter)
    return out


def remote(executor: StepExecutor, fn: Callable[..., Any], path: str) -> Callable[..., Any]:
    """``fn`` as a call that runs it on ``executor`` (an awaited call for `attempt`)."""

    def submit(*args: Any) -> Any:
        return executor.submit(fn, args, step=path)

    return submit


def runs_inline(executor: StepExecutor | None) -> bool:
    """Does ``executor`` call functions right here (None, or one that says it does)?"""
    return executor is None or getattr(executor, "runs_inline", False) is True
