"""Correct programs over variance and structural (Protocol) inputs.

`Graph[I, O, E]` is contravariant in `I` and covariant in `O` and `E`: a graph
that accepts more, returns less or fails less fits where the other is wanted.
"""

from __future__ import annotations

from typing import Never, Protocol, assert_type

import attrs
from returns.result import Result, Success

from dagfn import Fan, Graph, gather, node, route, run_sync


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class UserQuery(Query):
    user: str


@attrs.frozen
class Base:
    score: float


@attrs.frozen
class Sub(Base):
    label: str


@attrs.frozen
class SearchDown:
    service: str


@attrs.frozen
class Timeout(SearchDown):
    seconds: float


class HasText(Protocol):
    """A structural input: anything with a readable ``text: str``."""

    @property
    def text(self) -> str: ...


class HasTextAndUser(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def user(self) -> str: ...


@attrs.frozen
class Document:
    """Not a Query subclass, but has the members HasText asks for."""

    text: str
    source: str


@node
def anything(x: object) -> Sub:
    return Sub(1.0, "any")


@node
def fetch(q: Query) -> Result[Document, Timeout]:
    return Success(Document(q.text, "web"))


@node
def score(s: HasText) -> Sub:
    return Sub(float(len(s.text)), "len")


@node
def personal(s: HasTextAndUser) -> Base:
    return Base(0.0)


@node
def to_user(q: Query) -> UserQuery:
    return UserQuery(q.text, "me")


# --- variance: Graph[object, Sub, Never] fits Graph[Query, Base, E] ----------


def takes(g: Graph[Query, Base, SearchDown]) -> Graph[Query, Base, SearchDown]:
    return g


assert_type(anything, Graph[object, Sub, Never])
assert_type(takes(anything), Graph[Query, Base, SearchDown])
assert_type(takes(score), Graph[Query, Base, SearchDown])
assert_type(takes(fetch >> score), Graph[Query, Base, SearchDown])  # Timeout <: SearchDown
wider: Graph[UserQuery, object, object] = anything
as_base: Graph[Query, Base, Never] = anything

# A narrower output feeds a wider input: Sub into a step taking object.
assert_type(anything >> anything, Graph[object, Sub, Never])
assert_type(to_user >> fetch, Graph[Query, Document, Timeout])  # UserQuery into Query

# A list or table of graphs of one declared (wider) type.
scorers: list[Graph[Query, Base, Never]] = [anything, score, to_user >> personal]
gathered: Graph[Query, tuple[Base, ...], Never] = gather(scorers)


def by_len(q: Query) -> bool:
    return len(q.text) > 3


assert_type(route(by_len).cases({True: anything, False: anything}), Graph[Query, Sub, Never])


# --- Protocol inputs: structural, read-only properties -----------------------

# A frozen attrs class with a `text` field fits HasText without naming it.
assert_type(fetch >> score, Graph[Query, Sub, Timeout])
assert_type(node(Query) >> score, Graph[str, Sub, Never])
# UserQuery has both members of HasTextAndUser.
assert_type(to_user >> personal, Graph[Query, Base, Never])

# A step on a Protocol composes at the front too: the chain takes the Protocol.
assert_type(score >> anything, Graph[HasText, Sub, Never])


def check_run_sync() -> None:
    """Not called: importing a type test runs no graph."""
    assert_type(run_sync(score >> anything, Query("q")).unwrap(), Sub)
    assert_type(run_sync(score >> anything, Document("q", "web")).unwrap(), Sub)


# --- & with inputs of different width ----------------------------------------

assert_type(to_user & anything, Fan[Query, Never, UserQuery, Sub])
assert_type(score & anything, Fan[HasText, Never, Sub, Sub])
assert_type(fetch & score, Fan[Query, Timeout, Document, Sub])
# A wider input on the left takes the narrower input of the right operand.
assert_type(anything & to_user, Fan[Query, Never, Sub, UserQuery])
assert_type(anything & fetch & score, Fan[Query, Timeout, Sub, Document, Sub])
assert_type(to_user & anything & fetch, Fan[Query, Timeout, UserQuery, Sub, Document])
assert_type(anything & score & fetch, Fan[Query, Timeout, Sub, Sub, Document])
assert_type(anything & score, Fan[HasText, Never, Sub, Sub])
assert_type((anything & to_user).join(lambda s, u: u), Graph[Query, UserQuery, Never])


def describe(a: object, b: Query) -> str:
    return f"{a} {b.text}"


# A join function may take wider parameter types than the branch outputs.
assert_type((anything & to_user).join(describe), Graph[Query, str, Never])
