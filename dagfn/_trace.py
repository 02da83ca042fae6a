"""Run events and the audit trail built from them.

`run(..., on_event=f)` calls ``f(event)`` for every start, finish, retry,
fail, skip and pause (a failure a recover region caught is a fail event with
``recovered=True``). `Trace` is such an ``f``: it keeps the events
and folds them into one `StepRecord` per step, exportable as JSON.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import attrs

from dagfn._convert import make_converter

EventKind = Literal["start", "finish", "retry", "fail", "skip", "pause"]

_unstructure = make_converter().unstructure
_encode = json.JSONEncoder(sort_keys=True, default=repr).encode  # json.dumps builds one per call


def digest(value: object) -> str:
    """A short, stable digest of a step's input or output (for the audit trail).

    Never raises: the trail must not fail a run. Data cattrs cannot unstructure
    (circular, or whose hooks raise) is digested by its ``repr``.
    """
    try:
        text = _encode(_unstructure(value))
    except Exception:  # e.g. circular data (RecursionError): fall back to the repr
        try:
            text = repr(value)
        except Exception:
            text = f"<unrepresentable {type(value).__qualname__}>"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@attrs.frozen(slots=True)
class Event:
    """One thing that happened to a step, at ``at`` (trio's clock, in seconds).

    ``attempt`` counts from 1 on start, finish, retry and fail; ``error`` is set
    on retry and fail; ``digest`` is the input's digest on start and the
    output's on finish. ``recovered`` is True on the fail event of a step whose
    failure a ``recover`` (or ``|``) region caught: the run goes on.
    """

    kind: EventKind
    step: str
    at: float
    attempt: int | None = None
    error: Any = None
    digest: str | None = None
    recovered: bool = False


StepStatus = Literal["pending", "running", "completed", "failed", "recovered", "skipped", "paused"]


@attrs.define
class StepRecord:
    """The audit trail of one step."""

    step: str
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    input_digest: str | None = None
    output_digest: str | None = None
    errors: list[str] = attrs.field(factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from the first start to the end, if both happened."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


_STATUS: dict[str, StepStatus] = {
    "start": "running",
    "finish": "completed",
    "fail": "failed",
    "skip": "skipped",
    "pause": "paused",
}


class Trace:
    """Collects a run's events (pass it as ``on_event``) into an audit trail per step."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.steps: dict[str, StepRecord] = {}

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        record = self.steps.get(event.step)
        if record is None:
            record = self.steps[event.step] = StepRecord(event.step)
        if event.kind == "start":
            record.attempts = max(record.attempts, event.attempt or 1)
            if record.started_at is None:
                record.started_at = event.at
                record.input_digest = event.digest
        elif event.kind == "finish":
            record.finished_at = event.at
            record.output_digest = event.digest
        elif event.kind in ("fail", "retry"):
            record.errors.append(repr(event.error))
            if event.kind == "fail":
                record.finished_at = event.at
        if event.kind == "retry":
            return
        if event.recovered:
            if record.status != "failed":
                record.status = "recovered"
        else:
            record.status = _STATUS[event.kind]

    def status(self, step: str) -> StepStatus:
        """The status of ``step`` ("pending" if nothing happened to it)."""
        record = self.steps.get(step)
        return "pending" if record is None else record.status

    def to_json(self, *, indent: int | None = 2) -> str:
        """The audit trail as JSON: one object per step, then every event in order."""
        data = {
            "steps": [{**attrs.asdict(r), "duration": r.duration} for r in self.steps.values()],
            "events": [
                {**attrs.asdict(e), "error": None if e.error is None else repr(e.error)}
                for e in self.events
            ],
        }
        return json.dumps(data, indent=indent)
