"""What a failed run returns: `RunFailure` and one `StepFailure` per failed step."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs
from returns.result import Failure, Result

E = TypeVar("E", covariant=True)


@attrs.frozen
class StepFailure(Generic[E]):
    """One failed step: its path, its error, and the dependents that therefore did not run.

    ``error`` is the ``Failure`` value the step returned (an ``E``), or the
    exception it raised.
    """

    step: str
    error: E | Exception
    not_run: tuple[str, ...]


@attrs.frozen
class RunFailure(Generic[E]):
    """A run that did not produce its output, returned as ``Failure(RunFailure(...))``.

    ``failures`` lists every failed step in the order they failed; ``completed``
    the paths of the steps that finished (independent branches keep running
    after a failure unless ``fail_fast``); ``cancelled`` the steps that were
    running when ``fail_fast`` cancelled them.
    """

    failures: tuple[StepFailure[E], ...]
    completed: tuple[str, ...]
    cancelled: tuple[str, ...] = ()

    @property
    def step(self) -> str:
        """The path of the first failed step."""
        return self.failures[0].step

    @property
    def error(self) -> E | Exception:
        """The error of the first failed step."""
        return self.failures[0].error

    @property
    def not_run(self) -> tuple[str, ...]:
        """The dependents of the first failed step that did not run."""
        return self.failures[0].not_run

    def __str__(self) -> str:
        first = self.failures[0]
        more = (
            f" (and {len(self.failures) - 1} more failed steps)" if len(self.failures) > 1 else ""
        )
        return (
            f"step {first.step!r} failed: {first.error!r}{more}; "
            f"{len(first.not_run)} dependents did not run, {len(self.completed)} steps completed"
        )


@attrs.frozen
class PendingAnswer:
    """An interrupt waiting for a human: its step path and the prompt it showed."""

    step: str
    prompt: object


@attrs.frozen
class Paused(RunFailure[Any]):
    """A run stopped at one or more interrupts, after everything else that could run.

    With a ``store``, its journal is durable: answer with ``resume(graph,
    run_id, store=..., answer=...)``, in this process or another. A run
    without a store reports where it paused but cannot be answered. ``.step`` and ``.prompt`` are
    those of the first pending interrupt; ``.pending`` lists them all.
    """

    run_id: str = attrs.field(kw_only=True)
    pending: tuple[PendingAnswer, ...] = attrs.field(kw_only=True)

    @property
    def step(self) -> str:
        """The path of the first interrupt waiting for an answer."""
        return self.pending[0].step

    @property
    def prompt(self) -> object:
        """The prompt of the first interrupt waiting for an answer."""
        return self.pending[0].prompt

    @property
    def error(self) -> Exception:
        """Not an error: a description of the pause, for code that treats it as one."""
        return RuntimeError(f"run {self.run_id!r} is paused at {self.step!r}")

    @property
    def not_run(self) -> tuple[str, ...]:
        """Nothing failed; the steps after the interrupts wait (see ``pending``)."""
        return ()

    def __str__(self) -> str:
        steps = ", ".join(repr(p.step) for p in self.pending)
        return f"run {self.run_id!r} is paused, waiting for an answer at {steps}"


F = TypeVar("F")


def failure_of(result: Result[object, RunFailure[F]], /) -> RunFailure[F] | None:
    """The typed `RunFailure` of a run's result, or None when the run succeeded.

    The idiom for reading a failure: ``isinstance(result, Failure)`` leaves
    ``result.failure()`` typed ``Any`` (``returns`` declares ``Failure`` as a
    ``Result[Any, E]``), while this keeps the graph's error type ``E``, so
    ``failure.error`` is ``E | Exception`` to the type checker. A `Paused` run
    is a `RunFailure` too: test it with ``isinstance(failure, Paused)``.

    >>> from returns.result import Success
    >>> failure_of(Success(3)) is None
    True
    """
    if isinstance(result, Failure):
        failure: RunFailure[F] = result.failure()
        return failure
    return None
