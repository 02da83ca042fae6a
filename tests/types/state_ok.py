"""What mypy must infer for update, fold and Builder (checked, never run)."""

from __future__ import annotations

from typing import Any, Never, assert_type

import attrs
from returns.result import Result

from dagfn import Builder, Graph, gather, node, reduced, update
from dagfn.monoid import Concat, First, Sum, record


@attrs.frozen
class Doc:
    chunks: tuple[str, ...] = reduced(Concat())
    intent: str | None = reduced(First(None))
    tokens: int = reduced(Sum())


@attrs.frozen
class Timeout:
    seconds: float


@attrs.frozen
class Refused:
    reason: str


@node
def chunk(s: Doc) -> Doc:
    return Doc(chunks=("a",))


@node
async def classify(s: Doc) -> Result[Doc, Timeout]:
    raise NotImplementedError


@node
def count(s: Doc) -> Result[Doc, Refused]:
    raise NotImplementedError


@node
def length(text: str) -> int:
    return len(text)


def checks() -> None:
    # update infers the state type and the union of the nodes' errors.
    assert_type(update(chunk), Graph[Doc, Doc, Never])
    assert_type(update(chunk, classify), Graph[Doc, Doc, Timeout])
    assert_type(update(chunk, classify, count), Graph[Doc, Doc, Timeout | Refused])
    assert_type(update(chunk, name="split"), Graph[Doc, Doc, Never])
    # Seven or more nodes share one error type.
    seven = update(chunk, chunk, chunk, chunk, chunk, chunk, chunk.named("seventh"))
    assert_type(seven, Graph[Doc, Doc, Never])

    # Updates chain with >> like any graph over the state.
    pipeline = update(chunk) >> update(classify, count)
    assert_type(pipeline, Graph[Doc, Doc, Timeout | Refused])

    # fold reduces a gather with a monoid of its element type.
    assert_type(gather([length, length]).fold(Sum()), Graph[str, int, Never])
    assert_type(gather([chunk, chunk]).fold(record(Doc)), Graph[Doc, Doc, Never])

    def double(n: int) -> int:
        return n * 2

    # A builder's graph comes from data: mypy knows nothing of its types.
    b = Builder()
    b.add("length", length.named("len"))
    b.add("double", double, after=("length",))
    assert_type(b.build(output="double"), Graph[Any, Any, Any])
