"""Correct programs over `each` and `Each.fold`: element types flow edge by edge.

mypy --strict must accept every line, and each `assert_type` pins down what
must be inferred (see README.md in this directory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Never, assert_type

import attrs
from returns.result import Result, Success

from dagfn import Each, Graph, RunFailure, each, node, run_sync
from dagfn.monoid import Concat, Sum


@attrs.frozen
class Doc:
    text: str


@attrs.frozen
class Summary:
    text: str


@attrs.frozen
class TooLong:
    words: int


@node
def retrieve(q: str) -> list[Doc]:
    return [Doc(q)]


@node
def summarize(d: Doc) -> Summary:
    return Summary(d.text)


@node
def careful(d: Doc) -> Result[Summary, TooLong]:
    return Success(Summary(d.text))


@node
def combine(summaries: tuple[Summary, ...]) -> str:
    return " ".join(s.text for s in summaries)


@node
def words(d: Doc) -> int:
    return len(d.text.split())


@node
def letters(d: Doc) -> tuple[str, ...]:
    return tuple(d.text)


# each: Graph[T, U, E] -> Graph[Sequence[T], tuple[U, ...], E]
mapped = each(summarize)
assert_type(mapped, Each[Doc, Summary, Never])
as_graph: Graph[Sequence[Doc], tuple[Summary, ...], Never] = mapped

# A list[Doc] output feeds each(Graph[Doc, ...]); its tuple feeds the next step.
pipeline = retrieve >> each(summarize, name="summaries") >> combine
assert_type(pipeline, Graph[str, str, Never])

# The element graph's error type is the each's.
checked = retrieve >> each(careful) >> combine
assert_type(checked, Graph[str, str, TooLong])

# fold with a monoid of the element output type.
total = retrieve >> each(words).fold(Sum())
assert_type(total, Graph[str, int, Never])
joined = each(letters).fold(Concat[str]())
assert_type(joined, Graph[Sequence[Doc], tuple[str, ...], Never])


# A composite element graph, and an each inside an each.
def text(s: Summary) -> str:
    return s.text


two_steps = each(summarize >> node(text))
nested = each(each(summarize))
assert_type(nested, Each[Sequence[Doc], tuple[Summary, ...], Never])


def use() -> None:
    result = run_sync(pipeline, "q")
    assert_type(result, Result[str, RunFailure[Never]])
    run_sync(each(summarize), [Doc("a")])
    run_sync(each(summarize), (Doc("a"), Doc("b")))
    _ = two_steps
