"""SynapseKit: a StateGraph whose nodes read their inputs from the state and write their own key.

As its documentation shows: ``add_node``/``add_edge``, one entry point (a no-op
``start`` node fans out to the roots when there are several), ``compile()``
with ``max_steps`` raised to the step count (default 100), then
``await compiled.run(state)``. Tracing on: an ``ExecutionTrace`` hooked into
``EventHooks`` and passed as ``hooks=`` (its documented use). SynapseKit runs
waves: a node runs in the wave after any of its inputs, so on DAGs whose paths
have different lengths it can run a node early and more than once; the probe
reports it. Plain (sync) node functions are accepted, so "sync" runs them.
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import version
from typing import Any

from _common import ROOT_INPUT, Case, Dag, Probe, Skip
from synapsekit.graph import EventHooks, ExecutionTrace, StateGraph

NAME = "synapsekit"
VERSION = version("synapsekit")


def build(workload: str, dag: Dag, *, tracing: bool = False) -> Case:
    if workload == "limited":
        raise Skip("no concurrency limit option in StateGraph")
    if workload == "each":
        raise Skip("no run-time map written for this peer (see its fanout row)")
    probe = Probe(dag.deps)
    durations = dag.durations if workload == "makespan" else None
    sync = workload == "sync"
    g = StateGraph()
    roots = dag.roots
    for i, ds in enumerate(dag.deps):
        g.add_node(f"s{i}", _node(i, ds, probe, durations, sync))
    if len(roots) == 1:
        g.set_entry_point(f"s{roots[0]}")
    else:

        def start(state: dict[str, Any]) -> dict[str, Any]:
            return {}

        g.add_node("start", start)
        g.set_entry_point("start")
        for i in roots:
            g.add_edge("start", f"s{i}")
    for i, ds in enumerate(dag.deps):
        for j in ds:
            g.add_edge(f"s{j}", f"s{i}")
    for i in dag.sinks:
        g.set_finish_point(f"s{i}")
    note = ""
    try:
        compiled = g.compile(max_steps=len(dag) + 10)
    except RecursionError:
        # compile() checks for cycles with a recursive DFS: one frame per step on a chain.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 4 * len(dag))
        try:
            compiled = g.compile(max_steps=len(dag) + 10)
        finally:
            sys.setrecursionlimit(limit)
        note = "compile() hit RecursionError at the default limit; built with a raised limit"
    n = len(dag)
    keys = [f"s{i}" for i in range(n)]

    async def run() -> tuple[int, ...]:
        hooks = ExecutionTrace().hook(EventHooks()) if tracing else None
        out = await compiled.run({"x": ROOT_INPUT}, hooks=hooks)
        return tuple(out.get(k, -1) for k in keys)

    name = f"{NAME} (tracing {'on' if tracing else 'off'})"
    return Case(name, workload, dag, "asyncio", run, probe, note=note)


def build_traced(workload: str, dag: Dag) -> Case:
    return build(workload, dag, tracing=True)


def _node(
    i: int,
    ds: tuple[int, ...],
    probe: Probe,
    durations: tuple[float, ...] | None,
    sync: bool,
) -> Any:
    keys = [f"s{j}" for j in ds]
    key = f"s{i}"
    if sync:

        def node_sync(state: dict[str, Any]) -> dict[str, Any]:
            probe.start(i)
            x = sum(state.get(k, 0) for k in keys) if keys else state["x"]
            probe.finish(i)
            return {key: x + 1}

        return node_sync
    d = durations[i] if durations is not None else None

    async def node(state: dict[str, Any]) -> dict[str, Any]:
        probe.start(i)
        x = sum(state.get(k, 0) for k in keys) if keys else state["x"]
        if d is not None:
            await asyncio.sleep(d)
        probe.finish(i)
        return {key: x + 1}

    return node


# Label -> builder: the variants run_peers.py runs.
PEERS = {f"{NAME} (tracing off)": build, f"{NAME} (tracing on)": build_traced}
