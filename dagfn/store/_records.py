"""The rows a store keeps: one `RunInfo` per run, one `Entry` per finished step."""

from __future__ import annotations

from typing import Literal, cast, get_args

import attrs

from dagfn._errors import expected

RunStatus = Literal["running", "paused", "failed", "succeeded"]
EntryStatus = Literal["done", "failed", "paused", "skipped"]

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
