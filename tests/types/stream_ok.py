"""What mypy must infer for streamed steps and `stream` (checked, never run)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Never, assert_type

import attrs
from returns.result import Result

from dagfn import Chunk, Graph, RunFailure, Stream, node, stream, streamed
from dagfn.monoid import Concat, Sum, Text


@attrs.frozen
class Question:
    text: str


async def tokens(q: Question) -> AsyncIterator[str]:
    yield q.text


async def counts(n: int) -> AsyncGenerator[int]:
    yield n


async def pieces(n: int) -> AsyncIterator[tuple[int, ...]]:
    yield (n,)


@node
def length(answer: str) -> int:
    return len(answer)


generate = streamed(tokens, Text())
assert_type(generate, Graph[Question, str, Never])
assert_type(streamed(counts, Sum(), name="count"), Graph[int, int, Never])
assert_type(streamed(pieces, Concat[int]()), Graph[int, tuple[int, ...], Never])
assert_type(streamed(tokens, Concat()), Graph[Question, str, Never])  # text chunks: text
assert_type(generate.retry(3).timeout(5.0).named("answer"), Graph[Question, str, Never])
pipeline = generate >> length
assert_type(pipeline, Graph[Question, int, Never])


async def read() -> None:
    async with stream(pipeline, Question("why?"), buffer=8) as s:
        assert_type(s, Stream[int, Never])
        async for any_chunk in s:
            assert_type(any_chunk, Chunk[object])
            assert_type(any_chunk.step, str)
            assert_type(any_chunk.attempt, int)
            assert_type(any_chunk.seq, int)
        async for chunk in s.of(generate):
            assert_type(chunk, Chunk[str])
            assert_type(chunk.value, str)
    assert_type(s.result, Result[int, RunFailure[Never]])
