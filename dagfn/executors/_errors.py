"""Errors of the executor layer: problems of *where* a step runs, not of the step.

The interpreter treats every `ExecutorError` raised by `Executor.submit` like any
other step failure, so a retry policy can handle a lost worker. The subclasses
let a policy tell the kinds apart (``retry(on=(WorkerLostError,))``): retrying a
`ShippingError` is pointless, the same payload will not pickle the second time.
"""

from __future__ import annotations

from dagfn._errors import DagfnError


class ExecutorError(DagfnError, RuntimeError):
    """An executor could not run a step's function; the message names the step.

    ``step`` is the step's path, or None for a problem while opening or closing
    the executor itself (no step was involved).
    """

    def __init__(self, message: str, *, step: str | None) -> None:
        super().__init__(message)
        self.step = step


class ShippingError(ExecutorError):
    """A function, argument, result or exception could not be pickled or unpickled.

    ``what`` says which, e.g. ``"argument 0 (a _thread.lock)"``.
    """

    def __init__(self, message: str, *, step: str | None, what: str) -> None:
        super().__init__(message, step=step)
        self.what = what


class WorkerLostError(ExecutorError):
    """The worker process running the step died (killed, crashed, ``os._exit``)."""


class ExecutorUnavailableError(ExecutorError):
    """The executor is not open, or its cluster cannot be reached."""
