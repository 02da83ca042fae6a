"""Resuming journaled runs: answers to interrupts, replays, and run history.

A run's journal lives in a store; these functions read it, add what a human
answered, and run the graph again under the same (or a new) run id, which
computes only the steps without an entry.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
import trio
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_abstract_set,
    is_any_set,
    is_frozenset,
    is_mutable_sequence,
    is_namedtuple,
    is_sequence,
    is_set,
    list_structure_factory,
)
from returns.result import Result

from dagfn._convert import describe, make_converter, type_name
from dagfn._errors import DagfnError, InvalidArgument, expected
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._interpret import (
    launch,
    prepare,
    refuse_asyncio,
    refuse_inside_loop,
    run,
)
from dagfn._journal import dumps, read_input
from dagfn._lease import AlreadyAnswered
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


def _answer_converter() -> cattrs.Converter:
    """Answers come from outside: no coercion of scalars, no unknown keys, and no text
    taken apart: cattrs makes a list, set or tuple of any iterable (``"abc"`` would become
    ``['a', 'b', 'c']``) and bytes of base85 text; here a collection must be a list,
    tuple, set or frozenset, and bytes must be bytes."""
    converter = make_converter(json=True, forbid_extra_keys=True, strict_scalars=True)

    def inner(t: Any) -> Callable[[Any, Any], Any]:
        # cattrs' own hooks, in the order cattrs picks them (the first that fits wins).
        if _is_tuple(t):
            return converter._structure_tuple
        if is_frozenset(t) or is_abstract_set(t):
            return converter._structure_frozenset
        if is_set(t):
            return converter._structure_set
        if is_mutable_sequence(t):
            return list_structure_factory(t, converter)
        return homogenous_tuple_structure_factory(t, converter)

    def collection(t: Any) -> Callable[[Any, Any], Any]:
        structure = inner(t)

        def strictly(value: Any, cl: Any) -> Any:
            if not isinstance(value, list | tuple | set | frozenset):
                msg = f"expected a list, tuple or set, got {value!r} (type={type(value).__name__})"
                raise TypeError(msg)
            return structure(value, cl)

        return strictly

    def is_collection(t: Any) -> bool:
        return not is_namedtuple(t) and (_is_tuple(t) or is_any_set(t) or is_sequence(t))

    def strict_bytes(value: object, _: type) -> bytes:
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        raise TypeError(f"expected bytes, got {value!r} (type={type(value).__name__})")

    converter.register_structure_hook_factory(is_collection, collection)
    converter.register_structure_hook(bytes, strict_bytes)
    # A `T` given as the answer is unstructured to plain data (then checked like
    # plain data), keeping its bytes as bytes.
    converter.register_unstructure_hook(bytes, bytes)
    return converter


def _is_tuple(t: Any) -> bool:
    return (typing.get_origin(t) or t) is tuple


_answers: Final = _answer_converter()


def structure_answer(value: object, answer_type: Any, step: str) -> Any:
    """``value`` structured into ``answer_type`` strictly; `InvalidAnswer` naming ``step``."""
    plain = isinstance(value, dict | list | str | bytes | int | float | bool | None)
    data = value if plain else _answers.unstructure(value)
    try:
        return _answers.structure(data, answer_type)
    except Exception as error:
        detail = describe(error, "answer")
        msg = (
            f"the answer for interrupt {step!r} does not fit {type_name(answer_type)}: {detail} "
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
    cattrs structures into ``T`` strictly (``"yes"`` is not a bool, a str is
    not a list, bytes are not text); a wrong shape raises `InvalidAnswer`.
    Answering is a compare-and-set on the pause: the first answer takes
    effect, a later one raises `AlreadyAnswered` naming the step. The answer
    is recorded only once the resume owns the run (see `run`'s ``wait``) and
    its graph and answers are checked: a resume that fails before (`GraphChanged`,
    `InvalidAnswer`, a crash) records nothing, so the run stays paused. A run
    that crashed or failed resumes with no answer. Steps that finished before
    never run again. ``options`` are passed on to `run` (``wait``, ``lease``...).
    Raises `UnknownRunError` naming an unknown run id.
    """
    refuse_asyncio("resume")
    if "run_id" in options or "store" in options:
        raise expected("run options other than run_id and store", "options", options)
    if answer is not _NO_ANSWER and answers:
        raise expected("either answer= or answers=, not both", "answers", answers)
    plan = plan_of(graph)
    info: RunInfo = await trio.to_thread.run_sync(store.get_run, run_id)
    x = read_input(plan, info)
    given: dict[str, object] = dict(answers or {})
    interrupts = _interrupts(plan)

    def answering(entries: dict[str, Entry]) -> list[Entry]:
        pending = {path for path, entry in entries.items() if entry.status == "paused"}
        if answer is not _NO_ANSWER:
            if len(pending) != 1:
                _refuse_answered(run_id, entries, interrupts)
                if not pending:
                    msg = (
                        f"run {run_id!r} is not paused (its status is {info.status!r}): no "
                        "interrupt waits for an answer; run it again without an answer to get "
                        "its result"
                    )
                    raise InvalidArgument(msg, argument="answer")
                listed = ", ".join(sorted(map(repr, pending))) or "none"
                msg = f"exactly one pending interrupt for answer= (pending: {listed}); use answers="
                raise expected(msg, "answer", answer)
            given[next(iter(pending))] = answer
        rows: list[Entry] = []
        for path, value in given.items():
            answer_type = interrupts.get(_without_iterations(path), _NO_ANSWER)
            if answer_type is _NO_ANSWER:
                known = ", ".join(sorted(map(repr, interrupts))) or "none"
                msg = f"the path of an interrupt step (interrupts: {known})"
                raise expected(msg, "answers", path)
            if path not in pending:
                if path in entries and entries[path].status == "done":
                    raise AlreadyAnswered(run_id, path)
                msg = f"an interrupt waiting for an answer ({path!r} is not paused in {run_id!r})"
                raise expected(msg, "answers", path)
            typed = structure_answer(value, answer_type, path)
            now = time.time()
            rows.append(Entry(path, "done", dumps(typed, path), now, now))
        return rows

    execution = prepare(graph, store, run_id, options)
    return await launch(execution, x, store, run_id, options, answering)


def _refuse_answered(run_id: str, entries: dict[str, Entry], interrupts: dict[str, Any]) -> None:
    """`AlreadyAnswered` for ``answer=`` when nothing is paused but an interrupt was answered."""
    for path, entry in entries.items():
        if entry.status == "done" and _without_iterations(path) in interrupts:
            raise AlreadyAnswered(run_id, path)


def _without_iterations(path: str) -> str:
    """``retrieval/ask#2#1`` -> ``retrieval/ask``: the step a loop iteration's path names."""
    prefix, sep, last = path.rpartition("/")
    return f"{prefix}{sep}{last.partition('#')[0]}"


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
    """`resume` from synchronous code (`WrongLoop` inside a running trio or asyncio loop)."""
    refuse_inside_loop("resume_sync")

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
    neither are ``step`` nor depend on it are reused; the rest run again.

    Raises `InvalidArgument` for a step the graph does not have.
    """
    plan = plan_of(graph)
    index = {plan.paths[i]: i for i in plan.user_steps()}
    if step not in index:
        raise expected(f"a step of the graph ({len(index)} steps)", "step", step)
    redo = {plan.paths[i] for i in plan.descendants([index[step]])} | {step}
    info: RunInfo = await trio.to_thread.run_sync(store.get_run, run_id)

    def copy() -> None:
        store.copy_run(run_id, new_run_id, keep=lambda path: path not in redo)

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
