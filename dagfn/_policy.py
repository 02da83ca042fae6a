"""Step policies as immutable values: retries, timeouts, circuit breakers, resources, limits.

These are data attached to expressions; the interpreter reads them. Every
argument is checked here, when the graph is built, with the argument named.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, Protocol, Self, runtime_checkable

import attrs

from dagfn._checks import in_range, non_negative, positive, positive_int
from dagfn._errors import DagfnError, expected


@attrs.frozen
class RetryPolicy:
    """Up to ``attempts`` attempts; the wait before attempt ``k + 1`` is
    ``min(max_backoff, backoff * factor ** (k - 1))``, times a random factor in
    ``[0.5, 1]`` with ``jitter``. Only errors that are instances of ``on`` retry.
    """

    attempts: int
    backoff: float = 0.1
    factor: float = 2.0
    max_backoff: float = 10.0
    jitter: bool = True
    on: tuple[type, ...] = (Exception,)

    @classmethod
    def checked(
        cls,
        attempts: object,
        backoff: object,
        factor: object,
        max_backoff: object,
        jitter: object,
        on: object,
    ) -> RetryPolicy:
        """Build a policy, raising `InvalidArgument` naming the first bad argument."""
        n = positive_int("attempts", attempts)
        b = non_negative("backoff", backoff)
        f = in_range("factor", factor, 1, what="a number >= 1")
        m = non_negative("max_backoff", max_backoff)
        if not isinstance(jitter, bool):
            raise expected("a bool", "jitter", jitter)
        types = on if isinstance(on, tuple) else (on,)
        if not types or not all(isinstance(t, type) for t in types):
            raise expected("a type or a non-empty tuple of types", "on", on)
        return cls(n, b, f, m, jitter, types)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        try:
            grown = self.backoff * self.factor ** (attempt - 1)
        except OverflowError:  # thousands of attempts: the cap (or infinity) it is
            grown = math.inf
        base = min(self.max_backoff, grown)
        if self.jitter:
            base *= 0.5 + 0.5 * rng.random()
        return base

    def retries(self, error: object) -> bool:
        """Whether ``error`` (an exception or a failure value) is worth another attempt.

        Never a `BreakerOpen`: an open breaker fails the step at once.
        """
        return isinstance(error, self.on) and not isinstance(error, BreakerOpen)


class BreakerOpen(DagfnError, RuntimeError):
    """A step was refused at once because its circuit breaker is open."""

    def __init__(self, breaker: str, step: str, retry_in: float) -> None:
        super().__init__(
            f"circuit breaker {breaker!r} is open: step {step!r} was not called "
            f"(it half-opens in {retry_in:.3g} s)"
        )
        self.breaker = breaker
        self.step = step
        self.retry_in = retry_in


CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half-open"


class Breaker:
    """A circuit breaker whose state is shared by every run of the graphs that hold it.

    It opens after ``failures`` consecutive failed calls; while open, calls fail
    at once with `BreakerOpen`; after ``cooldown`` seconds it half-opens and lets
    one call through: success closes it, failure opens it again. ``clock`` is
    the time source (``time.monotonic`` by default; inject one in tests).
    """

    __slots__ = ("_clock", "_failures", "_opened_at", "_probing", "cooldown", "name", "threshold")

    def __init__(
        self,
        name: str,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise expected("a non-empty str (the name errors show)", "name", name)
        self.name = name
        self.threshold = positive_int("failures", failures)
        self.cooldown = non_negative("cooldown", cooldown)
        if not callable(clock):
            raise expected("a callable returning seconds", "clock", clock)
        self._clock = clock
        self._failures = 0  # consecutive failures while closed
        self._opened_at: float | None = None  # None while closed
        self._probing = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return HALF_OPEN
        return OPEN

    def admit(self, step: str) -> bool:
        """Let a call through (True if it is the half-open trial call), or raise `BreakerOpen`."""
        state = self.state
        if state == CLOSED:
            return False
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        assert self._opened_at is not None
        retry_in = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        raise BreakerOpen(self.name, step, retry_in)

    def succeeded(self, *, trial: bool = False) -> None:
        """Record a successful call (``trial``: the half-open one): the breaker closes.

        A call let through while closed that ends after the breaker opened has
        no say: the half-open trial decides.
        """
        if not trial and self._opened_at is not None:
            return
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self, *, trial: bool = False) -> None:
        """Record a failed call: open after ``failures`` in a row, or at once when half-open.

        A call let through while closed that ends after the breaker opened
        changes nothing (it must not end another call's trial).
        """
        if not trial and self._opened_at is not None:
            return
        if trial:
            self._probing = False
            self._opened_at = self._clock()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._opened_at = self._clock()

    def abandoned(self) -> None:
        """The trial call was cancelled before it ended: let the next call try instead.

        Without this a cancelled trial would leave the breaker refusing every call.
        """
        self._probing = False

    def __repr__(self) -> str:
        return f"<Breaker {self.name!r} {self.state}>"


@runtime_checkable
class StepExecutor(Protocol):
    """Where a step's (sync) function runs; the trio interpreter keeps everything else.

    Public as `dagfn.executors.Executor`; defined here so that policies can name it.

    ``await ex.submit(fn, args, step=path)`` runs ``fn(*args)`` and returns its
    result. If ``fn`` raises, the same exception type (with its message) is
    raised in the caller. Problems of the executor itself (something that
    cannot be pickled, a worker that died, a cluster that cannot be reached)
    raise `ExecutorError`, whose message names the step. Cancelling the task
    awaiting ``submit`` cancels the remote work as far as the executor can
    (see each class).

    An executor is an async context manager that owns its resources (worker
    processes, a Dask client and cluster). Entering is reentrant: the first
    ``async with`` opens it, nested ones share it, the last exit closes it; so
    the interpreter may always ``async with executor:``, whether or not the
    caller opened it already, and ``opened`` says which. A closed executor can
    be opened again. Open it inside the trio run that uses it.

    An executor whose ``submit`` calls the function right here on the trio
    thread says so with a class attribute ``runs_inline = True`` (`Inline`);
    the interpreter then calls plain functions directly instead.
    """

    @property
    def opened(self) -> bool:
        """True between the first ``__aenter__`` and the matching last ``__aexit__``."""
        ...

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` where this executor runs things; return or raise its outcome."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check_executor(value: object, name: str = "executor", *, optional: bool = False) -> None:
    """Raise `InvalidArgument` unless ``value`` is an `Executor` (or None when ``optional``)."""
    if value is None and optional:
        return
    if not all(callable(getattr(value, m, None)) for m in ("submit", "__aenter__", "__aexit__")):
        what = "a dagfn.executors.Executor" + (" or None" if optional else "")
        raise expected(what, name, value)


@attrs.frozen
class StepOptions:
    """Policies of one step; ``None`` (or empty) means "not set", so inner settings win."""

    retry: RetryPolicy | None = None
    timeout: float | None = None
    breaker: Breaker | None = None
    resources: tuple[tuple[str, float], ...] = ()
    executor: StepExecutor | None = None  # where the step's plain function runs (None: the run's)

    def under(self, outer: StepOptions | None) -> StepOptions:
        """These options, with every unset one taken from ``outer``."""
        if outer is None:
            return self
        return StepOptions(
            retry=self.retry if self.retry is not None else outer.retry,
            timeout=self.timeout if self.timeout is not None else outer.timeout,
            breaker=self.breaker if self.breaker is not None else outer.breaker,
            resources=_merge_resources(outer.resources, self.resources),
            executor=self.executor if self.executor is not None else outer.executor,
        )

    @property
    def needs_task(self) -> bool:
        """Retries (waiting), timeouts (a cancel scope) or resources (a budget): not inline."""
        return (
            self.retry is not None
            or self.timeout is not None
            or bool(self.resources)
            or self.executor is not None
        )

    @property
    def plain_call(self) -> bool:
        """No timeout and no breaker around the step's call (retries may follow it)."""
        return self.timeout is None and self.breaker is None

    @property
    def empty(self) -> bool:
        """No policy at all: the step can take the interpreter's fast path."""
        return self == NO_OPTIONS


def _merge_resources(
    outer: tuple[tuple[str, float], ...], inner: tuple[tuple[str, float], ...]
) -> tuple[tuple[str, float], ...]:
    merged = dict(outer)
    merged.update(inner)
    return tuple(merged.items())


NO_OPTIONS: Final = StepOptions()


def check_resource(resource: object, cost: object) -> tuple[str, float]:
    """Validate ``.on(resource, cost)``."""
    if not isinstance(resource, str) or not resource:
        raise expected("a non-empty resource name", "resource", resource)
    return resource, positive("cost", cost)


def check_timeout(seconds: object, name: str = "seconds") -> float:
    """Validate ``.timeout(seconds)`` (or ``node(timeout=)``: pass ``name``)."""
    return positive(name, seconds)


@attrs.frozen(init=False)
class Rate:
    """At most ``count`` units per ``per`` seconds, as a token bucket (``Limits(rates=...)``).

    The bucket holds up to ``count`` units and refills continuously at
    ``count / per`` units a second; it starts *empty* when a run starts, so
    from a run's start to any time ``t`` (trio's clock) the steps drawing on
    it are admitted at most ``count * t / per`` units, and in any window of
    ``per`` seconds at most ``count`` more than the bucket held when the
    window began (so never more than ``2 * count``). Raises `InvalidArgument`
    for a count or period that is not a positive finite number.
    """

    count: float
    per: float

    def __init__(self, count: float, per: float) -> None:
        self.__attrs_init__(positive("count", count), positive("per", per, what="positive seconds"))

    @property
    def per_second(self) -> float:
        """Units the bucket gains per second."""
        return self.count / self.per


@attrs.frozen(init=False)
class Limits:
    """Run-wide limits: at most ``concurrency`` steps running (None: no limit),
    named budgets (``resources={"llm": 4, "tokens": 20_000}``) that steps declared
    with ``.on(name, cost)`` draw from while they run, and named rates
    (``rates={"tokens": Rate(90_000, per=60.0)}``) that such steps draw ``cost``
    from, for good, when they start. A name may have a budget and a rate.

    Plain functions without a resource run inline and take no concurrency slot.
    """

    concurrency: int | None
    resources: Mapping[str, float]
    rates: Mapping[str, Rate]

    def __init__(
        self,
        concurrency: int | None = None,
        resources: Mapping[str, float] | None = None,
        rates: Mapping[str, Rate] | None = None,
    ) -> None:
        if concurrency is not None:
            positive_int("concurrency", concurrency)
        checked: dict[str, float] = {}
        if resources is not None:
            if not isinstance(resources, Mapping):
                raise expected("a mapping of resource name to capacity", "resources", resources)
            for name, capacity in resources.items():
                if not isinstance(name, str) or not name:
                    raise expected("a non-empty resource name", "resources key", name)
                checked[name] = positive(f"resources[{name!r}]", capacity)
        buckets: dict[str, Rate] = {}
        if rates is not None:
            if not isinstance(rates, Mapping):
                raise expected("a mapping of resource name to Rate", "rates", rates)
            for name, rate in rates.items():
                if not isinstance(name, str) or not name:
                    raise expected("a non-empty resource name", "rates key", name)
                if not isinstance(rate, Rate):
                    raise expected("a dagfn.Rate(count, per=seconds)", f"rates[{name!r}]", rate)
                buckets[name] = rate
        self.__attrs_init__(concurrency, checked, buckets)
