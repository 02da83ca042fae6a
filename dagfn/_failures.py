"""What a failed run returns: `RunFailure` and one `StepFailure` per failed step."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

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
