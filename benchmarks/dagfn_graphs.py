"""The standard workloads as dagfn graphs, written with the public typed API.

Every step computes the value semantics of `workloads` (the sum of its inputs
+ 1; roots get the run input), so a run's output can be checked against
`workloads.reference_values`. The graph's output is the tuple of all sink
values, so every step is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import trio
from workloads import Dag

from dagfn import Graph, node
from dagfn._workloads import graph_of, spread

Body = Literal["async", "sync", "sleep"]
IntGraph = Graph[int, int, Any]


def _bodies(body: Body, duration: float) -> tuple[Callable[[int], Any], Callable[..., Any]]:
    """The one-input and the many-input body for one step."""
    if body == "sync":

        def one(x: int) -> int:
            return x + 1

        def many(*xs: int) -> int:
            return sum(xs) + 1

        return one, many
    if body == "async":

        async def one_async(x: int) -> int:
            return x + 1

        async def many_async(*xs: int) -> int:
            return sum(xs) + 1

        return one_async, many_async

    async def one_sleep(x: int) -> int:
        await trio.sleep(duration)
        return x + 1

    async def many_sleep(*xs: int) -> int:
        await trio.sleep(duration)
        return sum(xs) + 1

    return one_sleep, many_sleep


def _bounded_bodies(body: Body, modulus: int) -> tuple[Callable[[int], Any], Callable[..., Any]]:
    """The bodies with values kept below ``modulus`` (deep DAGs would grow huge integers)."""
    if body == "sync":

        def one(x: int) -> int:
            return (x + 1) % modulus

        def many(*xs: int) -> int:
            return (sum(xs) + 1) % modulus

        return one, many
    if body != "async":
        raise ValueError(f"Expected body='sync' or 'async' with a modulus but got body={body!r}")

    async def one_async(x: int) -> int:
        return (x + 1) % modulus

    async def many_async(*xs: int) -> int:
        return (sum(xs) + 1) % modulus

    return one_async, many_async


def build(dag: Dag, body: Body, *, modulus: int | None = None) -> Graph[int, tuple[int, ...], Any]:
    """The dagfn graph of `dag`: step i is named ``s{i}``; the output is every sink's value.

    A step with two or three inputs is ``(a & b & c).join(...)``, one with more
    a ``gather`` of them followed by the step (`dagfn._workloads.graph_of`).
    With ``modulus``, every value is taken modulo it (see
    ``workloads.reference_values(dag, modulus=...)``).
    """

    def bodies(i: int) -> tuple[Callable[[int], Any], Callable[..., Any]]:
        if modulus is not None:
            return _bounded_bodies(body, modulus)
        return _bodies(body, dag.durations[i] if dag.durations is not None else 0.0)

    def step(i: int) -> IntGraph:
        one, many = bodies(i)
        if len(dag.deps[i]) <= 1:
            return node(one)
        return node(spread(many))

    return graph_of(dag.deps, step, join=lambda i: bodies(i)[1])
