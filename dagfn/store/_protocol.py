"""The `Store` protocol: what the interpreter needs from a journal store."""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Protocol

from ._records import Entry, RunInfo, RunStatus


class Store(Protocol):
    """A journal of runs: run id -> step path -> `Entry` (JSON text only).

    All methods are synchronous and thread-safe. `record` only enqueues (a
    few microseconds; call it on the event loop's thread); every other method
    may block on I/O (run it with ``trio.to_thread.run_sync``). Methods that
    write, except `record`, are durable when they return. A run id is any
    non-empty str without NUL characters or lone surrogates; it is a key,
    never a file path.
    """

    def open_run(self, run_id: str, *, fingerprint: str, meta_json: str) -> RunInfo:
        """Create the run (status "running") if it is new; return its `RunInfo`.

        An existing run is returned unchanged, with its own fingerprint, so
        the caller can detect a changed graph. Raises `InvalidArgument` for
        a bad run id.
        """
        ...

    def get_run(self, run_id: str) -> RunInfo:
        """Return one run's `RunInfo`; raise `UnknownRunError` if there is none."""
        ...

    def entries(self, run_id: str) -> dict[str, Entry]:
        """Return the journal of one run: step path -> `Entry`, sorted by path.

        Sees every row recorded through this store object before the call.
        Raises `UnknownRunError` if there is no such run.
        """
        ...

    def record(self, run_id: str, entry: Entry) -> None:
        """Enqueue `entry` (replacing any entry with the same path); does not block.

        The row becomes durable within the commit interval, or when `flush`
        returns. Rows for a run that does not exist are dropped and the next
        `flush` raises `UnknownRunError`. Raises `StoreClosedError` after
        `close`, `StoreWriteError` after a failed commit.
        """
        ...

    def flush(self) -> None:
        """Block until every row recorded before the call is committed.

        Raises `UnknownRunError` if rows were dropped since the last flush
        (their run did not exist), `StoreWriteError` if a commit failed,
        `StoreClosedError` after `close`.
        """
        ...

    def finish_run(self, run_id: str, status: RunStatus, result_json: str | None) -> None:
        """Set a run's status and result (durable on return).

        Also used to mark a resumed run "running" again. Raises
        `UnknownRunError` if there is no such run.
        """
        ...

    def list_runs(self) -> list[RunInfo]:
        """Return every run, newest (by ``created_at``) first."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its entries; raise `UnknownRunError` if there is none."""
        ...

    def copy_run(self, src: str, dst: str, *, keep: Callable[[str], bool] | Set[str]) -> None:
        """Create run `dst` from `src`, keeping the entries whose path `keep` accepts.

        `dst` gets `src`'s fingerprint and meta and the status "running".
        `keep` is a predicate on step paths or a set of paths; it runs on
        the calling thread. Raises
        `UnknownRunError` if `src` does not exist and `RunExistsError` if
        `dst` does.
        """
        ...

    def reset_run(
        self,
        run_id: str,
        *,
        fingerprint: str,
        meta_json: str,
        keep: Callable[[str], bool] | Set[str],
    ) -> None:
        """Give run `run_id` a new fingerprint and meta, keeping only the entries `keep` accepts.

        The run gets the status "running" and no result; one atomic write
        (durable on return). Used when a run id is resumed with a changed
        graph. Raises `UnknownRunError` if there is no such run.
        """
        ...

    def close(self) -> None:
        """Flush, stop the writer and release connections (idempotent).

        Raises `StoreWriteError` if the final commit fails.
        """
        ...
