"""Programs mypy must reject: each marked line is a planted edge bug.

Every `# type: ignore[code]` below is needed (the config sets
warn_unused_ignores, so an ignore that silences nothing is itself an error):
each line proves that mypy reports that exact error code there. Checked, never run.
"""

# mypy: enable-error-code="ignore-without-code"

from __future__ import annotations

import enum
from typing import Literal, Never, Protocol, assert_never

import attrs
from returns.result import Result, Success

from dagfn import Graph, gather, node, route, route_total, run, run_sync


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Intent:
    factual: bool


@attrs.frozen
class Hits:
    docs: tuple[str, ...]


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class SearchDown:
    service: str


class Tier(enum.Enum):
    FREE = "free"
    PAID = "paid"


class HasTextAndUser(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def user(self) -> str: ...


class MutableText(Protocol):
    text: str  # a settable attribute, unlike the read-only properties above


@node
def parse(text: str) -> Query:
    return Query(text)


@node
def classify(q: Query) -> Intent:
    return Intent(factual=True)


@node
def keyword(q: Query) -> Result[Hits, SearchDown]:
    return Success(Hits(()))


@node
def generate(h: Hits) -> Answer:
    return Answer(" ".join(h.docs))


@node
def personal(q: HasTextAndUser) -> Hits:
    return Hits((q.user,))


@node
def edit(q: MutableText) -> Hits:
    return Hits((q.text,))


def rerank(a: Hits, b: Intent) -> Hits:
    return a


async def rerank_async(a: Hits, b: Intent) -> Result[Hits, SearchDown]:
    return Success(a)


def promote_fn(h: Hits) -> Answer:
    return Answer(" ".join(h.docs))


def one(a: Hits) -> Hits:
    return a


def rerank3(a: Hits, b: Intent, c: Intent) -> Hits:
    return a


def unwrap_hits(r: Result[Hits, SearchDown]) -> Hits:
    return r.unwrap()


def keyword_answer_fn(q: Query) -> Answer:
    return Answer(q.text)


to_answer = node(keyword_answer_fn)


@node
def answer_intent(i: Intent) -> Answer:
    return Answer(str(i.factual))


def tier_table(t: Tier) -> Graph[Intent, Answer, Never]:
    return answer_intent


def by_kind(i: Intent) -> Literal["factual", "chat"]:
    return "factual" if i.factual else "chat"


def by_tier(q: Query) -> Tier:
    return Tier.FREE


def needs_infallible(g: Graph[int, int, Never]) -> None: ...


def two(a: int, b: int) -> int:
    return a + b


def zero() -> int:
    return 0


@node
def risky(x: int) -> Result[int, ValueError]:
    return Success(x)


@node
def inc(x: int) -> int:
    return x + 1


# Each function below is one kind of planted bug, never called: importing this
# module (pytest --doctest-modules does) runs nothing.


def rshift_output_does_not_fit_input() -> None:
    classify >> generate  # type: ignore[operator]
    classify.then(generate)  # type: ignore[arg-type]
    parse >> parse  # type: ignore[operator]
    # A step's input is the upstream's output, not the graph's input.
    parse >> keyword >> classify  # type: ignore[operator]
    # A Result-returning step's output is its Success value, not the Result.
    # (With `>>` as context, mypy reports it on node's argument.)
    keyword >> node(unwrap_hits)  # type: ignore[operator]
    keyword >> node(lambda r: r.unwrap())  # type: ignore[attr-defined]
    # A plain function is not a graph: wrap it in node().
    keyword >> promote_fn  # type: ignore[operator]
    keyword.then(promote_fn)  # type: ignore[arg-type]


def join_arity_and_order() -> None:
    (keyword & classify).join(rerank)  # fits: (Hits, Intent)
    (keyword & classify).join(one)  # type: ignore[arg-type]
    (keyword & classify).join(rerank3)  # type: ignore[arg-type]
    (keyword & classify & classify).join(rerank)  # type: ignore[arg-type]
    (classify & keyword).join(rerank)  # type: ignore[arg-type]
    (keyword & classify).join(two)  # type: ignore[arg-type]
    (keyword & classify).join(rerank_async, name="r")  # fits
    (classify & keyword).join(rerank_async, name="r")  # type: ignore[arg-type]
    (keyword & classify).join(lambda a: a)  # type: ignore[arg-type, misc]
    (keyword & classify).join(keyword)  # type: ignore[call-overload]


def fan_misuse() -> None:
    # A fan is not a graph until it is joined.
    (keyword & classify) >> generate  # type: ignore[operator]
    run_sync(keyword & classify, Query("q"))  # type: ignore[arg-type]
    # Branches must share an input, and fans stay flat.
    parse & keyword  # type: ignore[operator]
    keyword & (classify & classify)  # type: ignore[operator]


def route_keys_and_branches() -> None:
    route(by_kind).cases({"factul": answer_intent})  # type: ignore[dict-item]
    route(by_kind).cases({"Factual": answer_intent})  # type: ignore[dict-item]
    route(by_tier).cases({"free": classify})  # type: ignore[dict-item]
    route(by_tier).cases({Tier.FREE: classify, "paid": classify})  # type: ignore[dict-item]
    route(by_kind).cases({True: answer_intent})  # type: ignore[dict-item]
    route(by_tier).cases({Tier.FREE: generate})  # type: ignore[dict-item]
    route(by_kind).cases(["factual"])  # type: ignore[call-overload]
    # The route's input is the selector's input; a router is not a graph.
    parse >> route(by_kind).cases({"chat": answer_intent})  # type: ignore[operator]
    parse >> route(by_tier)  # type: ignore[operator]
    # Branches with different outputs: the route outputs either (with dagfn's
    # plugin, the union; mypy alone: `object`), which a declared type rejects.
    answers: Graph[Query, Answer, Never]
    answers = route(by_tier).cases({Tier.FREE: to_answer, Tier.PAID: classify})  # type: ignore[assignment]
    # route_total's table must take the selector's key type.
    route_total(by_kind, tier_table)  # type: ignore[misc]


def partial_table(k: Literal["factual", "chat"]) -> Graph[Intent, Answer, Never]:
    """A route_total table with a case left out: assert_never sees the leftover key."""
    match k:
        case "factual":
            return answer_intent
        case _:
            assert_never(k)  # type: ignore[arg-type]


def gather_one_output_type() -> None:
    hits: Graph[Query, tuple[Hits, ...], Never] = gather([keyword, classify])  # type: ignore[list-item]
    gather(keyword)  # type: ignore[arg-type]


async def run_input_does_not_fit() -> None:
    # With dagfn's plugin: 'run_sync: the graph takes "Query", but the input
    # given is "str"' [arg-type] (mypy alone: 'Cannot infer value of type parameter').
    run_sync(keyword, "q")  # type: ignore[arg-type]
    run_sync(keyword, Intent(True))  # type: ignore[arg-type]
    await run(parse, Query("q"))  # type: ignore[arg-type]
    run_sync(keyword)  # type: ignore[call-arg]
    run_sync(keyword, Query("q"), failfast=True)  # type: ignore[call-arg]
    # The result is a Result, not the output; and run must be awaited.
    answer: Answer = run_sync(keyword >> generate, Query("q"))  # type: ignore[assignment]
    result: Result[Answer, object] = run(keyword >> generate, Query("q"))  # type: ignore[assignment]


def fallible_where_infallible_required() -> None:
    needs_infallible(inc)  # fits
    needs_infallible(risky)  # type: ignore[arg-type]
    needs_infallible(inc >> risky >> inc)  # type: ignore[arg-type]
    infallible: Graph[Query, Hits, Never] = keyword  # type: ignore[assignment]
    other_error: Graph[Query, Hits, KeyError] = keyword  # type: ignore[assignment]


def variance() -> None:
    # A wider output or a narrower input does not fit.
    wider_out: Graph[Query, Answer, Never] = classify  # type: ignore[assignment]
    narrower_in: Graph[object, Intent, Never] = classify  # type: ignore[assignment]


def protocol_inputs() -> None:
    # Query has `text` but no `user`.
    parse >> personal  # type: ignore[operator]
    # A settable Protocol attribute does not fit a frozen attrs field: use a property.
    parse >> edit  # type: ignore[operator]


def node_takes_one_argument_functions() -> None:
    node(two)  # type: ignore[arg-type]
    node(zero)  # type: ignore[arg-type]
    node(name="sum")(two)  # type: ignore[arg-type]
    node(keyword)  # type: ignore[call-overload]
    node(name=3)  # type: ignore[call-overload]
    node(two, retry=3)  # type: ignore[arg-type]
    node(timeout="2s")  # type: ignore[call-overload]
    node(resource=["llm"])  # type: ignore[call-overload]
    node(retry=1.5)  # type: ignore[call-overload]
    keyword.named(3)  # type: ignore[arg-type]
