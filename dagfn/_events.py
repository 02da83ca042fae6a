"""Events: what a run tells ``on_event`` about its steps, and which steps it skipped.

The interpreter produces an `Event` for every start, finish, retry, fail, skip
and pause of a user step (never of plumbing). Invariants the views rely on:
a step's ``start`` and ``retry`` events come before its one final event
(``finish``, ``fail``, ``skip`` or ``pause``; a ``fail`` with ``recovered=True``
is final too); a step that gets no final event while running gets a ``skip``
when the run ends (`end_of_run_skips`), once, whatever kept it from running.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, TypeVar

import attrs
import cattrs

from dagfn._failures import RunFailure

EventKind = Literal["start", "finish", "retry", "fail", "skip", "pause"]

T = TypeVar("T")

#: The id of the run whose events are being delivered (set by `run` when there is an on_event).
RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("dagfn_run_id", default=None)


def current_run_id() -> str | None:
    """The id of the run whose event ``on_event`` is handling (also without a store), or None.

    Concurrent runs sharing one ``on_event`` tell their events apart by it.
    """
    return RUN_ID.get()


async def observed(on_event: object, run_id: str, running: Coroutine[Any, Any, T]) -> T:
    """Await a run with ``on_event``'s run listeners told of its start and end.

    An ``on_event`` may have ``run_started(run_id)`` and ``run_finished(run_id,
    outcome)`` methods (plain, not async): ``outcome`` is what `run` returns, or
    the exception that ended the run (a cancel, a crash). During the run,
    `current_run_id` is ``run_id``.
    """
    token = RUN_ID.set(run_id)
    started = getattr(on_event, "run_started", None)
    finished = getattr(on_event, "run_finished", None)
    try:
        if started is not None:
            try:
                started(run_id)
            except BaseException:
                running.close()  # never started
                raise
        try:
            result = await running
        except BaseException as error:
            if finished is not None:
                finished(run_id, error)
            raise
        if finished is not None:
            finished(run_id, result)
        return result
    finally:
        RUN_ID.reset(token)


_unstructure = cattrs.Converter().unstructure
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


def end_of_run_skips(
    failure: RunFailure[Any], said_by_loops: Iterable[str], ended: Iterable[str]
) -> list[str]:
    """Paths to send ``skip`` for when a run failed: each once, in a stable order.

    That is every step a failure kept from running and every step ``fail_fast``
    cut short, less those a failed loop's own run already reported and those
    that already had their final event.
    """
    skipped = dict.fromkeys(path for f in failure.failures for path in f.not_run)
    skipped.update(dict.fromkeys(failure.cancelled))  # cut short by fail_fast
    for path in (*said_by_loops, *ended):
        skipped.pop(path, None)
    return list(skipped)
