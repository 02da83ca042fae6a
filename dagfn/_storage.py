"""What the interpreter needs from a journal store: the `Store` protocol and its rows.

The interpreter and the journal depend on this contract only; the stores in
`dagfn.store` (memory, SQLite, Redis) implement it. Rows hold JSON text only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Final, Literal, Protocol, cast, get_args

import attrs

from dagfn._errors import expected

if TYPE_CHECKING:
    from dagfn._lease import Claim, Lease

RunStatus = Literal["running", "paused", "failed", "succeeded"]
EntryStatus = Literal["done", "failed", "paused", "skipped"]

# A step's duration summary weighs the latest run 1/DURATION_RUNS once it has
# seen that many runs: about the mean of the latest DURATION_RUNS runs.
DURATION_RUNS: Final = 3

RUN_STATUSES: frozenset[str] = frozenset(get_args(RunStatus))
ENTRY_STATUSES: frozenset[str] = frozenset(get_args(EntryStatus))


@attrs.frozen
class RunInfo:
    """One run of a graph: identity, plan fingerprint, status and result.

    ``created_at`` and ``updated_at`` are wall-clock seconds (`time.time()`),
    taken when the store commits. ``result_json`` is None until the run is
    finished with a result.
    """

    run_id: str
    fingerprint: str
    status: RunStatus
    created_at: float
    updated_at: float
    meta_json: str
    result_json: str | None = None


@attrs.frozen
class Entry:
    """The journal row of one step of one run.

    ``output_json`` is the step's output as JSON text (None when there is
    none, e.g. a failed step); ``error`` is a human-readable error text or
    None. Times are wall-clock seconds. Not validated at construction: it is
    built on the interpreter's hot path, and mypy checks the field types.
    """

    path: str
    status: EntryStatus
    output_json: str | None
    started_at: float
    finished_at: float
    attempts: int = 1
    error: str | None = None


def fold_duration(mean: float, runs: int, seconds: float) -> tuple[float, int]:
    """A step's duration summary ``(mean, runs)`` after one more run that took ``seconds``.

    The running mean of the runs so far, weighting each later run
    ``1 / DURATION_RUNS`` once ``DURATION_RUNS`` runs were seen (``runs`` stops there).
    """
    runs = min(runs + 1, DURATION_RUNS)
    return mean + (seconds - mean) / runs, runs


def check_durations(seconds: object) -> dict[str, float]:
    """``seconds`` as a dict if it maps step paths to finite non-negative numbers."""
    if isinstance(seconds, Mapping):
        checked = {
            p: float(v)
            for p, v in seconds.items()
            if isinstance(p, str)
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and 0 <= v < float("inf")
        }
        if len(checked) == len(seconds):
            return checked
    raise expected("a mapping of step path to non-negative seconds", "seconds", seconds)


def check_run_id(run_id: object, name: str = "run_id") -> str:
    """Return `run_id` if it is a usable run id, else raise `InvalidArgument`.

    Any non-empty string is a run id, except one with NUL characters or lone
    surrogates (neither can be stored as UTF-8 text).
    """
    if isinstance(run_id, str) and run_id and "\x00" not in run_id:
        try:
            run_id.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return run_id
    raise expected("a non-empty str without NUL characters or lone surrogates", name, run_id)


def check_text(value: object, name: str, *, optional: bool = False) -> str | None:
    """Return `value` if it is a str (or None when `optional`), else raise `InvalidArgument`."""
    if isinstance(value, str) or (optional and value is None):
        return value
    raise expected("a str" + (" or None" if optional else ""), name, value)


def check_run_status(status: object) -> RunStatus:
    """Return `status` if it is a `RunStatus`, else raise `InvalidArgument`."""
    if isinstance(status, str) and status in RUN_STATUSES:
        return cast(RunStatus, status)
    raise expected(f"one of {sorted(RUN_STATUSES)}", "status", status)


def stored_run_status(value: str) -> RunStatus:
    """Turn a stored status back into a `RunStatus`; raise `InvalidArgument` if it is unknown."""
    return check_run_status(value)


def stored_entry_status(value: str) -> EntryStatus:
    """Turn a stored entry status back into an `EntryStatus`; raise `InvalidArgument` if unknown."""
    if value in ENTRY_STATUSES:
        return cast(EntryStatus, value)
    raise expected(f"one of {sorted(ENTRY_STATUSES)}", "status", value)


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

    def record(self, run_id: str, entry: Entry, token: int | None = None) -> None:
        """Enqueue `entry` (replacing any entry with the same path); does not block.

        The row becomes durable within the commit interval, or when `flush`
        returns. Rows for a run that does not exist are dropped and the next
        `flush` raises `UnknownRunError`. With a lease ``token`` (fencing), the
        row is written only if the run's lease still holds that token; else it
        is dropped and the next `flush` raises `LeaseLost`. Raises
        `StoreClosedError` after `close`, `StoreWriteError` after a failed commit.
        """
        ...

    def flush(self) -> None:
        """Block until every row recorded before the call is committed.

        Raises `UnknownRunError` if rows were dropped since the last flush
        (their run did not exist), `StoreWriteError` if a commit failed,
        `StoreClosedError` after `close`.
        """
        ...

    def finish_run(
        self, run_id: str, status: RunStatus, result_json: str | None, *, token: int | None = None
    ) -> None:
        """Set a run's status and result (durable on return).

        Also used to mark a resumed run "running" again. With a lease
        ``token``, the write is fenced (`LeaseLost` if the lease holds another
        token) and releases the lease in the same transaction. Raises
        `UnknownRunError` if there is no such run.
        """
        ...

    def take_run(
        self, run_id: str, *, fingerprint: str, meta_json: str, owner: str, ttl: float
    ) -> Claim:
        """`open_run` and take the run's lease for ``ttl`` seconds, in one transaction.

        The lease is taken when it is free (never taken, released, or
        expired); its token is then one more than the last one. A run that
        already succeeded with this ``fingerprint`` is returned without a
        lease (token None). A lease held by another owner is not taken: the
        `Claim` names its ``holder``. Durable on return.
        """
        ...

    def renew(self, run_id: str, token: int, ttl: float) -> bool:
        """Extend the lease of ``token`` to ``ttl`` seconds from now; False if it was lost."""
        ...

    def release(self, run_id: str, token: int) -> None:
        """Free the lease if it still holds ``token`` (durable on return; else a no-op)."""
        ...

    def lease(self, run_id: str) -> Lease | None:
        """The run's lease row (None if it never had one); expired leases included."""
        ...

    def answer(self, run_id: str, entries: Sequence[Entry], *, token: int | None) -> None:
        """Write the answers to paused interrupts: a compare-and-set, durable on return.

        Every entry's path must hold a "paused" entry, else nothing is written
        and `AlreadyAnswered` names the first path that does not; with a
        ``token`` the write is fenced (`LeaseLost`).
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

    def durations(self, fingerprint: str) -> dict[str, float]:
        """Seconds per step path, summed up over the finished runs of plan ``fingerprint``.

        One read of one summary, whatever the number of runs in the store
        (the ``critical_path`` policy weighs its ranks with it). Sees every
        `add_durations` made through this store object before the call; empty
        when there is none.
        """
        ...

    def add_durations(self, fingerprint: str, seconds: Mapping[str, float]) -> None:
        """Fold one finished run's seconds per step path into ``fingerprint``'s summary.

        Each path's summary becomes `fold_duration` of it. Enqueued like
        `record` (does not block); committed with the next commit.
        """
        ...

    def close(self) -> None:
        """Flush, stop the writer and release connections (idempotent).

        Raises `StoreWriteError` if the final commit fails.
        """
        ...
