"""Write operations and their meaning, written once for every backend.

A backend offers a `Txn` (read the runs a group touches, then write rows);
`apply` turns a group of operations into those reads and writes, in order.
Domain errors (an unknown run id, an existing copy target) are *returned* as
results, never raised, so one bad operation cannot roll back the rows of the
others in its group.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

import attrs

from dagfn._lease import AlreadyAnswered, Claim, Lease, LeaseLost
from dagfn._storage import Entry, RunInfo, RunStatus

from ._errors import RunExistsError, UnknownRunError


@attrs.frozen
class OpenRun:
    """Create the run if it is new; the result is its `RunInfo`."""

    run_id: str
    fingerprint: str
    meta_json: str


@attrs.frozen
class FinishRun:
    """Set a run's status and result; the result is None.

    With a ``token``: fenced (`LeaseLost` if the lease holds another), and
    the lease is released.
    """

    run_id: str
    status: RunStatus
    result_json: str | None
    token: int | None = None


@attrs.frozen
class TakeRun:
    """Open the run and take its lease if it is free; the result is a `Claim`."""

    run_id: str
    fingerprint: str
    meta_json: str
    owner: str
    ttl: float


@attrs.frozen
class Renew:
    """Extend the lease holding ``token`` by ``ttl`` from now; the result is a bool."""

    run_id: str
    token: int
    ttl: float


@attrs.frozen
class Release:
    """Free the lease if it holds ``token``; the result is None."""

    run_id: str
    token: int


@attrs.frozen
class Answer:
    """Compare-and-set the answers of paused interrupts; the result is None.

    Every entry's path must hold a "paused" entry (else `AlreadyAnswered`,
    and nothing is written); with a ``token`` the write is fenced.
    """

    run_id: str
    entries: tuple[Entry, ...]
    token: int | None


@attrs.frozen
class DeleteRun:
    """Delete a run and its entries; the result is None."""

    run_id: str


@attrs.frozen
class CopyRun:
    """Create run `dst` as a copy of `src` holding `entries`; the result is None."""

    src: str
    dst: str
    entries: tuple[Entry, ...]


@attrs.frozen
class ResetRun:
    """Re-stamp an existing run for a changed graph; the result is None.

    The run gets `fingerprint`, `meta_json`, the status "running", no result
    and exactly `entries` as its journal.
    """

    run_id: str
    fingerprint: str
    meta_json: str
    entries: tuple[Entry, ...]


@attrs.frozen
class AddDurations:
    """Fold one run's seconds per step path into the plan's summary; the result is None."""

    fingerprint: str
    seconds: tuple[tuple[str, float], ...]


# The hot-path operation is a bare tuple: building it costs less than an object.
# (run id, entry, lease token or None): a token fences the row (see `dagfn._lease`).
Record = tuple[str, Entry, int | None]
RunOp = (
    OpenRun
    | FinishRun
    | DeleteRun
    | CopyRun
    | ResetRun
    | TakeRun
    | Renew
    | Release
    | Answer
    | AddDurations
)
Op = Record | RunOp


class Txn(Protocol):
    """One backend transaction: reads first (`load_leases`, `load_entry`, then `load_runs`),
    then writes."""

    def load_leases(
        self, run_ids: Collection[str], *, clock: bool
    ) -> tuple[dict[str, Lease | None], float]:
        """Read the leases (None for none) and, if ``clock``, the lease clock's now.

        Called at most once, before `load_runs`, and only when an op needs leases.
        """

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        """Read the runs (None for a missing one); called once, before any write."""

    def load_entry(self, run_id: str, path: str) -> Entry | None:
        """Read one committed entry (for `Answer`'s compare-and-set), before `load_runs`."""

    def put_lease(self, run_id: str, lease: Lease | None) -> None:
        """Insert or replace a run's lease row (None: delete it)."""

    def put_run(self, info: RunInfo) -> None:
        """Insert or replace one run row."""

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        """Insert or replace entries (by path) of an existing run, in order."""

    def delete_run(self, run_id: str) -> None:
        """Delete one run row and all its entries."""

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        """Fold ``seconds`` into the plan's duration summary (`dagfn._storage.fold_duration`)."""


def _run_ids(ops: Sequence[Op]) -> tuple[set[str], set[str], bool]:
    """The runs a group touches, the runs whose lease it reads, and whether it needs the clock."""
    ids: set[str] = set()
    leased: set[str] = set()
    clock = False
    for op in ops:
        if isinstance(op, tuple):
            ids.add(op[0])
            if op[2] is not None:
                leased.add(op[0])
        elif isinstance(op, CopyRun):
            ids.add(op.src)
            ids.add(op.dst)
        elif isinstance(op, AddDurations):
            pass  # a plan's summary, not a run
        else:
            ids.add(op.run_id)
            if isinstance(op, TakeRun | Renew):
                clock = True
                leased.add(op.run_id)
            elif (
                isinstance(op, Release | DeleteRun | ResetRun)
                or getattr(op, "token", None) is not None
            ):
                leased.add(op.run_id)
    return ids, leased, clock


def touched_runs(ops: Sequence[Op]) -> set[str]:
    """Every run id the ops read or write (a backend may lock them first)."""
    return _run_ids(ops)[0]


def apply(ops: Sequence[Op], txn: Txn, now: float) -> list[object]:
    """Apply `ops` in order through `txn`; return one result per op.

    A result is the op's value (a `RunInfo` for `OpenRun`, else None) or the
    domain error to raise in the caller. For records of an unknown run the
    rows are dropped and the first record of that run carries an
    `UnknownRunError` (the writer reports it at the next flush).
    """
    ids, leased, clock = _run_ids(ops)
    leases: dict[str, Lease | None] = {}
    lease_now = now
    if leased:
        leases, lease_now = txn.load_leases(leased, clock=clock)
    answered = {
        (op.run_id, entry.path): txn.load_entry(op.run_id, entry.path)
        for op in ops
        if isinstance(op, Answer)
        for entry in op.entries
    }
    runs = txn.load_runs(ids)
    results: list[object] = [None] * len(ops)
    # Consecutive records are written per run in one call; `touched` runs get
    # their updated_at bumped once at the end of the group.
    batch: dict[str, list[Entry]] = {}
    touched: set[str] = set()
    dropped: set[str] = set()

    def write_batch() -> None:
        for run_id, entries in batch.items():
            txn.put_entries(run_id, entries)
            touched.add(run_id)
        batch.clear()

    for index, op in enumerate(ops):
        if isinstance(op, tuple):
            run_id, entry, token = op
            if token is not None and not _holds(leases, run_id, token):
                if run_id not in dropped:
                    dropped.add(run_id)
                    results[index] = LeaseLost(run_id, token)
                continue
            if runs[run_id] is not None:
                batch.setdefault(run_id, []).append(entry)
            elif run_id not in dropped:
                dropped.add(run_id)
                results[index] = UnknownRunError.for_run(
                    run_id,
                    detail=(
                        "; rows recorded for it were dropped (call open_run before"
                        " record, and do not record into a deleted run)"
                    ),
                )
            continue
        if isinstance(op, AddDurations):
            txn.add_durations(op.fingerprint, op.seconds)
            continue
        write_batch()
        if isinstance(op, Answer):
            results[index] = _answer(op, runs, leases, answered, txn, touched)
        elif isinstance(op, TakeRun | Renew | Release):
            results[index] = _apply_lease_op(op, runs, leases, txn, lease_now)
        elif isinstance(op, FinishRun) and op.token is not None:
            if _holds(leases, op.run_id, op.token):
                results[index] = _apply_run_op(op, runs, txn, now, touched)
                _free(op.run_id, op.token, leases, txn)
            else:
                results[index] = LeaseLost(op.run_id, op.token)
        else:
            results[index] = _apply_run_op(op, runs, txn, now, touched)
            if isinstance(op, ResetRun) and (kept := leases.get(op.run_id)) is not None:
                txn.put_lease(op.run_id, kept)  # still owned (SQLite keeps it in the run's row)
            if isinstance(op, DeleteRun) and leases.get(op.run_id) is not None:
                txn.put_lease(op.run_id, None)
                leases[op.run_id] = None
    write_batch()
    for run_id in touched:
        info = runs[run_id]
        if info is not None:
            txn.put_run(attrs.evolve(info, updated_at=now))
    return results


def _apply_run_op(
    op: OpenRun | FinishRun | ResetRun | DeleteRun | CopyRun,
    runs: dict[str, RunInfo | None],
    txn: Txn,
    now: float,
    touched: set[str],
) -> object:
    """Apply one op on a whole run, updating ``runs``; its result (see `apply`).

    A run whose row it writes (with ``updated_at=now``) leaves ``touched``.
    """
    if isinstance(op, OpenRun):
        return _open_run(op, runs, txn, now, touched)
    if isinstance(op, CopyRun):
        return _copy_run(op, runs, txn, now)
    info = runs[op.run_id]
    if info is None:
        return UnknownRunError.for_run(op.run_id)
    touched.discard(op.run_id)
    if isinstance(op, DeleteRun):
        txn.delete_run(op.run_id)
        runs[op.run_id] = None
        return None
    if isinstance(op, FinishRun):
        info = attrs.evolve(info, status=op.status, result_json=op.result_json, updated_at=now)
    else:  # ResetRun: the run starts over with the rows it keeps
        info = attrs.evolve(
            info,
            fingerprint=op.fingerprint,
            meta_json=op.meta_json,
            status="running",
            result_json=None,
            updated_at=now,
        )
        txn.delete_run(op.run_id)
    txn.put_run(info)
    if isinstance(op, ResetRun):
        txn.put_entries(op.run_id, op.entries)
    runs[op.run_id] = info
    return None


def _open_run(
    op: OpenRun, runs: dict[str, RunInfo | None], txn: Txn, now: float, touched: set[str]
) -> RunInfo:
    info = runs[op.run_id]
    if info is None:
        info = RunInfo(
            run_id=op.run_id,
            fingerprint=op.fingerprint,
            status="running",
            created_at=now,
            updated_at=now,
            meta_json=op.meta_json,
            result_json=None,
        )
        txn.put_run(info)
        runs[op.run_id] = info
        touched.discard(op.run_id)
    return info


def _copy_run(op: CopyRun, runs: dict[str, RunInfo | None], txn: Txn, now: float) -> object:
    source = runs[op.src]
    if source is None:
        return UnknownRunError.for_run(op.src, detail=" (the copy source)")
    if runs[op.dst] is not None:
        message = f"Cannot copy run {op.src!r} into existing run {op.dst!r}: pick a new id"
        return RunExistsError(message, run_id=op.dst)
    info = attrs.evolve(
        source, run_id=op.dst, status="running", created_at=now, updated_at=now, result_json=None
    )
    txn.put_run(info)
    txn.put_entries(op.dst, op.entries)
    runs[op.dst] = info
    return None


def _holds(leases: dict[str, Lease | None], run_id: str, token: int) -> bool:
    """Whether the run's lease still holds ``token`` (expired but not taken over counts)."""
    lease = leases.get(run_id)
    return lease is not None and lease.token == token


def _free(run_id: str, token: int, leases: dict[str, Lease | None], txn: Txn) -> None:
    lease = leases.get(run_id)
    if lease is not None and lease.token == token:
        leases[run_id] = freed = attrs.evolve(lease, expires_at=0.0)
        txn.put_lease(run_id, freed)


def _answer(
    op: Answer,
    runs: dict[str, RunInfo | None],
    leases: dict[str, Lease | None],
    answered: dict[tuple[str, str], Entry | None],
    txn: Txn,
    touched: set[str],
) -> object:
    """The compare-and-set of `Answer`: every path must still be paused."""
    if runs[op.run_id] is None:
        return UnknownRunError.for_run(op.run_id)
    if op.token is not None and not _holds(leases, op.run_id, op.token):
        return LeaseLost(op.run_id, op.token)
    for entry in op.entries:
        before = answered[op.run_id, entry.path]
        if before is None or before.status != "paused":
            return AlreadyAnswered(op.run_id, entry.path)
    for entry in op.entries:  # a later Answer of the same group sees these
        answered[op.run_id, entry.path] = entry
    txn.put_entries(op.run_id, op.entries)
    touched.add(op.run_id)
    return None


def _apply_lease_op(
    op: TakeRun | Renew | Release,
    runs: dict[str, RunInfo | None],
    leases: dict[str, Lease | None],
    txn: Txn,
    now: float,
) -> object:
    """Apply one op on a run's lease (``now`` in the lease clock); its result (see `apply`)."""
    if isinstance(op, Release):
        _free(op.run_id, op.token, leases, txn)
        return None
    lease = leases.get(op.run_id)
    if isinstance(op, Renew):
        if lease is None or lease.token != op.token:
            return False
        leases[op.run_id] = lease = attrs.evolve(lease, expires_at=now + op.ttl)
        txn.put_lease(op.run_id, lease)
        return True
    info = _open_run(OpenRun(op.run_id, op.fingerprint, op.meta_json), runs, txn, now, set())
    if info.status == "succeeded" and info.fingerprint == op.fingerprint:
        return Claim(info, None)
    if lease is not None and lease.expires_at > now:
        return Claim(info, None, lease.owner, lease.expires_at - now)
    token = 1 if lease is None else lease.token + 1
    leases[op.run_id] = lease = Lease(token, op.owner, now + op.ttl)
    txn.put_lease(op.run_id, lease)
    return Claim(info, token)
