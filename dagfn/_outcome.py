"""Outcome assembly: what a run returns once its nursery has closed.

A run's state at the end is ``values`` (one per step: `MISSING` if it never
finished, `NOT_TAKEN` in a branch that was not selected, else its output) and
the list of ``failures`` in the order they happened. From these alone this
module builds the `RunFailure` (who failed, what did not run because of it,
what completed, what ``fail_fast`` cut short) or the `Paused` outcome, and
commits the journal. A loop's body run that failed or paused reaches the run
that holds the loop as `NestedFailure` or `NestedPause`.
"""

from __future__ import annotations

from typing import Any, Final

from dagfn._failures import Paused, PendingAnswer, RunFailure, StepFailure
from dagfn._journal import Journal, JournalError, add_durations
from dagfn._plan import NOT_TAKEN, Plan


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: The value of a step that has not finished (yet).
MISSING: Final = _Missing()


class NestedFailure(Exception):
    """A loop body's run failed: the outer run reports the inner steps' failures."""

    def __init__(self, failure: RunFailure[Any]) -> None:
        super().__init__(str(failure))
        self.failure = failure


class NestedPause(Exception):
    """A loop body's run paused at an interrupt: the outer run pauses too."""

    def __init__(self, paused: Paused) -> None:
        super().__init__(str(paused))
        self.paused = paused


def completed(plan: Plan, values: list[Any]) -> tuple[str, ...]:
    """Paths of the user steps that finished with a value (in a taken branch)."""
    paths, internal = plan.paths, plan.internal
    return tuple(
        paths[i]
        for i in range(len(values))
        if not internal[i] and values[i] is not MISSING and values[i] is not NOT_TAKEN
    )


def cut_short(plan: Plan, values: list[Any], failed: set[int]) -> tuple[str, ...]:
    """Steps of a cancelled run that were ready (running or queued) but never finished."""
    internal, deps = plan.internal, plan.deps
    return tuple(
        plan.paths[i]
        for i in range(len(values))
        if not internal[i]
        and values[i] is MISSING
        and i not in failed
        and all(values[j] is not MISSING for j in deps[i])
    )


def run_failure(
    plan: Plan, values: list[Any], failures: list[tuple[int, Any]], fail_fast: bool
) -> RunFailure[Any]:
    """The `RunFailure` of a run that ended with ``failures`` (a loop's reports its body's)."""
    paths, internal = plan.paths, plan.internal
    steps: list[StepFailure[Any]] = []
    nested_completed: list[str] = []
    for i, error in failures:
        not_run = tuple(
            paths[d] for d in plan.descendants([i]) if not internal[d] and values[d] is MISSING
        )
        if isinstance(error, NestedFailure):  # a loop: report the body's own steps
            inner = error.failure
            nested_completed.extend(inner.completed)
            steps.extend(
                StepFailure(f.step, f.error, (*f.not_run, paths[i], *not_run))
                for f in inner.failures
            )
        else:
            steps.append(StepFailure(step=paths[i], error=error, not_run=not_run))
    failed = {i for i, _ in failures}
    cancelled = cut_short(plan, values, failed) if fail_fast else ()
    done = tuple(nested_completed) + completed(plan, values)
    return RunFailure(failures=tuple(steps), completed=done, cancelled=cancelled)


def paused(plan: Plan, values: list[Any], pending: list[tuple[str, object]], run_id: str) -> Paused:
    """The outcome of a run that stopped at interrupts: ``pending`` is (path, prompt)."""
    answers = tuple(PendingAnswer(path, prompt) for path, prompt in pending)
    return Paused((), completed(plan, values), run_id=run_id, pending=answers)


def said_by_loops(failures: list[tuple[int, Any]]) -> set[str]:
    """Body steps a failed loop's own run sent ``skip`` for: the outer run must not repeat it."""
    said: set[str] = set()
    for _, error in failures:
        if isinstance(error, NestedFailure):
            inner = error.failure
            said.update(path for f in inner.failures for path in f.not_run)
            said.update(inner.cancelled)
    return said


def last_user_step(plan: Plan) -> int:
    """The user step nearest the output (whose value is a loop body's result)."""
    i = plan.output
    while plan.internal[i] and plan.deps[i]:
        i = plan.deps[i][0]
    return i


def finish_journal(journal: Journal, status: str, output: object) -> None:
    """Commit the journal and the run's outcome (blocking: runs in a worker thread)."""
    result_json = None
    if status == "succeeded":
        try:
            result_json = journal.dumps(journal.plan.output, output)
        except JournalError:
            result_json = None  # resumable from the step rows all the same
    if status == "succeeded":
        add_durations(journal)  # committed with the rows below
    journal.flush()
    store, token = journal.store, journal.token
    if token is None:
        store.finish_run(journal.run_id, status, result_json)  # type: ignore[arg-type]
    else:  # fenced, and the lease released in the same write
        store.finish_run(journal.run_id, status, result_json, token=token)  # type: ignore[arg-type]
        journal.released = True
