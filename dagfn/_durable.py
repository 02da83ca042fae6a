"""Resuming journaled runs: answers to interrupts, replays, and run history.

A run's journal lives in a store; these functions read it, add what a human
answered, and run the graph again under the same (or a new) run id, which
computes only the steps without an entry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
import trio
from returns.result import Result

from dagfn._convert import make_converter
from dagfn._errors import DagfnError, expected
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._interpret import run
from dagfn._journal import dumps, read_input
from dagfn._plan import Plan, plan_of
from dagfn._storage import Entry, RunInfo, Store

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")


class _NoAnswer:
    def __repr__(self) -> str:
        return "NO_ANSWER"


_NO_ANSWER: Final = _NoAnswer()


class InvalidAnswer(DagfnError, ValueError):
    """An answer given to `resume` does not fit the interrupt's answer type.

    Nothing was recorded: the run stays paused, ready for a correct answer.
    """

    def __init__(self, message: str, *, step: str, expected_type: object) -> None:
        super().__init__(message)
        self.step = step
        self.expected_type = expected_type


# Answers come from outside: no coercion of scalars, no unknown keys.
_answers: Final = make_converter(json=True, forbid_extra_keys=True, strict_scalars=True)


def _structure_answer(value: object, answer_type: Any, step: str) -> Any:
    data = (
        value
        if isinstance(value, dict | list | str | int | float | bool | None)
        else (_answers.unstructure(value))
    )
    try:
        return _answers.structure(data, answer_type)
    except Exception as error:
        detail = "; ".join(cattrs.transform_error(error)) or str(error)
        name = getattr(answer_type, "__name__", repr(answer_type))
        msg = (
            f"the answer for interrupt {step!r} does not fit {name}: {detail} "
            f"(got {value!r}); the run stays paused"
        )
        raise InvalidAnswer(msg, step=step, expected_type=answer_type) from error


async def resume(
    graph: Graph[I, O, E],
    run_id: str,
    *,
    store: Store,
    answer: object = _NO_ANSWER,
    answers: Mapping[str, object] | None = None,
    **options: Any,
) -> Result[O, RunFailure[E]]:
    """Continue a journaled run: answer its interrupts and run what is left.

    ``answer`` answers the one pending interrupt; with several pending, pass
    ``answers={step path: answer}``. An answer is a ``T`` or plain data that
    cattrs structures into ``T`` (no coercion: ``"yes"`` is not a bool); a
    wrong shape raises `InvalidAnswer` and records nothing, so the run stays
    paused. A run that crashed or failed resumes with no answer. Steps that
    finished before never run again. ``options`` are passed on to `run`.
    Raises `UnknownRunError` naming an unknown run id.
    """
    if "run_id" in options or "store" in options:
        raise expected("run options other than run_id and store", "options", options)
    plan = plan_of(graph)
    info: RunInfo = await trio.to_thread.run_sync(store.get_run, run_id)
    entries: dict[str, Entry] = await trio.to_thread.run_sync(store.entries, run_id)
    pending = {path for path, entry in entries.items() if entry.status == "paused"}
    given: dict[str, object] = dict(answers or {})
    if answer is not _NO_ANSWER:
        if answers:
            raise expected("either answer= or answers=, not both", "answers", answers)
        if len(pending) != 1:
            listed = ", ".join(sorted(map(repr, pending))) or "none"
            msg = f"exactly one pending interrupt for answer= (pending: {listed}); use answers="
            raise expected(msg, "answer", answer)
        given = {next(iter(pending)): answer}
    interrupts = _interrupts(plan)
    rows: list[Entry] = []
    for path, value in given.items():
        answer_type = interrupts.get(_without_iterations(path), _NO_ANSWER)
        if answer_type is _NO_ANSWER:
            known = ", ".join(sorted(map(repr, interrupts))) or "none"
            raise expected(f"the path of an interrupt step (interrupts: {known})", "answers", path)
        if path not in pending:
            msg = f"an interrupt waiting for an answer ({path!r} is not paused in {run_id!r})"
            raise expected(msg, "answers", path)
        typed = _structure_answer(value, answer_type, path)
        now = time.time()
        rows.append(Entry(path, "done", dumps(typed, path), now, now))
    for row in rows:
        store.record(run_id, row)
    await trio.to_thread.run_sync(store.flush)
    x = read_input(plan, info)
    return await run(graph, x, store=store, run_id=run_id, **options)


def _without_iterations(path: str) -> str:
    """``retrieval/ask#2#1`` -> ``retrieval/ask``, ``docs[3]/ask`` -> ``docs/ask``: the step a
    loop iteration's or an each element's path names."""
    return _ITERATIONS.sub("", path)


# A loop iteration's suffix (``#2``) or an each element's index (``[3]``) in a path.
_ITERATIONS: Final = re.compile(r"#\d+|\[\d+\]")


def _interrupts(plan: Plan) -> dict[str, Any]:
    """Answer types of every interrupt, in loop bodies too, by path without iterations."""
    found: dict[str, Any] = {}
    pending: list[tuple[Plan, str]] = [(plan, "")]
    while pending:
        p, prefix = pending.pop()
        for i, answer_type in p.pauses.items():
            found[prefix + p.paths[i]] = answer_type
        for i, spec in p.loops.items():
            loop_prefix = _without_iterations(prefix + p.paths[i]).rpartition("/")[0]
            pending.append((spec.body, f"{loop_prefix}/" if loop_prefix else ""))
        for i, each in p.eaches.items():
            pending.append((each.body, f"{_without_iterations(prefix + p.paths[i])}/"))
    return found


def resume_sync(
    graph: Graph[I, O, E],
    run_id: str,
    *,
    store: Store,
    answer: object = _NO_ANSWER,
    answers: Mapping[str, object] | None = None,
    **options: Any,
) -> Result[O, RunFailure[E]]:
    """`resume` from synchronous code."""

    async def main() -> Result[O, RunFailure[E]]:
        return await resume(graph, run_id, store=store, answer=answer, answers=answers, **options)

    return trio.run(main)


async def replay(
    graph: Graph[I, O, E],
    run_id: str,
    *,
    step: str,
    store: Store,
    new_run_id: str,
    **options: Any,
) -> Result[O, RunFailure[E]]:
    """Run again from ``step`` into ``new_run_id``: the steps of ``run_id`` that
    neither are ``step`` nor depend on it are reused; the rest run again (an each
    step with all its elements).

    Raises `InvalidArgument` for a step the graph does not have.
    """
    plan = plan_of(graph)
    index = {plan.paths[i]: i for i in plan.user_steps()}
    if step not in index:
        raise expected(f"a step of the graph ({len(index)} steps)", "step", step)
    again = [index[step], *plan.descendants([index[step]])]
    redo = {plan.paths[i] for i in again}
    # An each step runs again with all its elements: their rows are not copied either.
    elements = tuple(f"{plan.paths[i]}[" for i in again if i in plan.eaches)
    info: RunInfo = await trio.to_thread.run_sync(store.get_run, run_id)

    def keep(path: str) -> bool:
        return path not in redo and not path.startswith(elements)

    def copy() -> None:
        store.copy_run(run_id, new_run_id, keep=keep)

    await trio.to_thread.run_sync(copy)
    x = read_input(plan, info)
    return await run(graph, x, store=store, run_id=new_run_id, **options)


@attrs.frozen
class StepRow:
    """One step of a journaled run, for history views."""

    step: str
    status: str
    started_at: float
    finished_at: float
    attempts: int
    error: str | None


def history(store: Store, run_id: str) -> list[StepRow]:
    """A run's steps in the order they finished, with status and wall-clock times."""
    rows = [
        StepRow(e.path, e.status, e.started_at, e.finished_at, e.attempts, e.error)
        for e in store.entries(run_id).values()
    ]
    return sorted(rows, key=lambda r: (r.finished_at, r.step))
