"""Realistic mistakes in less common shapes: each marked line is rejected by both checkers.

Checked, never run.
"""

# mypy: enable-error-code="ignore-without-code"

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Never, TypeVar

import attrs
from returns.result import Failure, Result, Success

from dagfn import Graph, Limits, gather, interrupt, loop, node, reduced, route, run_sync, update
from dagfn.monoid import Concat, Sum

T = TypeVar("T")


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class LLMDown:
    model: str


@attrs.frozen
class Chat:
    turns: tuple[str, ...] = reduced(Concat())
    tokens: int = reduced(Sum())


async def call_llm(q: Query, model: str) -> Result[Answer, LLMDown]:
    return Success(Answer(q.text)) if model else Failure(LLMDown(model))


@node
async def unique(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


@node
def reply(c: Chat) -> Chat:
    return Chat(turns=("hi",))


def top(texts: Sequence[str]) -> str:
    return texts[0]


def ask(a: Answer) -> str:
    return a.text


def shout(ok: bool) -> str:
    return "yes" if ok else "no"


def too_many(c: Chat) -> bool:
    return c.tokens > 100


def mistakes() -> None:
    llm = node.bind(call_llm, "small")
    llm >> unique  # type: ignore[arg-type, operator]  # an Answer is not a tuple
    llm.recover("sorry")  # type: ignore[call-overload]  # a fallback value is an Answer
    llm >> node(top)  # type: ignore[operator]  # an Answer is not a sequence of str
    node.bind(call_llm, model=3)  # type: ignore[call-overload]
    llm.on("llm", cost="1")  # type: ignore[arg-type]
    llm.timeout("2s")  # type: ignore[arg-type]
    node(ask, retry="3")  # type: ignore[call-overload]
    Limits(concurrency="4")  # type: ignore[arg-type]
    loop(update(reply), until=ask, max_steps=3)  # type: ignore[arg-type]
    loop(update(reply), until=too_many, max_steps="3")  # type: ignore[arg-type]
    update(reply, node(ask))  # type: ignore[arg-type]
    decide = interrupt(ask, answer=Literal["yes", "no"])
    llm >> decide >> node(shout)  # type: ignore[operator]  # the answer is a str, not a bool
    infallible: Graph[Query, tuple[Answer, ...], Never]
    infallible = gather([llm, llm.named("b")])  # type: ignore[list-item]  # they may fail
    result = run_sync(llm, Query("q"))
    answer: Answer = result.unwrap()
    answer.model  # type: ignore[attr-defined]


def by_model(q: Query) -> Literal["small", "large"]:
    return "small"


def routes() -> None:
    small = node.bind(call_llm, "small")
    route(by_model).cases({"small": small, "medium": small})  # type: ignore[dict-item]
    route(by_model).cases({"small": small, "large": node(ask)})  # type: ignore[dict-item]
