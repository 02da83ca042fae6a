"""dagfn: the typed expression API, run by ``dagfn.run`` under trio.

As dagfn's README writes a DAG: each step is a ``node`` named ``s{i}``; a step
with one input is ``parent >> step``; with two or three, ``(a & b & c).join(fn)``
(the same graph value used twice is one step, so every DAG is expressible); a
wider join would be ``gather([...]) >> step`` (`dagfn._workloads.graph_of`
wires them, as for ``benchmarks/dagfn_graphs.py``). The graph's output is the tuple
of the sinks' values. "sync" uses plain functions, makespan ``trio.sleep``;
"limited" passes ``Limits(concurrency=4)``. The plan is lowered before the
timing (``run`` caches it on the graph).

Each body records its value by step number, so the checked run compares every
step's value with ``reference_values`` (and the graph's output with the sinks').
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import trio
from _common import ROOT_INPUT, Case, Dag, Probe, Skip

from dagfn import Graph, Limits, each, node, run
from dagfn._plan import plan_of
from dagfn._workloads import graph_of, spread

NAME = "dagfn"
VERSION = version("dagfn")
LIMIT = 4


def build(workload: str, dag: Dag) -> Case:
    if workload == "each":
        return _each(dag)
    if workload not in {"chain", "sync", "fanout", "lattice", "makespan", "limited"}:
        raise Skip(f"no {workload} variant")
    probe = Probe(dag.deps)
    durations = dag.durations if workload in {"makespan", "limited"} else None
    sync = workload == "sync"
    values = [0] * len(dag)
    bodies = [_body(i, probe, values, durations, sync) for i in range(len(dag))]

    def step(i: int) -> Graph[Any, int, Any]:
        if len(dag.deps[i]) <= 1:
            return node(bodies[i])
        return node(spread(bodies[i]))

    graph = graph_of(dag.deps, step, join=bodies.__getitem__)
    plan_of(graph)  # lower outside the timing
    limits = Limits(concurrency=LIMIT) if workload == "limited" else None
    sinks = dag.sinks

    async def run_once() -> tuple[int, ...] | None:
        out = (await run(graph, ROOT_INPUT, limits=limits)).unwrap()
        if out != tuple(values[i] for i in sinks):
            return None  # the output disagrees with what the steps computed
        return tuple(values)

    workers = LIMIT if workload == "limited" else None
    return Case(NAME, workload, dag, "trio", run_once, probe, workers=workers)


def _each(dag: Dag) -> Case:
    """The fanout DAG as ``source >> each(work) >> sink``: the middle steps are elements
    of a list the source makes at run time (each carries its step number for the probe)."""
    probe = Probe(dag.deps)
    n = len(dag) - 2
    values = [0] * len(dag)

    async def source(x: int) -> list[tuple[int, int]]:
        probe.start(0)
        values[0] = v = x + 1
        probe.finish(0)
        return [(i, v) for i in range(1, n + 1)]

    async def work(item: tuple[int, int]) -> int:
        i, v = item
        probe.start(i)
        values[i] = out = v + 1
        probe.finish(i)
        return out

    async def sink(outputs: tuple[int, ...]) -> int:
        probe.start(n + 1)
        values[n + 1] = out = sum(outputs) + 1
        probe.finish(n + 1)
        return out

    graph = node(source) >> each(node(work)) >> node(sink)
    plan_of(graph)

    async def run_once() -> tuple[int, ...] | None:
        out = (await run(graph, ROOT_INPUT)).unwrap()
        return tuple(values) if out == values[n + 1] else None

    return Case(NAME, "each", dag, "trio", run_once, probe)


def _body(
    i: int, probe: Probe, values: list[int], durations: tuple[float, ...] | None, sync: bool
) -> Callable[..., Any]:
    if sync:

        def add_one(*inputs: int) -> int:
            probe.start(i)
            values[i] = v = sum(inputs) + 1
            probe.finish(i)
            return v

        return add_one
    if durations is not None:
        d = durations[i]

        async def sleep_then_add_one(*inputs: int) -> int:
            probe.start(i)
            await trio.sleep(d)
            values[i] = v = sum(inputs) + 1
            probe.finish(i)
            return v

        return sleep_then_add_one

    async def add_one_async(*inputs: int) -> int:
        probe.start(i)
        values[i] = v = sum(inputs) + 1
        probe.finish(i)
        return v

    return add_one_async


# Label -> builder: the variants run_peers.py runs.
PEERS = {NAME: build}
