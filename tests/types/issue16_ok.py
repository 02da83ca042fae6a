"""Correct programs that checkers used to reject (issue 16), and the typed idioms that close holes.

Each must check clean under mypy (with ``plugins = dagfn.mypy``) and pyright strict.
Checked, never run: graphs are built at import (which runs nothing) and runs
sit in functions that are never called.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Never, Protocol, TypeVar, assert_type

import attrs
from returns.result import Failure, Result, Success

from dagfn import Builder, Graph, RunFailure, failure_of, interrupt, node, route, run_sync
from dagfn.store import MemoryStore

T = TypeVar("T")


@attrs.frozen
class Query:
    text: str
    user: str = ""


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class SearchDown(Exception):
    service: str


class HasText(Protocol):
    @property
    def text(self) -> str: ...


@node
def parse(s: str) -> Query:
    return Query(s)


@node
def words(q: Query) -> tuple[str, ...]:
    return tuple(q.text.split())


# --- a generic step stays generic in a pipeline ----------------------------------


@node
def dedupe(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def first_of(items: tuple[T, ...]) -> T:
    return items[0]


assert_type(parse >> words >> dedupe, Graph[str, tuple[str, ...], Never])
assert_type((parse >> words).then(dedupe), Graph[str, tuple[str, ...], Never])
assert_type(words >> dedupe >> node(first_of), Graph[Query, str, Never])

# --- a selector on a protocol routes branches on a record that implements it ------


def by_length(x: HasText) -> Literal["short", "long"]:
    return "short" if len(x.text) < 20 else "long"


@node
def short(q: Query) -> Answer:
    return Answer(q.text)


@node
def long(q: Query) -> Answer:
    return Answer(q.text[:20])


@node
def anything(x: HasText) -> Answer:
    return Answer(x.text)


assert_type(route(by_length).cases({"short": short, "long": long}), Graph[Query, Answer, Never])
# Branches of both kinds: the input is still the narrowest.
assert_type(route(by_length).cases({"short": anything, "long": long}), Graph[Query, Answer, Never])
routed = parse >> route(by_length).cases({"short": short, "long": long})
assert_type(routed, Graph[str, Answer, Never])

# --- a fallback with a narrower input, either way round ----------------------------


@node
def primary(x: HasText) -> Result[Answer, SearchDown]:
    return Success(Answer(x.text))


@node
def backup(q: Query) -> Answer:
    return Answer(q.text)


assert_type(primary | backup, Graph[Query, Answer, Never])
assert_type(backup | primary, Graph[Query, Answer, SearchDown])
assert_type(primary.recover(backup), Graph[Query, Answer, Never])
assert_type(backup.recover(primary), Graph[Query, Answer, SearchDown])
assert_type(parse >> (primary | backup), Graph[str, Answer, Never])

# --- an interrupt's answer may be any type form --------------------------------------


def ask(a: Answer) -> str:
    return f"publish {a.text!r}?"


review = interrupt(ask, answer=Literal["approve", "edit", "remove"])
assert_type(review, Graph[Answer, Literal["approve", "edit", "remove"], Never])
assert_type(interrupt(ask, answer=int | None), Graph[Answer, int | None, Never])
assert_type(interrupt(ask, answer=bool), Graph[Answer, bool, Never])


def decide(choice: Literal["approve", "edit", "remove"]) -> bool:
    return choice == "approve"


assert_type(backup >> review >> node(decide), Graph[Query, bool, Never])

# --- extra arguments: node.bind, functools.partial, lru_cache ------------------------


def score(q: Query, weight: float, *, boost: int = 0) -> float:
    return len(q.text) * weight + boost


async def fetch(q: Query, limit: int) -> Result[tuple[str, ...], SearchDown]:
    return Success((q.text,) * limit)


assert_type(node.bind(score, 0.5), Graph[Query, float, Never])
assert_type(node.bind(score, 0.5, boost=2), Graph[Query, float, Never])
assert_type(node.bind(fetch, 3), Graph[Query, tuple[str, ...], SearchDown])
assert_type(node(functools.partial(score, weight=0.5)), Graph[Query, float, Never])
assert_type(parse >> node.bind(score, 0.5).named("scored"), Graph[str, float, Never])


@functools.cache
def cached_len(text: str) -> int:
    return len(text)


# A cached function is a step of its own parameter type (mypy, with the plugin,
# infers Graph[str, ...]; pyright infers Graph[Hashable, ...], which fits here).
lengths: Graph[str, int, Never] = node(cached_len)

# --- a typed builder --------------------------------------------------------------


def read(s: str) -> Query:
    return Query(s)


def answer(q: Query) -> Answer:
    return Answer(q.text)


b = Builder(input=str, output=Answer)
b.add("read", read)
b.add("answer", answer, after=("read",))
built = b.build(output="answer")
assert_type(built, Graph[str, Answer, Any])


@node
def text_of(a: Answer) -> str:
    return a.text


assert_type(built >> text_of, Graph[str, str, Any])

# --- retry(on=) takes the step's error type or an exception -------------------------


@node
def flaky(q: Query) -> Result[Answer, SearchDown]:
    return Failure(SearchDown("search"))


@node
def soft(q: Query) -> Result[Answer, str]:
    return Failure("busy")


flaky.retry(3, on=SearchDown)
flaky.retry(3, on=(SearchDown, TimeoutError))
soft.retry(3, on=str)  # a Failure value of type str is retried too
backup.retry(2, on=TimeoutError)  # any step may raise

# --- reading a failure, typed --------------------------------------------------------


def read_failure() -> None:
    result = run_sync(parse >> flaky, "q")
    failure = failure_of(result)
    assert_type(failure, RunFailure[SearchDown] | None)
    if failure is not None:
        assert_type(failure.error, SearchDown | Exception)
        if isinstance(failure.error, SearchDown):
            print(failure.error.service, failure.step)
    match result:
        case Success(value):
            print(value)
        case _:
            pass


def run_with_store() -> None:
    with MemoryStore() as store:
        out = run_sync(backup >> review, Query("q"), store=store, run_id="r1")
        assert_type(out, Result[Literal["approve", "edit", "remove"], RunFailure[Never]])
