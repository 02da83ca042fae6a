"""Ordinary use of every public feature, as a user writes it: all checks clean.

Loops, policies, limits, resumes, traces and the views, beside the core
operators (``core_ok.py`` pins those in detail). mypy with dagfn's plugin and
pyright strict must both accept every line. Checked, never run.
"""

from __future__ import annotations

import enum
import random
from typing import Literal, Never, assert_never, assert_type

import attrs
import trio
from returns.result import Failure, Result, Success

from dagfn import (
    Breaker,
    Event,
    Gathered,
    Graph,
    Limits,
    MaxStepsExceeded,
    Paused,
    RetryPolicy,
    RunFailure,
    StepTimeout,
    Trace,
    failure_of,
    gather,
    history,
    interrupt,
    loop,
    node,
    reduced,
    replay,
    resume,
    resume_sync,
    route,
    route_total,
    run,
    run_sync,
    to_mermaid,
    update,
)
from dagfn.executors import Threads
from dagfn.monoid import (
    All,
    AnyOf,
    Concat,
    Extend,
    First,
    Last,
    Max,
    Merge,
    Min,
    Product,
    SetUnion,
    Sum,
    record,
)
from dagfn.store import MemoryStore, SqliteStore


@attrs.frozen
class Ticket:
    text: str
    priority: int = 0


@attrs.frozen
class Draft:
    body: str
    score: float = 0.0


@attrs.frozen
class LLMDown:
    status: int


class Team(enum.Enum):
    BILLING = "billing"
    TECH = "tech"


# --- steps of every kind -------------------------------------------------------


@node
def triage(t: Ticket) -> Team:
    return Team.TECH


@node(name="write", retry=3, timeout=2.0, resource="llm")
async def write(t: Ticket) -> Result[Draft, LLMDown]:
    await trio.sleep(0)
    return Success(Draft(t.text))


@node(resource={"tokens": 800})
async def polish(d: Draft) -> Draft:
    return Draft(d.body.strip(), d.score)


@node
def grade(d: Draft) -> Result[Draft, str]:
    return Success(Draft(d.body, d.score + 1)) if d.body else Failure("empty")


def bill(t: Ticket) -> Draft:
    return Draft("billing: " + t.text)


assert_type(write, Graph[Ticket, Draft, LLMDown])
assert_type(polish, Graph[Draft, Draft, Never])
assert_type(write >> polish >> grade, Graph[Ticket, Draft, LLMDown | str])

# --- policies keep the type ----------------------------------------------------------

breaker = Breaker("llm", failures=5, cooldown=30.0)
guarded = (
    write.retry(4, backoff=0.2, factor=2.0, max_backoff=5.0, jitter=False, on=(LLMDown, OSError))
    .timeout(10.0)
    .on("llm", cost=1)
    .on("tokens", cost=800)
    .breaker(breaker)
    .via(Threads(4))
    .named("guarded")
)
assert_type(guarded, Graph[Ticket, Draft, LLMDown])
assert_type(write.breaker(failures=3, cooldown=1.0, name="w"), Graph[Ticket, Draft, LLMDown])
policy = RetryPolicy(2, 0.1, 2.0, 1.0, True, (OSError,))
assert_type(node(bill, retry=policy), Graph[Ticket, Draft, Never])
assert_type(write.recover(Draft("sorry")), Graph[Ticket, Draft, Never])
assert_type(write | node(bill), Graph[Ticket, Draft, Never])
assert_type((write >> polish).timeout(30.0), Graph[Ticket, Draft, LLMDown])

# --- fan-out, gather, fold ------------------------------------------------------------


@attrs.frozen
class Pair:
    first: Draft
    team: Team


assert_type((write & triage).join(Pair), Graph[Ticket, Pair, LLMDown])
drafts = gather([write, write.named("again"), node(bill)])
assert_type(drafts, Gathered[Ticket, Draft, LLMDown])
tuples: Graph[Ticket, tuple[Draft, ...], LLMDown] = drafts


@attrs.frozen
class Best:
    """A monoid of one's own: the longer draft."""

    def empty(self) -> Draft:
        return Draft("")

    def combine(self, a: Draft, b: Draft, /) -> Draft:
        return a if len(a.body) >= len(b.body) else b


assert_type(drafts.fold(Best()), Graph[Ticket, Draft, LLMDown])


@node
def length(t: Ticket) -> int:
    return len(t.text)


