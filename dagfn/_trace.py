"""Run events and the audit trail built from them.

`run(..., on_event=f)` calls ``f(event)`` for every start, finish, retry,
fail, skip and pause (a failure a recover region caught is a fail event with
``recovered=True``). `Trace` is such an ``f``: it keeps the events
and folds them into one `StepRecord` per step, exportable as JSON.
"""

from __future__ import annotations

import json
from typing import Literal

import attrs

from dagfn._events import Event as Event
from dagfn._events import EventKind as EventKind
from dagfn._events import digest as digest

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
    cached: bool = False  # its output came from the cache: it was not called
    uncached: list[str] = attrs.field(factory=list)  # why its cache could not be used

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
            if event.cached:
                record.cached = True
                if record.started_at is None:
                    record.started_at = event.at
        elif event.kind == "uncached":
            record.uncached.append(repr(event.error))
            return
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
