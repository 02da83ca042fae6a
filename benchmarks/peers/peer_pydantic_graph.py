"""pydantic-graph: the builder API (``GraphBuilder``) with broadcasts and joins with reducers.

As its "parallel execution" and "joins and reducers" documentation shows: steps
made with ``g.step``, ``g.edge_from(a).to(b, c)`` to broadcast a value to
several steps, and a join (``g.join(reduce_sum, initial=0)``) in front of every
step with several inputs, so the step receives the sum of its inputs. Several
roots get the run input by a broadcast from ``g.start_node``; several sinks meet
in a final join before ``g.end_node`` (a run ends at the first value to reach
the end node). Step functions are async (the API takes coroutine functions),
so there is no sync variant, and no concurrency limit option for "limited".
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from _common import ROOT_INPUT, Case, Dag, Probe, Skip
from pydantic_graph import GraphBuilder, reduce_null, reduce_sum

NAME = "pydantic-graph"
VERSION = version("pydantic-graph")


def build(workload: str, dag: Dag) -> Case:
    if workload == "sync":
        raise Skip("steps are coroutine functions")
    if workload == "each":
        raise Skip("no run-time map written for this peer (see its fanout row)")
    if workload == "limited":
        raise Skip("no concurrency limit option")
    probe = Probe(dag.deps)
    durations = dag.durations if workload == "makespan" else None
    n = len(dag)
    values = [-1] * n
    g: GraphBuilder[None, None, int, None] = GraphBuilder(input_type=int, output_type=type(None))
    steps = [
        g.step(_body(i, dag.deps[i], probe, values, durations), node_id=f"s{i}") for i in range(n)
    ]
    # entry[i]: where step i's inputs go: the step itself, or the join in front of it.
    entry: list[Any] = []
    for i, ds in enumerate(dag.deps):
        if len(ds) > 1:
            join = g.join(reduce_sum, initial=0, node_id=f"join{i}")
            g.add(g.edge_from(join).to(steps[i]))
            entry.append(join)
        else:
            entry.append(steps[i])
    dependents: list[list[Any]] = [[] for _ in range(n)]
    for i, ds in enumerate(dag.deps):
        for j in ds:
            dependents[j].append(entry[i])
    sinks = dag.sinks
    if len(sinks) == 1:
        dependents[sinks[0]].append(g.end_node)
    else:
        final = g.join(reduce_null, initial=None, node_id="final")
        g.add(g.edge_from(final).to(g.end_node))
        for i in sinks:
            dependents[i].append(final)
    g.add(g.edge_from(g.start_node).to(*(entry[i] for i in dag.roots)))
    for i in range(n):
        g.add(g.edge_from(steps[i]).to(*dependents[i]))
    graph = g.build()

    async def run() -> tuple[int, ...]:
        await graph.run(inputs=ROOT_INPUT)
        return tuple(values)

    return Case(NAME, workload, dag, "asyncio", run, probe)


def _body(
    i: int,
    ds: tuple[int, ...],
    probe: Probe,
    values: list[int],
    durations: tuple[float, ...] | None,
) -> Any:
    d = durations[i] if durations is not None else None

    async def step(ctx):  # type: ignore[no-untyped-def]  # unannotated: no edges from hints
        probe.start(i)
        if d is not None:
            await asyncio.sleep(d)
        value = ctx.inputs + 1
        values[i] = value
        probe.finish(i)
        return value

    step.__name__ = f"s{i}"
    return step


# Label -> builder: the variants run_peers.py runs.
PEERS = {NAME: build}
