"""Helpers shared by the test modules: runs in virtual time, their failures, and sleeping steps.

Test modules import shared helpers from here and never from one another; a
helper that one module alone uses stays in that module.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from returns.result import Failure, Result

from dagfn import Graph, RunFailure, node, run


def vrun(graph: Graph[Any, Any, Any], x: object, **options: Any) -> Result[Any, RunFailure[Any]]:
    """Run in virtual time: sleeps and timeouts jump the clock instead of waiting."""

    async def main() -> Result[Any, RunFailure[Any]]:
        return await run(graph, x, **options)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def vrun_graph(graph: Graph[int, Any, Any], **options: Any) -> Result[Any, RunFailure[Any]]:
    """`vrun` with the input 0."""
    return vrun(graph, 0, **options)


def failure_of(result: Result[Any, RunFailure[Any]]) -> RunFailure[Any]:
    """The `RunFailure` of a run that must have failed."""
    assert isinstance(result, Failure), result
    failure: RunFailure[Any] = result.failure()
    return failure


def sleeper(
    name: str, seconds: float, *, fail: bool = False, error: type[Exception] = ValueError
) -> Graph[int, int, Any]:
    """An async step ``name``: sleeps ``seconds``, then raises ``error(name)`` or returns x + 1."""

    async def body(x: int) -> int:
        await trio.sleep(seconds)
        if fail:
            raise error(name)
        return x + 1

    return node(body).named(name)
