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
from langgraph.types import Send

NAME = "langgraph"
VERSION = version("langgraph")


def merge(current: dict[int, int], update: dict[int, int]) -> dict[int, int]:
    return {**current, **update}


class State(TypedDict):
    x: int
    v: Annotated[dict[int, int], merge]


def build(workload: str, dag: Dag) -> Case:
    if workload == "each":
        return _each(dag)
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


class Element(TypedDict):
    i: int
    x: int


def merge_in_place(current: dict[int, int], update: dict[int, int]) -> dict[int, int]:
    # Linear in the writes: `merge` above copies the dict per write, which over
    # 10,000 Send results would charge LangGraph quadratic time it need not pay.
    current.update(update)
    return current


class EachState(TypedDict):
    x: int
    v: Annotated[dict[int, int], merge_in_place]


def _each(dag: Dag) -> Case:
    """The fanout DAG as LangGraph's map-reduce: the source's conditional edge returns one
    ``Send("work", ...)`` per element (the documented ``Send`` fan-out), then a sink."""
    probe = Probe(dag.deps)
    n = len(dag) - 2

    async def source(state: EachState) -> dict[str, Any]:
        probe.start(0)
        v = state["x"] + 1
        probe.finish(0)
        return {"v": {0: v}}

    def fan_out(state: EachState) -> list[Send]:
        v = state["v"][0]
        return [Send("work", {"i": i, "x": v}) for i in range(1, n + 1)]

    async def work(element: Element) -> dict[str, Any]:
        i = element["i"]
        probe.start(i)
        out = element["x"] + 1
        probe.finish(i)
        return {"v": {i: out}}

    async def sink(state: EachState) -> dict[str, Any]:
        probe.start(n + 1)
        v = state["v"]
        total = sum(v[i] for i in range(1, n + 1)) + 1
        probe.finish(n + 1)
        return {"v": {n + 1: total}}

    g = StateGraph(EachState)
    g.add_node("source", source)
    g.add_node("work", work)
    g.add_node("sink", sink)
    g.add_edge(START, "source")
    g.add_conditional_edges("source", fan_out, ["work"])
    g.add_edge("work", "sink")
    g.add_edge("sink", END)
    graph = g.compile()

    async def run() -> tuple[int, ...]:
        out = await graph.ainvoke({"x": ROOT_INPUT, "v": {}})
        v = out["v"]
        return tuple(v.get(i, -1) for i in range(n + 2))

    return Case(NAME, "each", dag, "asyncio", run, probe, note="Send fan-out to one node")


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
