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
    """Set a run's status and result; the result is None."""

    run_id: str
    status: RunStatus
    result_json: str | None


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
Record = tuple[str, Entry]
Op = Record | OpenRun | FinishRun | DeleteRun | CopyRun | ResetRun | AddDurations


class Txn(Protocol):
    """One backend transaction: all reads first (`load_runs`), then writes."""

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        """Read the runs (None for a missing one); called once, before any write."""

    def put_run(self, info: RunInfo) -> None:
        """Insert or replace one run row."""

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        """Insert or replace entries (by path) of an existing run, in order."""

    def delete_run(self, run_id: str) -> None:
        """Delete one run row and all its entries."""

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        """Fold ``seconds`` into the plan's duration summary (`dagfn._storage.fold_duration`)."""


def _run_ids(ops: Sequence[Op]) -> set[str]:
    ids: set[str] = set()
    for op in ops:
        if isinstance(op, tuple):
            ids.add(op[0])
        elif isinstance(op, CopyRun):
            ids.add(op.src)
            ids.add(op.dst)
        elif isinstance(op, AddDurations):
            pass  # a plan's summary, not a run
        else:
            ids.add(op.run_id)
    return ids


def apply(ops: Sequence[Op], txn: Txn, now: float) -> list[object]:
    """Apply `ops` in order through `txn`; return one result per op.

    A result is the op's value (a `RunInfo` for `OpenRun`, else None) or the
    domain error to raise in the caller. For records of an unknown run the
    rows are dropped and the first record of that run carries an
    `UnknownRunError` (the writer reports it at the next flush).
    """
    runs = txn.load_runs(_run_ids(ops))
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
            run_id, entry = op
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
        results[index] = _apply_run_op(op, runs, txn, now, touched)
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
