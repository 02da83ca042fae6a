"""LangGraph: a StateGraph whose state holds every step's value under a dict-merging reducer.

As LangGraph's documentation recommends for parallel branches: nodes return a
partial update, a reducer (``Annotated[..., merge]``) combines concurrent
writes, START fans out to the roots, and a node with several inputs gets one
waiting edge from all of them (``add_edge([a, b], c)``), the documented way to
join branches of different lengths. ``recursion_limit`` is raised to the step
count (its default of 25 supersteps stops a 2,000-step chain).
``limited`` uses the documented ``max_concurrency`` run option.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Annotated, Any, TypedDict

from _common import ROOT_INPUT, Case, Dag, Probe, Skip
from langgraph.graph import END, START, StateGraph

NAME = "langgraph"
VERSION = version("langgraph")


def merge(current: dict[int, int], update: dict[int, int]) -> dict[int, int]:
    return {**current, **update}


class State(TypedDict):
    x: int
    v: Annotated[dict[int, int], merge]


def build(workload: str, dag: Dag) -> Case:
    if workload not in {"chain", "sync", "fanout", "lattice", "makespan", "limited"}:
        raise Skip(f"no {workload} variant")
    probe = Probe(dag.deps)
    durations = dag.durations if workload in {"makespan", "limited"} else None
    sync = workload == "sync"
    g = StateGraph(State)
    for i, ds in enumerate(dag.deps):
        g.add_node(f"s{i}", _node(i, ds, probe, durations, sync))
    for i, ds in enumerate(dag.deps):
        if not ds:
            g.add_edge(START, f"s{i}")
        elif len(ds) == 1:
            g.add_edge(f"s{ds[0]}", f"s{i}")
        else:
            g.add_edge([f"s{j}" for j in ds], f"s{i}")
    for i in dag.sinks:
        g.add_edge(f"s{i}", END)
    graph = g.compile()
    n = len(dag)
    config: dict[str, Any] = {"recursion_limit": n + 10}
    if workload == "limited":
        config["max_concurrency"] = 4

    def values(out: dict[str, Any]) -> tuple[int, ...]:
        v = out["v"]
        return tuple(v.get(i, -1) for i in range(n))

    if sync:

        def run_sync() -> tuple[int, ...]:
            return values(graph.invoke({"x": ROOT_INPUT, "v": {}}, config))

        return Case(NAME, workload, dag, "sync", run_sync, probe)

    async def run() -> tuple[int, ...]:
        return values(await graph.ainvoke({"x": ROOT_INPUT, "v": {}}, config))

    workers = 4 if workload == "limited" else None
    return Case(NAME, workload, dag, "asyncio", run, probe, workers=workers)


def _node(
    i: int,
    ds: tuple[int, ...],
    probe: Probe,
    durations: tuple[float, ...] | None,
    sync: bool,
) -> Any:
    if sync:

        def node_sync(state: State) -> dict[str, Any]:
            probe.start(i)
            v = state["v"]
            x = sum(v.get(j, 0) for j in ds) if ds else state["x"]
            probe.finish(i)
            return {"v": {i: x + 1}}

        return node_sync

    d = durations[i] if durations is not None else None

    async def node(state: State) -> dict[str, Any]:
        probe.start(i)
        v = state["v"]
        x = sum(v.get(j, 0) for j in ds) if ds else state["x"]
        if d is not None:
            await asyncio.sleep(d)
        probe.finish(i)
        return {"v": {i: x + 1}}

    return node


# Label -> builder: the variants run_peers.py runs.
PEERS = {NAME: build}
