"""Errors raised by the journal stores.

Every class subclasses `dagfn.DagfnError` and the builtin it refines, and keeps
its data in typed attributes.
"""

from __future__ import annotations

from dagfn._errors import DagfnError


class StoreError(DagfnError):
    """Base class of the errors raised by a store."""


class UnknownRunError(StoreError, LookupError):
    """A run id names no run in the store."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id

    @classmethod
    def for_run(cls, run_id: str, *, detail: str = "") -> UnknownRunError:
        """Build the one message shape: the run id, then what to do."""
        message = f"No run with run id {run_id!r} in the store{detail}"
        return cls(message, run_id=run_id)


class RunExistsError(StoreError, ValueError):
    """A run that must be new already exists."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class StoreClosedError(StoreError, RuntimeError):
    """The store was used after `close()`."""


class StoreWriteError(StoreError, RuntimeError):
    """The writer thread failed to commit; the store accepts no more writes.

    The original error is the ``__cause__``. Rows recorded after the last
    successful `flush()` may be lost.
    """


class SchemaVersionError(StoreError, RuntimeError):
    """The database was written by a different, incompatible schema version."""

    def __init__(self, message: str, *, found: int, supported: int) -> None:
        super().__init__(message)
        self.found = found
        self.supported = supported
