"""Run events as OpenTelemetry spans: ``run(..., on_event=dagfn.otel.trace_events())``.

Needs ``pip install 'dagfn[otel]'`` (opentelemetry-api; the SDK or another
implementation to export). Each run is one span (``dagfn.run``), and each
attempt of a step is one span under it, named by the step's path, from its
start to its end, with the attributes ``dagfn.run_id``, ``dagfn.step``,
``dagfn.attempt``, ``dagfn.cached`` and, when it failed, ``dagfn.error`` (its
status is ERROR and the exception is recorded). A pause is an instant span with
``dagfn.paused``. Span times are the wall clock when the events arrive (the
adapter is a plain ``on_event``, called as they happen).
"""

from __future__ import annotations

import time
from typing import Any

from returns.result import Failure, Success

from dagfn._events import Event, current_run_id
from dagfn._failures import Paused

try:
    from opentelemetry import trace
except ImportError as error:  # pragma: no cover - the extra is installed in the tests
    msg = "dagfn.otel needs OpenTelemetry: pip install 'dagfn[otel]'"
    raise ImportError(msg) from error

__all__ = ["SpanEvents", "trace_events"]


class SpanEvents:
    """An ``on_event`` that turns the runs it is given into spans (see `trace_events`)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.runs: dict[str, trace.Span] = {}  # run id -> its span, while the run goes
        self.attempts: dict[tuple[str, str], trace.Span] = {}  # (run id, step) -> open attempt

    def run_started(self, run_id: str) -> None:
        self.runs[run_id] = self.tracer.start_span(
            "dagfn.run", attributes={"dagfn.run_id": run_id}, start_time=time.time_ns()
        )

    def run_finished(self, run_id: str, outcome: object) -> None:
        span = self.runs.pop(run_id)
        now = time.time_ns()
        for key in [k for k in self.attempts if k[0] == run_id]:  # cut short by a cancel
            self._end(self.attempts.pop(key), now, "cancelled")
        match outcome:
            case Success():
                span.set_attribute("dagfn.outcome", "succeeded")
                span.set_status(trace.Status(trace.StatusCode.OK))
            case Failure(Paused() as paused):
                span.set_attribute("dagfn.outcome", "paused")
                span.set_attribute("dagfn.paused", [p.step for p in paused.pending])
            case Failure(failure):
                span.set_attribute("dagfn.outcome", "failed")
                span.set_attribute("dagfn.failed", [f.step for f in failure.failures])
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(failure)))
            case _:
                span.set_attribute("dagfn.outcome", "ended")
                if isinstance(outcome, BaseException):
                    span.record_exception(outcome)
                span.set_status(trace.Status(trace.StatusCode.ERROR, repr(outcome)))
        span.end(end_time=now)

    def __call__(self, event: Event) -> None:
        run_id = current_run_id() or "-"
        key = (run_id, event.step)
        now = time.time_ns()
        if event.kind == "start":
            parent = self.runs.get(run_id)
            context = trace.set_span_in_context(parent) if parent is not None else None
            attributes: dict[str, Any] = {
                "dagfn.run_id": run_id,
                "dagfn.step": event.step,
                "dagfn.attempt": event.attempt or 1,
                "dagfn.cached": False,
            }
            self.attempts[key] = self.tracer.start_span(
                event.step, context=context, attributes=attributes, start_time=now
            )
            return
        if event.kind == "pause":
            parent = self.runs.get(run_id)
            context = trace.set_span_in_context(parent) if parent is not None else None
            span = self.tracer.start_span(
                event.step,
                context=context,
                attributes={"dagfn.run_id": run_id, "dagfn.step": event.step, "dagfn.paused": True},
                start_time=now,
            )
            span.end(end_time=now)
            return
        if key not in self.attempts:  # skipped before it started: no attempt to draw
            return
        span = self.attempts.pop(key)
        if event.kind == "finish":
            span.set_attribute("dagfn.cached", bool(getattr(event, "cached", False)))
            span.set_status(trace.Status(trace.StatusCode.OK))
            span.end(end_time=now)
        elif event.kind in ("retry", "fail"):
            error = event.error
            span.set_attribute("dagfn.error", repr(error))
            if event.recovered:
                span.set_attribute("dagfn.recovered", True)
            if isinstance(error, BaseException):
                span.record_exception(error, timestamp=now)
            span.set_status(trace.Status(trace.StatusCode.ERROR, repr(error)))
            span.end(end_time=now)
        else:  # skip of a started step: cut short
            self._end(span, now, "cancelled")

    @staticmethod
    def _end(span: trace.Span, now: int, why: str) -> None:
        span.set_attribute("dagfn.cancelled", True)
        span.set_status(trace.Status(trace.StatusCode.ERROR, why))
        span.end(end_time=now)


def trace_events(tracer: trace.Tracer | None = None) -> SpanEvents:
    """An ``on_event`` that records runs as OpenTelemetry spans (see the module docstring).

    ``tracer`` defaults to ``opentelemetry.trace.get_tracer("dagfn")`` (the
    global tracer provider). One `SpanEvents` may serve many runs at once.
    """
    return SpanEvents(tracer if tracer is not None else trace.get_tracer("dagfn"))
