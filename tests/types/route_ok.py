"""Correct programs over `route(selector).cases({...})` and `route_total`.

The key type comes from the selector's return annotation (a Literal, an Enum
or bool); all branches share the route's input and output types.
"""

from __future__ import annotations

import enum
from typing import Literal, Never, assert_never, assert_type

import attrs
from returns.result import Failure, Result, Success

from dagfn import Graph, Router, RunFailure, node, route, route_total, run_sync

Kind = Literal["factual", "chat"]


class Tier(enum.Enum):
    FREE = "free"
    PAID = "paid"


@attrs.frozen
class Query:
    text: str
    kind: Kind
    tier: Tier


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class SearchDown:
    service: str


@attrs.frozen
class Refused:
    reason: str


def by_kind(q: Query) -> Kind:
    return q.kind


async def by_kind_async(q: Query) -> Kind:
    return q.kind


def by_tier(q: Query) -> Tier:
    return q.tier


async def by_tier_async(q: Query) -> Tier:
    return q.tier


def is_long(q: Query) -> bool:
    return len(q.text) > 100


@node
async def rag(q: Query) -> Result[Answer, SearchDown]:
    return Failure(SearchDown("vectors"))


@node
def chat(q: Query) -> Answer:
    return Answer("hello")


@node
def cheap(q: Query) -> Answer:
    return Answer("short")


@node
def careful(q: Query) -> Result[Answer, Refused]:
    return Success(Answer("long"))


# The selector fixes the router's input and key types (sync or async).
assert_type(route(by_kind), Router[Query, Literal["factual", "chat"]])
assert_type(route(by_kind_async), Router[Query, Literal["factual", "chat"]])
assert_type(route(by_tier), Router[Query, Tier])
assert_type(route(by_tier_async), Router[Query, Tier])
assert_type(route(is_long), Router[Query, bool])

# --- cases with Literal keys, Enum keys and bool keys ------------------------

by_literal = route(by_kind).cases({"factual": rag, "chat": chat})
assert_type(by_literal, Graph[Query, Answer, SearchDown])
assert_type(
    route(by_kind_async).cases({"factual": rag, "chat": chat}), Graph[Query, Answer, SearchDown]
)
assert_type(route(by_kind).cases({"chat": chat}), Graph[Query, Answer, Never])

by_enum = route(by_tier).cases({Tier.FREE: cheap, Tier.PAID: chat})
assert_type(by_enum, Graph[Query, Answer, Never])
assert_type(route(by_tier_async).cases({Tier.FREE: cheap}), Graph[Query, Answer, Never])

assert_type(route(is_long).cases({True: rag, False: chat}), Graph[Query, Answer, SearchDown])

# A table built elsewhere, with the key type spelled out.
table: dict[Tier, Graph[Query, Answer, SearchDown]] = {Tier.FREE: cheap, Tier.PAID: rag}
assert_type(route(by_tier).cases(table), Graph[Query, Answer, SearchDown])

# Branches with different error types join to `object` in a dict literal (a
# mypy join, not a union); a declared type keeps the union.
mixed: Graph[Query, Answer, SearchDown | Refused] = route(by_kind).cases(
    {"factual": rag, "chat": careful}
)


def text_of(a: Answer) -> str:
    return a.text


# A route is a graph like any other: chain it, fan it, name it, run it.
assert_type(by_literal >> node(text_of), Graph[Query, str, SearchDown])
assert_type(by_literal.named("answer"), Graph[Query, Answer, SearchDown])
assert_type(
    (by_literal & by_enum).join(lambda a, b: Answer(a.text + b.text)),
    Graph[Query, Answer, SearchDown],
)


def check_run_sync() -> None:
    """Not called: importing a type test runs no graph."""
    query = Query("q", "chat", Tier.FREE)
    assert_type(run_sync(by_literal, query), Result[Answer, RunFailure[SearchDown]])


# --- route_total: match + assert_never proves the table exhaustive -----------


def kind_table(kind: Kind) -> Graph[Query, Answer, SearchDown]:
    match kind:
        case "factual":
            return rag
        case "chat":
            return chat
        case _:
            assert_never(kind)


def tier_table(tier: Tier) -> Graph[Query, Answer, Refused]:
    match tier:
        case Tier.FREE:
            return cheap
        case Tier.PAID:
            return careful
        case _:
            assert_never(tier)


assert_type(route_total(by_kind, kind_table), Graph[Query, Answer, SearchDown])
assert_type(route_total(by_kind_async, kind_table), Graph[Query, Answer, SearchDown])
assert_type(route_total(by_tier, tier_table), Graph[Query, Answer, Refused])
assert_type(route_total(by_tier_async, tier_table), Graph[Query, Answer, Refused])
assert_type(
    route_total(is_long, lambda long: careful if long else cheap), Graph[Query, Answer, Refused]
)
