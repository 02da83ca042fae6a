"""What a failed run returns: `RunFailure` and one `StepFailure` per failed step."""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs

E = TypeVar("E", covariant=True)


def _machinery() -> tuple[str, ...]:
    """Directories of the code that runs steps (dagfn, trio, outcome): not where they raised."""
    dirs = [os.path.dirname(__file__) + os.sep]
    for name in ("trio", "outcome"):
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None)
        if where:
            dirs.append(os.path.dirname(where) + os.sep)
    return tuple(dirs)


def _user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    machinery = _machinery()
    return [f for f in traceback.extract_tb(tb) if not f.filename.startswith(machinery)]


def raised_at(error: object) -> str | None:
    """Where an exception was raised, as ``file:line in function``, outside dagfn and trio.

    None for an error that was returned (a ``Failure`` value) or has lost its
    traceback (it crossed a process, or came back from a journal).
    """
    frames = _user_frames(getattr(error, "__traceback__", None))
    if not frames:
        return None
    last = frames[-1]
    where = f"{last.filename}:{last.lineno} in {last.name}"
    libraries = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"])
    own = [f for f in frames if not f.filename.startswith(libraries)]
    if own and own[-1] is not last:  # the step's own line that called into a library
        mine = own[-1]
        return f"{mine.filename}:{mine.lineno} in {mine.name}, via {where}"
    return where


def format_traceback(error: object) -> str:
    """The traceback of a step's exception, without dagfn's and trio's frames; or its repr."""
    if not isinstance(error, BaseException):
        return f"{error!r} (returned as a Failure value: no traceback)\n"
    frames = _user_frames(error.__traceback__)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(error), error)
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None:
        how = "direct cause" if error.__cause__ is not None else "exception being handled"
        lines = [
            format_traceback(cause),
            f"\nThe above exception was the {how} of the following exception:\n\n",
            *lines,
        ]
    return "".join(lines)


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
        where = raised_at(first.error)
        at = f" (raised at {where})" if where else ""
        return (
            f"step {first.step!r} failed: {first.error!r}{at}{more}; "
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
