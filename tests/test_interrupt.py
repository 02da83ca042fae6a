"""Typed human-in-the-loop: interrupt pauses durably, resume checks answers with cattrs."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import _redis_server
import attrs
import pytest
import trio
from _stores import Opener
from returns.result import Success

from dagfn import (
    AlreadyAnswered,
    InvalidAnswer,
    InvalidArgument,
    Paused,
    PendingAnswer,
    RunFailure,
    interrupt,
    node,
    resume_sync,
    route,
    run_sync,
)
from dagfn.store import SqliteStore

redis_url = _redis_server.redis_url


@attrs.frozen
class Draft:
    text: str


@attrs.frozen
class Review:
    approved: bool
    note: str


@attrs.frozen
class Ask:
    question: str
    draft: Draft


def _review_graph(calls: Counter[str]) -> Any:
    """write -> review (interrupt) -> publish, with an independent slow branch joined last."""

    @node
    def write(topic: str) -> Draft:
        calls["write"] += 1
        return Draft(f"about {topic}")

    def ask_fn(d: Draft) -> Ask:
        calls["ask"] += 1
        return Ask("publish?", d)

    @node
    def publish(r: Review) -> str:
        calls["publish"] += 1
        return ("yes: " if r.approved else "no: ") + r.note

    @node
    async def index(topic: str) -> int:
        await trio.sleep(0.02)  # finishes after the interrupt was reached
        calls["index"] += 1
        return len(topic)

    def both(text: str, n: int) -> str:
        calls["both"] += 1
        return f"{text} ({n})"

    review = interrupt(ask_fn, answer=Review, name="review")
    return (write >> review >> publish & index).join(both, name="both")


def test_interrupt_pauses_after_everything_else_that_can_run(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    graph = _review_graph(calls)
    outcome = run_sync(graph, "cats", store=open_store(), run_id="p1")
    paused = outcome.failure()
    assert isinstance(paused, Paused) and isinstance(paused, RunFailure)
    assert paused.run_id == "p1"
    assert paused.step == "review"
    assert paused.prompt == Ask("publish?", Draft("about cats"))
    assert paused.pending == (PendingAnswer("review", Ask("publish?", Draft("about cats"))),)
    assert set(paused.completed) == {"write", "index"}
    assert "'p1'" in str(paused) and "'review'" in str(paused)
    # The independent branch finished before the run stopped.
    assert calls == Counter(write=1, ask=1, index=1)
    assert open_store().get_run("p1").status == "paused"


@pytest.mark.parametrize(
    "answer", [Review(True, "ship it"), {"approved": True, "note": "ship it"}], ids=["T", "dict"]
)
def test_resume_with_a_correct_answer_finishes_and_runs_nothing_twice(
    open_store: Opener, answer: object
) -> None:
    calls: Counter[str] = Counter()
    graph = _review_graph(calls)
    assert isinstance(run_sync(graph, "cats", store=open_store(), run_id="p").failure(), Paused)
    done = resume_sync(graph, "p", store=open_store(), answer=answer)
    assert done == Success("yes: ship it (4)")
    assert calls == Counter(write=1, ask=1, index=1, publish=1, both=1)
    assert open_store().get_run("p").status == "succeeded"
    # Finished: running it again returns the journaled result and calls nothing.
    assert run_sync(graph, "cats", store=open_store(), run_id="p") == done
    assert calls == Counter(write=1, ask=1, index=1, publish=1, both=1)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"approved": "yes", "note": "x"}, "approved"),  # no coercion of scalars
        ({"approved": True}, "note"),  # a missing field
        ({"approved": True, "note": "x", "extra": 1}, "extra"),  # an unknown key
        ("approve", "Review"),
        (Draft("not a review"), "Review"),
    ],
)
def test_a_wrong_answer_is_refused_and_the_run_stays_paused(
    sqlite: SqliteStore, answer: object, detail: str
) -> None:
    calls: Counter[str] = Counter()
    graph = _review_graph(calls)
    run_sync(graph, "cats", store=sqlite, run_id="w")
    before = sqlite.entries("w")
    with pytest.raises(InvalidAnswer, match=detail) as caught:
        resume_sync(graph, "w", store=sqlite, answer=answer)
    assert caught.value.step == "review"
    assert caught.value.expected_type is Review
    assert "stays paused" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    # Nothing recorded, nothing ran.
    assert sqlite.entries("w") == before
    assert sqlite.get_run("w").status == "paused"
    assert calls == Counter(write=1, ask=1, index=1)
    # A good answer afterwards works.
    good = resume_sync(graph, "w", store=sqlite, answer={"approved": False, "note": "later"})
    assert good == Success("no: later (4)")
    assert calls == Counter(write=1, ask=1, index=1, publish=1, both=1)


def _two_questions(calls: Counter[str]) -> Any:
    def ask_name(x: int) -> str:
        calls["ask_name"] += 1
        return "name?"

    def ask_size(x: int) -> str:
        calls["ask_size"] += 1
        return "size?"

    @node
    def start(x: int) -> int:
        calls["start"] += 1
        return x

    def combine(name: str, size: int) -> str:
        calls["combine"] += 1
        return f"{name}:{size}"

    name = interrupt(ask_name, answer=str)
    size = interrupt(ask_size, answer=int)
    return start >> (name & size).join(combine, name="combine")


def test_two_pending_interrupts_are_answered_by_step_path(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    graph = _two_questions(calls)
    paused = run_sync(graph, 1, store=open_store(), run_id="two").failure()
    assert isinstance(paused, Paused)
    assert {p.step: p.prompt for p in paused.pending} == {"ask_name": "name?", "ask_size": "size?"}
    with pytest.raises(InvalidArgument, match="'ask_name', 'ask_size'") as caught:
        resume_sync(graph, "two", store=open_store(), answer="bob")
    assert caught.value.argument == "answer"
    with pytest.raises(InvalidArgument, match="interrupts: 'ask_name', 'ask_size'"):
        resume_sync(graph, "two", store=open_store(), answers={"start": 1})
    done = resume_sync(graph, "two", store=open_store(), answers={"ask_name": "bob", "ask_size": 3})
    assert done == Success("bob:3")
    assert calls == Counter(start=1, ask_name=1, ask_size=1, combine=1)


def test_answering_one_of_two_interrupts_pauses_again_at_the_other(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    graph = _two_questions(calls)
    run_sync(graph, 1, store=sqlite, run_id="half")
    again = resume_sync(graph, "half", store=sqlite, answers={"ask_size": 7}).failure()
    assert isinstance(again, Paused)
    assert [p.step for p in again.pending] == ["ask_name"]
    # The second pause asked again (its prompt is recomputed), but nothing else ran.
    assert calls == Counter(start=1, ask_name=2, ask_size=1)
    assert resume_sync(graph, "half", store=sqlite, answer="ann") == Success("ann:7")
    assert calls == Counter(start=1, ask_name=2, ask_size=1, combine=1)


def test_a_bad_answer_among_several_records_none_of_them(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    graph = _two_questions(calls)
    run_sync(graph, 1, store=sqlite, run_id="bad")
    with pytest.raises(InvalidAnswer, match="ask_size"):
        resume_sync(graph, "bad", store=sqlite, answers={"ask_name": "bob", "ask_size": "3"})
    statuses = {p: e.status for p, e in sqlite.entries("bad").items()}
    assert statuses == {"start": "done", "ask_name": "paused", "ask_size": "paused"}


def test_answer_and_answers_together_or_a_step_not_paused_are_errors(
    sqlite: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()
    graph = _review_graph(calls)
    run_sync(graph, "x", store=sqlite, run_id="e")
    with pytest.raises(InvalidArgument, match="either answer= or answers="):
        resume_sync(graph, "e", store=sqlite, answer={}, answers={"review": {}})
    resume_sync(graph, "e", store=sqlite, answer=Review(True, "ok"))
    with pytest.raises(AlreadyAnswered, match="'review' of run 'e' was already answered") as seen:
        resume_sync(graph, "e", store=sqlite, answer=Review(True, "ok"))
    assert (seen.value.step, seen.value.run_id) == ("review", "e")
    with pytest.raises(AlreadyAnswered, match="'review'"):
        resume_sync(graph, "e", store=sqlite, answers={"review": Review(False, "no")})


def test_a_prompt_function_that_raises_is_a_step_failure(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()

    def ask(x: int) -> str:
        calls["ask"] += 1
        raise KeyError("no prompt")

    @node
    def after(a: str) -> str:
        calls["after"] += 1
        return a

    graph = node(_inc) >> interrupt(ask, answer=str) >> after
    failure = run_sync(graph, 1, store=sqlite, run_id="pf").failure()
    assert isinstance(failure, RunFailure) and not isinstance(failure, Paused)
    assert failure.step == "ask"
    assert isinstance(failure.error, KeyError)
    assert failure.not_run == ("after",)
    assert sqlite.get_run("pf").status == "failed"


def test_a_prompt_that_is_not_json_is_a_step_failure(sqlite: SqliteStore) -> None:
    def ask(x: int) -> object:
        return object()

    failure = run_sync(interrupt(ask, answer=str), 1, store=sqlite, run_id="pj").failure()
    assert isinstance(failure, RunFailure) and not isinstance(failure, Paused)
    assert failure.step == "ask"


def _inc(x: int) -> int:
    return x + 1


def test_an_interrupt_in_a_route_branch_pauses_only_when_taken(open_store: Opener) -> None:
    calls: Counter[str] = Counter()

    def pick(x: int) -> Literal["auto", "human"]:
        calls["pick"] += 1
        return "human" if x > 10 else "auto"

    @node
    def auto(x: int) -> int:
        calls["auto"] += 1
        return x

    def ask(x: int) -> str:
        calls["ask"] += 1
        return f"approve {x}?"

    @node
    def done(x: int) -> str:
        calls["done"] += 1
        return f"done {x}"

    graph = route(pick).cases({"auto": auto, "human": interrupt(ask, answer=int)}) >> done
    assert run_sync(graph, 1, store=open_store(), run_id="auto") == Success("done 1")
    paused = run_sync(graph, 50, store=open_store(), run_id="human").failure()
    assert isinstance(paused, Paused) and paused.step == "human/ask"
    assert paused.prompt == "approve 50?"
    assert resume_sync(graph, "human", store=open_store(), answer=49) == Success("done 49")
    assert calls == Counter(pick=2, auto=1, ask=1, done=2)


def test_running_a_paused_run_again_without_an_answer_pauses_again(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    graph = _review_graph(calls)
    run_sync(graph, "x", store=sqlite, run_id="again")
    still = run_sync(graph, "x", store=sqlite, run_id="again").failure()
    assert isinstance(still, Paused) and still.step == "review"
    assert calls == Counter(write=1, ask=2, index=1)


def test_an_interrupt_without_a_store_still_reports_a_pause() -> None:
    def ask(x: int) -> str:
        return "?"

    paused = run_sync(interrupt(ask, answer=int), 1).failure()
    assert isinstance(paused, Paused) and paused.run_id
