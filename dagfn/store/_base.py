"""What every store does the same way: argument checks and `copy_run`."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence, Set
from types import TracebackType
from typing import Any, Self

from dagfn._checks import positive
from dagfn._errors import expected
from dagfn._lease import Claim, Lease
from dagfn._storage import (
    Entry,
    RunInfo,
    RunStatus,
    check_durations,
    check_run_id,
    check_run_status,
    check_text,
    stored_entry_status,
    stored_run_status,
)

from ._errors import UnknownRunError
from ._ops import (
    AddDurations,
    Answer,
    CopyRun,
    DeleteRun,
    FinishRun,
    Op,
    OpenRun,
    Release,
    Renew,
    ResetRun,
    TakeRun,
)
from ._writer import GroupWriter


class StoreBase(abc.ABC):
    """Implements the `Store` protocol on a few primitives of a backend.

    Subclasses provide `record`, `flush`, `close`, `_call` (commit one op and
    return its result) and the reads, which see everything submitted before
    them because subclasses wait for the writer first (`_barrier`).
    """

    # -- primitives ----------------------------------------------------------

    @abc.abstractmethod
    def record(self, run_id: str, entry: Entry, token: int | None = None) -> None:
        """Enqueue `entry` for run `run_id`; see `Store.record`."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Block until recorded rows are committed; see `Store.flush`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything; see `Store.close`."""

    @abc.abstractmethod
    def _call(self, op: Op) -> object:
        """Commit `op` after everything submitted before it; return or raise its result."""

    @abc.abstractmethod
    def _barrier(self) -> None:
        """Wait until everything submitted before the call is committed."""

    @abc.abstractmethod
    def _read_run(self, run_id: str) -> RunInfo | None:
        """Read one committed run."""

    @abc.abstractmethod
    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        """Read one committed run's entries (None if the run does not exist)."""

    @abc.abstractmethod
    def _read_runs(self) -> list[RunInfo]:
        """Read every committed run, newest first (ties: larger run id first)."""

    @abc.abstractmethod
    def _enqueue(self, op: Op) -> None:
        """Submit ``op`` like a record: committed with the next group, without waiting."""

    @abc.abstractmethod
    def _read_durations(self, fingerprint: str) -> dict[str, float]:
        """Read one plan's committed duration summary: seconds per step path."""

    @abc.abstractmethod
    def _read_lease(self, run_id: str) -> Lease | None:
        """Read one run's committed lease row."""

    # -- the protocol --------------------------------------------------------

    def open_run(self, run_id: str, *, fingerprint: str, meta_json: str) -> RunInfo:
        """Create the run if it is new and return its `RunInfo`; see `Store.open_run`."""
        check_run_id(run_id)
        check_text(fingerprint, "fingerprint")
        check_text(meta_json, "meta_json")
        info = self._call(OpenRun(run_id, fingerprint, meta_json))
        assert isinstance(info, RunInfo)
        return info

    def get_run(self, run_id: str) -> RunInfo:
        """Return one run's `RunInfo`; raise `UnknownRunError` if there is none."""
        check_run_id(run_id)
        self._barrier()
        info = self._read_run(run_id)
        if info is None:
            raise UnknownRunError.for_run(run_id)
        return info

    def entries(self, run_id: str) -> dict[str, Entry]:
        """Return one run's journal; raise `UnknownRunError` if there is no such run."""
        check_run_id(run_id)
        self._barrier()
        entries = self._read_entries(run_id)
        if entries is None:
            raise UnknownRunError.for_run(run_id)
        return entries

    def finish_run(
        self, run_id: str, status: RunStatus, result_json: str | None, *, token: int | None = None
    ) -> None:
        """Set a run's status and result (with ``token``: fenced, and the lease released).

        Raises `UnknownRunError` if there is no such run, `LeaseLost` if the
        lease holds another token.
        """
        check_run_id(run_id)
        check_run_status(status)
        check_text(result_json, "result_json", optional=True)
        self._call(FinishRun(run_id, status, result_json, _maybe_token(token)))

    def take_run(
        self, run_id: str, *, fingerprint: str, meta_json: str, owner: str, ttl: float
    ) -> Claim:
        """Open the run and take its lease if it is free; see `Store.take_run`."""
        check_run_id(run_id)
        check_text(fingerprint, "fingerprint")
        check_text(meta_json, "meta_json")
        check_text(owner, "owner")
        positive("ttl", ttl, what="positive seconds")
        claim = self._call(TakeRun(run_id, fingerprint, meta_json, owner, float(ttl)))
        assert isinstance(claim, Claim)
        return claim

    def renew(self, run_id: str, token: int, ttl: float) -> bool:
        """Extend the lease holding ``token``; False if the lease was lost."""
        check_run_id(run_id)
        positive("ttl", ttl, what="positive seconds")
        return bool(self._call(Renew(run_id, _token(token), float(ttl))))

    def release(self, run_id: str, token: int) -> None:
        """Free the lease if it still holds ``token``."""
        check_run_id(run_id)
        self._call(Release(run_id, _token(token)))

    def lease(self, run_id: str) -> Lease | None:
        """The run's lease row, None if it never had one (expired ones included)."""
        check_run_id(run_id)
        self._barrier()
        return self._read_lease(run_id)

    def answer(self, run_id: str, entries: Sequence[Entry], *, token: int | None) -> None:
        """Compare-and-set answers on paused interrupts; see `Store.answer`."""
        check_run_id(run_id)
        if not all(isinstance(entry, Entry) for entry in entries):
            raise expected("a sequence of Entry", "entries", entries)
        self._call(Answer(run_id, tuple(entries), _maybe_token(token)))

    def list_runs(self) -> list[RunInfo]:
        """Return every run, newest first."""
        self._barrier()
        return self._read_runs()

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its entries; raise `UnknownRunError` if there is none."""
        check_run_id(run_id)
        self._call(DeleteRun(run_id))

    def durations(self, fingerprint: str) -> dict[str, float]:
        """Seconds per step path of plan ``fingerprint``'s finished runs; see `Store.durations`."""
        check_text(fingerprint, "fingerprint")
        self._barrier()
        return self._read_durations(fingerprint)

    def add_durations(self, fingerprint: str, seconds: Mapping[str, float]) -> None:
        """Fold one run's seconds per step path into the summary; see `Store.add_durations`."""
        check_text(fingerprint, "fingerprint")
        checked = check_durations(seconds)
        if checked:
            self._enqueue(AddDurations(fingerprint, tuple(checked.items())))

    def copy_run(self, src: str, dst: str, *, keep: Callable[[str], bool] | Set[str]) -> None:
        """Copy run `src` into the new run `dst`, keeping the entries `keep` accepts.

        Raises `UnknownRunError` if `src` does not exist, `RunExistsError` if
        `dst` does, `InvalidArgument` for a bad id or `keep`.
        """
        check_run_id(src, "src")
        check_run_id(dst, "dst")
        accept = _acceptor(keep)
        kept = tuple(entry for path, entry in self.entries(src).items() if accept(path))
        self._call(CopyRun(src, dst, kept))

    def reset_run(
        self,
        run_id: str,
        *,
        fingerprint: str,
        meta_json: str,
        keep: Callable[[str], bool] | Set[str],
    ) -> None:
        """Give a run a new fingerprint and meta, keeping only the entries `keep` accepts.

        Atomic: one transaction. Raises `UnknownRunError` if there is no such
        run, `InvalidArgument` for a bad argument.
        """
        check_run_id(run_id)
        check_text(fingerprint, "fingerprint")
        check_text(meta_json, "meta_json")
        accept = _acceptor(keep)
        kept = tuple(entry for path, entry in self.entries(run_id).items() if accept(path))
        self._call(ResetRun(run_id, fingerprint, meta_json, kept))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_from_row(row: Any) -> RunInfo:
    """A `RunInfo` from a SQL row (run_id, fingerprint, status, created_at, updated_at,
    meta_json, result_json): SQLite, PostgreSQL."""
    run_id, fingerprint, status, created_at, updated_at, meta_json, result_json = row
    return RunInfo(
        run_id=run_id,
        fingerprint=fingerprint,
        status=stored_run_status(status),
        created_at=created_at,
        updated_at=updated_at,
        meta_json=meta_json,
        result_json=result_json,
    )


