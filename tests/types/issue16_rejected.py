"""Mistakes that used to pass silently (issue 16): each marked line is rejected.

Every `# type: ignore[code]` is needed under mypy (with dagfn's plugin) and
under pyright strict (the few only mypy rejects are in ``mypy_only_rejected.py``).
Checked, never run.
"""

# mypy: enable-error-code="ignore-without-code"

from __future__ import annotations

import functools
from typing import Literal, Never, Protocol, TypeVar

import attrs
from returns.result import Failure, Result, Success

from dagfn import Builder, Graph, failure_of, interrupt, node, route, run, run_sync

T = TypeVar("T")


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Intent:
    factual: bool


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class Hits:
    docs: tuple[str, ...]


@attrs.frozen
class SearchDown(Exception):
    service: str


class HasUser(Protocol):
    @property
    def user(self) -> str: ...


@node
def parse(s: str) -> Query:
    return Query(s)


@node
def classify(q: Query) -> Intent:
    return Intent(True)


@node
def search(q: Query) -> Result[Hits, SearchDown]:
    return Success(Hits(()))


@node
def generate(h: Hits) -> Answer:
    return Answer(" ".join(h.docs))


@node
def dedupe(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def lambdas_without_context() -> None:
    node(lambda q: q.text.split())  # type: ignore[misc]
    to_text = node(lambda r: r.text)  # type: ignore[misc, var-annotated]
    (node(lambda q: q.text) & classify).join(lambda a, b: a)  # type: ignore[misc]


def generic_steps_are_checked() -> None:
    classify >> dedupe  # type: ignore[arg-type, operator]  # an Intent is not a tuple
    (parse >> classify).then(dedupe)  # type: ignore[arg-type]


def score(q: Query, weight: float) -> float:
    return weight


def bound_arguments() -> None:
    node.bind(score, "heavy")  # type: ignore[call-overload]
    node.bind(score, 0.5, extra=1)  # type: ignore[arg-type, call-arg]
    classify >> node.bind(score, 0.5)  # type: ignore[call-overload]
    classify >> node(functools.partial(score, weight=0.5))  # type: ignore[operator]


def ask(a: Answer) -> str:
    return a.text


def interrupts() -> None:
    review = interrupt(ask, answer=Literal["approve", "edit"])
    takes_bool: Graph[Answer, bool, Never] = review  # type: ignore[assignment]
    interrupt(ask, answer="approve")  # type: ignore[call-overload]


def read(s: str) -> Query:
    return Query(s)


def classify_fn(q: Query) -> Intent:
    return Intent(True)


def typed_builder() -> None:
    b = Builder(input=str, output=Query)
    b.add("read", read)
    built = b.build(output="read")
    built >> generate  # type: ignore[operator]  # a Query is not Hits
    b.add("classify", classify_fn)  # type: ignore[arg-type]  # a root step takes the input
    run_sync(built, Query("q"))  # type: ignore[arg-type]


def retry_on() -> None:
    search.retry(3, on=Hits)  # type: ignore[arg-type]  # neither the error nor an exception
    search.retry(3, on=(SearchDown, str))  # type: ignore[arg-type]
    classify.retry(3, on=int)  # type: ignore[arg-type]


def reading_failures() -> None:
    failure = failure_of(run_sync(search, Query("q")))
    if failure is not None:
        failure.error.service  # type: ignore[attr-defined]  # it may be any exception
        failure.error.docs  # type: ignore[attr-defined]


def fallbacks_and_routes() -> None:
    @node
    def personal(u: HasUser) -> Answer:
        return Answer(u.user)

    @node
    def about(i: Intent) -> Answer:
        return Answer("")

    @node
    def plain(q: Query) -> Answer:
        return Answer(q.text)

    plain | about  # type: ignore[operator]  # inputs that do not fit either way
    plain.recover(about)  # type: ignore[arg-type]
    plain | personal  # type: ignore[operator]  # Query has no user
    plain.recover(Hits(()))  # type: ignore[call-overload]


def by_kind(q: Query) -> Literal["a", "b"]:
    return "a"


@node
def answer_a(q: Query) -> Answer:
    return Answer("a")


@node
def answer_b(i: Intent) -> Answer:
    return Answer("b")


@node
def hits_b(q: Query) -> Hits:
    return Hits(())


def route_tables() -> None:
    route(by_kind).cases({"a": answer_a, "b": answer_b})  # type: ignore[dict-item]
    route(by_kind).cases({"a": answer_a, "c": answer_a})  # type: ignore[dict-item]
    g: Graph[Query, Answer, Never]
    g = route(by_kind).cases({"a": answer_a, "b": hits_b})  # type: ignore[assignment]


async def run_inputs() -> None:
    run_sync(parse >> classify, Query("q"))  # type: ignore[arg-type]
    await run(search, "q")  # type: ignore[arg-type]
    run_sync(generate, Failure("x"))  # type: ignore[arg-type]
