"""Dask: a low-level task graph dict run by ``dask.get`` (synchronous) and ``dask.threaded.get``.

As Dask's "custom graphs" documentation shows: ``{key: (function, *argument_keys)}``
with keys naming other tasks, then ``get(dsk, keys)``. The threaded scheduler
runs on a ``ThreadPoolExecutor`` made before the timing: its default size is the
core count (2 here), which would bound the makespan by the pool, so makespan
uses one thread per step (unbounded) and "limited" 4 threads. Step bodies are
plain functions (``time.sleep`` for makespan): the chain is the "sync" workload
here, and there is no async variant. ``dask.get`` is sequential, so it is not
run on makespan (its makespan is the total work by design).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import dask
import dask.threaded
from _common import ROOT_INPUT, Case, Dag, Probe, Skip

NAME = "dask"
VERSION = version("dask")


def build(workload: str, dag: Dag, *, scheduler: str = "sync") -> Case:
    if workload in {"chain"}:
        raise Skip("bodies are plain functions: see the sync row")
    if workload == "each":
        raise Skip("no run-time map written for this peer (see its fanout row)")
    if scheduler == "sync" and workload in {"makespan", "limited"}:
        raise Skip("dask.get is sequential: makespan = total work by design")
    probe = Probe(dag.deps)
    durations = dag.durations if workload in {"makespan", "limited"} else None
    dsk: dict[str, Any] = {}
    for i, ds in enumerate(dag.deps):
        fn = _body(i, probe, durations)
        dsk[f"s{i}"] = (fn, *(f"s{j}" for j in ds)) if ds else (fn, ROOT_INPUT)
    keys = [f"s{i}" for i in range(len(dag))]
    if scheduler == "sync":
        get = dask.get
        name = f"{NAME} get"
        workers = 1
        kwargs: dict[str, Any] = {}
    else:
        get = dask.threaded.get
        workers = 4 if workload == "limited" else (len(dag) if durations else None)
        pool = ThreadPoolExecutor(workers) if workers else None
        name = f"{NAME} threaded"
        kwargs = {"pool": pool} if pool else {}

    def run() -> tuple[int, ...]:
        return tuple(get(dsk, keys, **kwargs))

    return Case(name, workload, dag, "sync", run, probe, workers=workers if durations else None)


def build_threaded(workload: str, dag: Dag) -> Case:
    return build(workload, dag, scheduler="threaded")


def _body(i: int, probe: Probe, durations: tuple[float, ...] | None) -> Any:
    if durations is not None:
        d = durations[i]

        def sleep_then_add_one(*inputs: int) -> int:
            probe.start(i)
            time.sleep(d)
            probe.finish(i)
            return sum(inputs) + 1

        return sleep_then_add_one

    def add_one(*inputs: int) -> int:
        probe.start(i)
        probe.finish(i)
        return sum(inputs) + 1

    return add_one


# Label -> builder: the variants run_peers.py runs.
PEERS = {f"{NAME} get": build, f"{NAME} threaded": build_threaded}
