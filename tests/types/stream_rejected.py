"""What mypy must reject for streamed steps and `stream`: each marked line is an error."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dagfn import node, stream, streamed
from dagfn.monoid import Sum, Text


async def tokens(q: str) -> AsyncIterator[str]:
    yield q


def whole(q: str) -> str:
    return q


@node
def length(answer: str) -> int:
    return len(answer)


def build() -> None:
    streamed(whole, Text())  # type: ignore[arg-type]  # a plain function: no chunks to stream
    streamed(tokens, Sum())  # type: ignore[arg-type]  # str chunks cannot fold with Sum
    streamed(tokens, Text()) >> streamed(tokens, Text()) >> length >> length  # type: ignore[operator]


async def read() -> None:
    # A wrong input reads "Cannot infer value of type parameter" (as for `run`).
    async with stream(streamed(tokens, Text()), 3) as s:  # type: ignore[misc]
        pass
    async with stream(streamed(tokens, Text()) >> length, "q") as s2:
        async for chunk in s2.of(streamed(tokens, Text())):
            chunk.value + 1  # type: ignore[operator]  # a str chunk
        total: str = s2.result.unwrap()  # type: ignore[assignment]  # the result is an int
