"""Realistic programs in less common but correct shapes: both checkers accept them.

Generic and async steps, partials and bound methods, factories of graphs,
generic helpers over graphs, loops over state, type-form answers, exhaustive
routes. Checked, never run (the graphs are built at import; nothing runs them).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal, Never, Protocol, TypeVar, assert_type

import attrs
from returns.result import Failure, Result, Success

from dagfn import (
    Builder,
    Graph,
    MaxStepsExceeded,
    gather,
    interrupt,
    loop,
    node,
    reduced,
    route,
    route_total,
    to_mermaid,
    update,
)
from dagfn.monoid import Concat, Sum

T = TypeVar("T")
In = TypeVar("In")
Out = TypeVar("Out")
Err = TypeVar("Err")


@attrs.frozen
class Doc:
    id: str
    text: str


@attrs.frozen
class Query:
    text: str
    user: str = ""


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class Cited(Answer):
    sources: tuple[str, ...] = ()


@attrs.frozen
class LLMDown(Exception):
    model: str


class HasText(Protocol):
    @property
    def text(self) -> str: ...


@node
async def fetch(q: Query) -> tuple[Doc, ...]:
    return (Doc("1", q.text),)


@node
async def unique(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def pair(a: T, b: T) -> tuple[T, T]:
    return (a, b)


def top(docs: Sequence[Doc]) -> Doc:
    return docs[0]


assert_type(fetch >> unique, Graph[Query, tuple[Doc, ...], Never])
assert_type(fetch >> unique >> node(top), Graph[Query, Doc, Never])
assert_type(
    (fetch & fetch.named("again")).join(pair),
    Graph[Query, tuple[tuple[Doc, ...], tuple[Doc, ...]], Never],
)


async def call_llm(q: HasText, model: str, *, temperature: float = 0.0) -> Result[Answer, LLMDown]:
    return Success(Answer(q.text)) if model else Failure(LLMDown(model))


def make(model: str) -> Graph[Query, Answer, LLMDown]:
    return node.bind(call_llm, model, temperature=0.2).named(model)


models = ["small", "large"]
answers: Graph[Query, tuple[Answer, ...], LLMDown] = gather([make(m) for m in models])
assert_type(node(functools.partial(call_llm, model="x")), Graph[HasText, Answer, LLMDown])


def retrying(g: Graph[In, Out, Err]) -> Graph[In, Out, Err]:
    return g.retry(3).timeout(5.0)


assert_type(retrying(make("m")), Graph[Query, Answer, LLMDown])
assert_type(node(Answer), Graph[str, Answer, Never])


class Scorer:
    def __init__(self, weight: float) -> None:
        self.weight = weight

    def __call__(self, a: Answer) -> float:
        return len(a.text) * self.weight

    def score(self, a: Answer) -> float:
        return self.weight


assert_type(node(Scorer(0.5)), Graph[Answer, float, Never])
assert_type(node(Scorer(0.5).score), Graph[Answer, float, Never])
assert_type(make("m") >> node(Scorer(1.0)), Graph[Query, float, LLMDown])
assert_type(make("m").recover(Cited("sorry")), Graph[Query, Answer, Never])


def echo(q: Query) -> Answer:
    return Answer(q.text)


assert_type(make("a") | make("b") | node(echo), Graph[Query, Answer, Never])
assert_type(make("a").named("first") | node(echo), Graph[Query, Answer, Never])


@attrs.frozen
class Chat:
    turns: tuple[str, ...] = reduced(Concat())
    tokens: int = reduced(Sum())
    done: bool = False


@node
async def reply(c: Chat) -> Result[Chat, LLMDown]:
    return Success(Chat(turns=("hi",), tokens=10))


@node
def count(c: Chat) -> Chat:
    return Chat(tokens=1)


def finished(c: Chat) -> bool:
    return c.tokens > 100


conversation = loop(update(reply, count), until=finished, max_steps=20)
chat2 = loop(update(reply), until=lambda c: c.tokens > 3, max_steps=5)
many = update(*(count.named(f"c{k}") for k in range(7)))
assert_type(many, Graph[Chat, Chat, Never])
assert_type(conversation, Graph[Chat, Chat, LLMDown | MaxStepsExceeded])
composite = update(count >> count.named("again"))


def ask(c: Chat) -> str:
    return c.turns[-1]


approve = interrupt(ask, answer=bool)
asked = conversation >> approve
# (pyright types a lambda's parameter as `object` even here: write a def.)


def mood(c: Chat) -> Literal["happy", "sad"]:
    return "happy"


def table(k: Literal["happy", "sad"]) -> Graph[Chat, Chat, LLMDown]:
    match k:
        case "happy":
            return reply
        case "sad":
            return update(count)


routed = route_total(mood, table)
assert_type(routed, Graph[Chat, Chat, LLMDown])
drawing = to_mermaid(routed)


def is_long(x: HasText) -> bool:
    return len(x.text) > 10


short_or_long = route(is_long).cases({True: make("large"), False: node(echo)})
assert_type(short_or_long, Graph[Query, Answer, LLMDown])


# A gathered graph feeds a step that takes the tuple (its output as a Graph).
def total(counts: tuple[int, ...]) -> int:
    return sum(counts)


@node
def size(q: Query) -> int:
    return len(q.text)


sizes = gather([size, size.named("again")])
summed = node(total)
assert_type(sizes >> summed, Graph[Query, int, Never])
assert_type(sizes >> node(total), Graph[Query, int, Never])
assert_type(sizes.then(summed), Graph[Query, int, Never])


# A join function with optional parameters; an update node typed on a protocol
# of the state; a route whose branches output different types (the union).
def merge(a: Answer, b: Answer, limit: int = 3) -> Answer:
    return Answer(a.text[:limit] + b.text)


assert_type((make("a") & make("b")).join(merge), Graph[Query, Answer, LLMDown])


class HasTokens(Protocol):
    @property
    def tokens(self) -> int: ...


@node
def budget(c: HasTokens) -> Chat:
    return Chat(tokens=-c.tokens if c.tokens > 100 else 0)


assert_type(update(count, budget), Graph[Chat, Chat, Never])
either: Graph[Query, Answer | int, LLMDown] = route(is_long).cases({True: make("l"), False: size})


# A builder's steps may be lambdas: each gets typed parameters (a root step the
# declared input), so pyright strict accepts them too.
def word_count(q: Query) -> int:
    return len(q.text.split())


builder = Builder(input=Query, output=int)
builder.add("words", word_count)
builder.add("upper", lambda q: q.text.upper())
builder.add("double", lambda n: n * 2, after=("words",))
builder.add("sum", lambda a, b: a + len(b), after=("double", "upper"))
assert_type(builder.build(output="sum"), Graph[Query, int, Any])
