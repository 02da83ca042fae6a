"""Run events as stdlib `logging` records: ``run(..., on_event=log_events())``.

One logger per run, ``dagfn.run.<run_id>`` (a child of the logger given, else
of ``dagfn.run``), so handlers and levels set on ``dagfn.run`` apply to every
run and a record names its run. Each record carries ``run_id``, ``step``,
``attempt`` and ``event`` as attributes (logging's ``extra``), for structured
formatters. The per-run loggers are not registered with `logging.getLogger`,
so a long-lived process running many runs does not keep one logger per run.
"""

from __future__ import annotations

import logging
from typing import Any

from returns.result import Failure, Success

from dagfn._errors import expected
from dagfn._events import Event, current_run_id
from dagfn._failures import Paused

__all__ = ["EventLog", "log_events"]

# What each event kind is logged at (a fail that a recover region caught: WARNING).
_LEVELS = {
    "start": logging.DEBUG,
    "finish": logging.INFO,
    "retry": logging.WARNING,
    "fail": logging.ERROR,
    "skip": logging.INFO,
    "pause": logging.INFO,
}


class EventLog:
    """An ``on_event`` that logs every event of the runs it is given (see `log_events`)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.loggers: dict[str, logging.Logger] = {}  # by run id, while the run goes
        self.started: dict[tuple[str, str], float] = {}  # (run id, step) -> its start time

    def logger_of(self, run_id: str) -> logging.Logger:
        """The run's logger: ``<logger>.<run_id>``, a child not kept by `logging` itself."""
        found = self.loggers.get(run_id)
        if found is None:
            found = logging.Logger(f"{self.logger.name}.{run_id}")
            found.parent = self.logger
            self.loggers[run_id] = found
        return found

    def run_started(self, run_id: str) -> None:
        self.logger_of(run_id).info("run started", extra=_extra(run_id, None, None, "run"))

    def run_finished(self, run_id: str, outcome: object) -> None:
        log = self.logger_of(run_id)
        extra = _extra(run_id, None, None, "run")
        match outcome:
            case Success():
                log.info("run succeeded", extra=extra)
            case Failure(Paused() as paused):
                log.info("run paused: %s", paused, extra=extra)
            case Failure(failure):
                log.warning("run failed: %s", failure, extra=extra)
            case _:
                log.warning("run ended by %r", outcome, extra=extra)
        del self.loggers[run_id]
        for key in [k for k in self.started if k[0] == run_id]:
            del self.started[key]

    def __call__(self, event: Event) -> None:
        run_id = current_run_id() or "-"
        log = self.logger_of(run_id) if run_id in self.loggers else self.logger
        level = _LEVELS[event.kind]
        if event.kind == "fail" and event.recovered:
            level = logging.WARNING
        if not log.isEnabledFor(level):
            if event.kind == "start":
                self.started[run_id, event.step] = event.at
            return
        extra = _extra(run_id, event.step, event.attempt, event.kind)
        attempt = f" (attempt {event.attempt})" if event.attempt and event.attempt > 1 else ""
        error = event.error
        exc_info: Any = None
        if isinstance(error, BaseException) and error.__traceback__ is not None:
            exc_info = (type(error), error, error.__traceback__)
        match event.kind:
            case "start":
                self.started[run_id, event.step] = event.at
                log.log(level, "start %s%s", event.step, attempt, extra=extra)
            case "finish":
                since = self.started.pop((run_id, event.step), None)
                took = f" in {(event.at - since) * 1000:.1f} ms" if since is not None else ""
                log.log(level, "finish %s%s%s", event.step, attempt, took, extra=extra)
            case "retry":
                log.log(level, "retry %s: attempt %s failed: %r", event.step, event.attempt,
                        error, extra=extra)  # fmt: skip
            case "fail":
                caught = ", recovered" if event.recovered else ""
                log.log(level, "fail %s%s%s: %r", event.step, attempt, caught, error,
                        exc_info=exc_info, extra=extra)  # fmt: skip
            case "skip":
                log.log(level, "skip %s", event.step, extra=extra)
            case "pause":
                log.log(level, "pause %s", event.step, extra=extra)


def _extra(run_id: str, step: str | None, attempt: int | None, kind: str) -> dict[str, Any]:
    return {"run_id": run_id, "step": step, "attempt": attempt, "event": kind}


def log_events(logger: logging.Logger | str | None = None) -> EventLog:
    """An ``on_event`` that logs run events with `logging`: ``run(g, x, on_event=log_events())``.

    Each run logs to its own logger ``<logger>.<run_id>`` (``logger`` defaults
    to ``dagfn.run``; a name or a `logging.Logger`): ``run started``, then
    ``start`` (DEBUG), ``finish`` with its duration (INFO), ``retry``
    (WARNING), ``fail`` (ERROR, with the traceback; WARNING when a recover
    region caught it), ``skip`` and ``pause`` (INFO), and how the run ended.
    Every record has ``run_id``, ``step``, ``attempt`` and ``event``
    attributes. One `EventLog` may serve many runs, concurrent ones too.
    """
    if logger is None:
        logger = logging.getLogger("dagfn.run")
    elif isinstance(logger, str):
        logger = logging.getLogger(logger)
    elif not isinstance(logger, logging.Logger):
        raise expected("a logging.Logger, a logger name or None", "logger", logger)
    return EventLog(logger)