total = gather([length, length.named("l2")]).fold(Sum(), name="total")
assert_type(total, Graph[Ticket, int, Never])
assert_type(gather([length, length.named("l3")]).fold(Max(0)), Graph[Ticket, int, Never])

# --- routes -------------------------------------------------------------------------------


def team_of(t: Ticket) -> Team:
    return Team.BILLING if "invoice" in t.text else Team.TECH


async def urgent(t: Ticket) -> bool:
    return t.priority > 3


def handler(team: Team) -> Graph[Ticket, Draft, LLMDown]:
    match team:
        case Team.BILLING:
            return node(bill)
        case Team.TECH:
            return write
        case _:
            assert_never(team)


by_team = route(team_of).cases({Team.BILLING: node(bill), Team.TECH: write})
assert_type(by_team, Graph[Ticket, Draft, LLMDown])
assert_type(route(urgent).cases({True: write, False: node(bill)}), Graph[Ticket, Draft, LLMDown])
assert_type(route_total(team_of, handler), Graph[Ticket, Draft, LLMDown])

# --- state, update, loop -------------------------------------------------------------------


@attrs.frozen
class Work:
    notes: tuple[str, ...] = reduced(Concat())
    log: list[str] = reduced(Extend())  # noqa: RUF009
    seen: frozenset[str] = reduced(SetUnion())
    counts: dict[str, int] = reduced(Merge())  # noqa: RUF009
    steps: int = reduced(Sum())
    odds: float = reduced(Product())
    best: int = reduced(Max(0))
    worst: int = reduced(Min(100))
    ok: bool = reduced(All())
    flagged: bool = reduced(AnyOf())
    owner: str = reduced(First(""))
    status: str = reduced(Last(""))


@node
def take_note(w: Work) -> Work:
    return Work(notes=("note",), steps=1)


@node
def mark(w: Work) -> Work:
    return Work(status="marked", flagged=True)


def done(w: Work) -> bool:
    return w.steps >= 3


refine = loop(update(take_note, mark), until=done, max_steps=10, name="refine")
assert_type(refine, Graph[Work, Work, MaxStepsExceeded])
assert_type(record(Work).combine(Work(), Work(steps=1)), Work)

# --- interrupts, runs, resumes, history ------------------------------------------------------


def ask(d: Draft) -> str:
    return f"send {d.body!r}?"


approval = interrupt(ask, answer=bool, name="approve")
flow = write >> polish >> approval
assert_type(flow, Graph[Ticket, bool, LLMDown])


def on_event(e: Event) -> None:
    print(e.kind, e.step, e.at)


async def async_program() -> None:
    with SqliteStore("runs.sqlite") as store:
        result = await run(
            flow,
            Ticket("hi"),
            store=store,
            run_id="t-1",
            policy="fifo",
            limits=Limits(concurrency=4, resources={"llm": 2, "tokens": 4000}),
            fail_fast=False,
            on_event=on_event,
            rng=random.Random(0),
        )
        assert_type(result, Result[bool, RunFailure[LLMDown]])
        failure = failure_of(result)
        if isinstance(failure, Paused):
            print(failure.run_id, failure.step, failure.prompt)
            resumed = await resume(flow, failure.run_id, store=store, answer=True)
            assert_type(resumed, Result[bool, RunFailure[LLMDown]])
        elif failure is not None:
            for f in failure.failures:
                print(f.step, f.error, f.not_run)
            if isinstance(failure.error, StepTimeout):
                print("too slow")
        for row in history(store, "t-1"):
            print(row)
        again = await replay(flow, "t-1", step="polish", store=store, new_run_id="t-2")
        assert_type(again, Result[bool, RunFailure[LLMDown]])


def sync_program() -> None:
    trace = Trace()
    store = MemoryStore()
    result = run_sync(refine, Work(), on_event=trace, store=store)
    assert_type(result, Result[Work, RunFailure[MaxStepsExceeded]])
    match result:
        case Success(state):
            print(state.steps)
        case _:  # pyright strict wants this: `Result` is not a closed union
            failure = failure_of(result)
            if failure is not None and isinstance(failure.error, MaxStepsExceeded):
                print(failure.error.limit)
    print(trace.to_json(), to_mermaid(refine, trace))
    answered = resume_sync(flow, "t-1", store=store, answers={"approve": True})
    assert_type(answered, Result[bool, RunFailure[LLMDown]])


def keys() -> Literal["a"]:
    return "a"
