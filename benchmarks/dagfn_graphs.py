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

from dagfn import Graph, gather, node

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

    With ``modulus``, every value is taken modulo it (see
    ``workloads.reference_values(dag, modulus=...)``).
    """
    steps: list[IntGraph] = []
    for i, ds in enumerate(dag.deps):
        duration = dag.durations[i] if dag.durations is not None else 0.0
        if modulus is None:
            one, many = _bodies(body, duration)
        else:
            one, many = _bounded_bodies(body, modulus)
        name = f"s{i}"
        step: IntGraph
        if not ds:
            step = node(one).named(name)
        elif len(ds) == 1:
            step = steps[ds[0]] >> node(one).named(name)
        elif len(ds) == 2:
            step = (steps[ds[0]] & steps[ds[1]]).join(many, name=name)
        elif len(ds) == 3:
            step = (steps[ds[0]] & steps[ds[1]] & steps[ds[2]]).join(many, name=name)
        else:
            step = gather([steps[d] for d in ds]) >> node(_star(many)).named(name)
        steps.append(step)
    return gather([steps[i] for i in dag.sinks])


def _star(many: Callable[..., Any]) -> Callable[[tuple[int, ...]], Any]:
    """Adapt a many-input body to one tuple input (for a sink that gathers its inputs)."""
    if _is_async(many):

        async def star_async(xs: tuple[int, ...]) -> Any:
            return await many(*xs)

        return star_async

    def star(xs: tuple[int, ...]) -> Any:
        return many(*xs)

    return star


def _is_async(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)
