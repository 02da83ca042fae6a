"""`MemoryStore`: the `Store` protocol in one process's memory, for tests."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Collection, Sequence

from dagfn._lease import Lease
from dagfn._storage import Entry, RunInfo, fold_duration

from ._base import StoreBase
from ._errors import StoreClosedError
from ._ops import Op, apply


class _MemoryTxn:
    """`Txn` over the dicts of a `MemoryStore` (its lock is held)."""

    __slots__ = ("_durations", "_entries", "_leases", "_runs")

    def __init__(
        self,
        runs: dict[str, RunInfo],
        entries: dict[str, dict[str, Entry]],
        durations: dict[str, dict[str, tuple[float, int]]],
        leases: dict[str, Lease],
    ) -> None:
        self._runs = runs
        self._entries = entries
        self._durations = durations
        self._leases = leases

    def load_leases(
        self, run_ids: Collection[str], *, clock: bool
    ) -> tuple[dict[str, Lease | None], float]:
        return {run_id: self._leases.get(run_id) for run_id in run_ids}, time.time()

    def load_entry(self, run_id: str, path: str) -> Entry | None:
        return self._entries.get(run_id, {}).get(path)

    def put_lease(self, run_id: str, lease: Lease | None) -> None:
        if lease is None:
            self._leases.pop(run_id, None)
        else:
            self._leases[run_id] = lease

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        return {run_id: self._runs.get(run_id) for run_id in run_ids}

    def put_run(self, info: RunInfo) -> None:
        self._runs[info.run_id] = info
        self._entries.setdefault(info.run_id, {})

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        journal = self._entries[run_id]
        for entry in entries:
            journal[entry.path] = entry

    def delete_run(self, run_id: str) -> None:
        del self._runs[run_id]
        del self._entries[run_id]

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        summary = self._durations.setdefault(fingerprint, {})
        for path, took in seconds:
            mean, runs = summary.get(path, (0.0, 0))
            summary[path] = fold_duration(mean, runs, took)


class MemoryStore(StoreBase):
    """A `Store` kept in memory: same semantics as the others, nothing durable.

    Records wait in a queue and are applied at the next other call, like
    the group commit of the durable stores.
    """

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()  # guards everything below but `_pending`
        self._runs: dict[str, RunInfo] = {}
        self._entries: dict[str, dict[str, Entry]] = {}  # same keys as `_runs`
        # plan fingerprint -> step path -> (mean seconds, runs folded in, at most DURATION_RUNS)
        self._durations: dict[str, dict[str, tuple[float, int]]] = {}
        self._leases: dict[str, Lease] = {}  # keys: runs that were ever taken
        self._pending: deque[Op] = deque()  # appended by any thread, drained under the lock
        self._deferred: BaseException | None = None  # the first dropped-row error since a flush
        self._closed = False

    def record(self, run_id: str, entry: Entry, token: int | None = None) -> None:
        """Enqueue `entry`; raise `StoreClosedError` after `close`."""
        if self._closed:
            raise StoreClosedError("The store is closed")
        self._pending.append((run_id, entry, token))

    def flush(self) -> None:
        """Apply recorded rows; raise `UnknownRunError` if some named a missing run."""
        with self._lock:
            self._commit(None)
            error, self._deferred = self._deferred, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Apply recorded rows and refuse later writes (idempotent)."""
        with self._lock:
            if not self._closed:
                self._commit(None)
                self._closed = True

    def _call(self, op: Op) -> object:
        with self._lock:
            result = self._commit(op)
        if isinstance(result, BaseException):
            raise result
        return result

    def _barrier(self) -> None:
        with self._lock:
            self._commit(None)

    def _enqueue(self, op: Op) -> None:
        if self._closed:
            raise StoreClosedError("The store is closed")
        self._pending.append(op)

    def _read_durations(self, fingerprint: str) -> dict[str, float]:
        with self._lock:
            summary = self._durations.get(fingerprint, {})
            return {path: mean for path, (mean, _) in summary.items()}

    def _commit(self, op: Op | None) -> object:
        if self._closed:
            raise StoreClosedError("The store is closed")
        ops: list[Op] = [self._pending.popleft() for _ in range(len(self._pending))]
        if op is not None:
            ops.append(op)
        if not ops:
            return None
        txn = _MemoryTxn(self._runs, self._entries, self._durations, self._leases)
        results = apply(ops, txn, time.time())
        if self._deferred is None:
            last = len(ops) - 1 if op is not None else len(ops)
            self._deferred = next((r for r in results[:last] if isinstance(r, BaseException)), None)
        return results[-1] if op is not None else None

    def _read_run(self, run_id: str) -> RunInfo | None:
        with self._lock:
            return self._runs.get(run_id)

    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        with self._lock:
            journal = self._entries.get(run_id)
            return None if journal is None else dict(sorted(journal.items()))

    def _read_lease(self, run_id: str) -> Lease | None:
        with self._lock:
            return self._leases.get(run_id)

    def _read_runs(self) -> list[RunInfo]:
        with self._lock:
            runs = list(self._runs.values())
        runs.sort(key=lambda info: (info.created_at, info.run_id), reverse=True)
        return runs