def run_params(info: RunInfo) -> tuple[object, ...]:
    """The SQL row of a `RunInfo`, in `run_from_row`'s order."""
    return (
        info.run_id,
        info.fingerprint,
        info.status,
        info.created_at,
        info.updated_at,
        info.meta_json,
        info.result_json,
    )


def entry_from_row(row: Any) -> Entry:
    """An `Entry` from a SQL row (path, status, output_json, started_at, finished_at,
    attempts, error): SQLite, PostgreSQL."""
    path, status, output_json, started_at, finished_at, attempts, error = row
    return Entry(
        path=path,
        status=stored_entry_status(status),
        output_json=output_json,
        started_at=started_at,
        finished_at=finished_at,
        attempts=attempts,
        error=error,
    )


def _token(token: object) -> int:
    if isinstance(token, int) and not isinstance(token, bool):
        return token
    raise expected("a lease token (an int)", "token", token)


def _maybe_token(token: object) -> int | None:
    return None if token is None else _token(token)


def _acceptor(keep: object) -> Callable[[str], bool]:
    if isinstance(keep, Set):
        return keep.__contains__
    if callable(keep):
        return keep
    raise expected("a set of step paths or a predicate on paths", "keep", keep)


class WriterStore(StoreBase):
    """A store whose writes all go through one group-commit writer thread.

    Subclasses set ``_writer`` (and ``_submit = _writer.submit``, bound once for
    the hot path) and implement `_release`, which closes their connections.
    """

    _writer: GroupWriter[Op]
    _submit: Callable[[Op], None]

    def record(self, run_id: str, entry: Entry, token: int | None = None) -> None:
        """Enqueue `entry`; see `Store.record` (raises `StoreClosedError`, `StoreWriteError`)."""
        self._submit((run_id, entry, token))

    def flush(self) -> None:
        """Block until recorded rows are committed; see `Store.flush` for what raises."""
        self._writer.flush()

    def close(self) -> None:
        """Commit what is pending and close every connection (idempotent).

        Raises `StoreWriteError` if the final commit fails.
        """
        try:
            self._writer.close()
        finally:
            self._release()

    def _call(self, op: Op) -> object:
        return self._writer.call(op)

    def _enqueue(self, op: Op) -> None:
        self._submit(op)

    def _barrier(self) -> None:
        self._writer.barrier()

    @abc.abstractmethod
    def _release(self) -> None:
        """Close the backend's connections (after the writer has stopped)."""
