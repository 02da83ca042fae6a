"""The ``cache`` workload of BENCHMARKS.md: dagfn's step cache beside LangGraph's CachePolicy.

    benchmarks/peers/.venv/bin/python benchmarks/peers/cache_peers.py [--steps 1000] [--repeats 5]

A chain of ``--steps`` steps of 1 ms (an async sleep), every step cached, is
run cold (an empty cache: every step runs) and then again (every step a hit),
in one process. dagfn: ``.cache()`` on the chain, in a `SqliteStore` (journaled
too, a new run id each time) and in a `MemoryStore`. LangGraph: a StateGraph
chain whose nodes have ``CachePolicy()``, compiled with ``cache=InMemoryCache()``
(the documented setup). Each run is checked: cold runs call every step once,
warm runs call none, and the output is the chain's length. Figures are per
step: the warm run's time over the steps, and the cold run's; "x dagfn" is a
hit's cost over dagfn's (SQLite) in the same run. Writes
``benchmarks/results/cache_peers.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypedDict

import trio

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"

Timed = Callable[[], Awaitable[int]]


class Counter:
    def __init__(self) -> None:
        self.calls = 0


def dagfn_case(steps: int, store: Any, counter: Counter) -> Callable[[str], Timed]:
    from dagfn import node, run

    async def step(x: int) -> int:
        counter.calls += 1
        await trio.sleep(0.001)
        return x + 1

    g = node(step).named("s0")
    for i in range(1, steps):
        g = g >> node(step).named(f"s{i}")
    g = g.cache()

    def once(run_id: str) -> Timed:
        async def go() -> int:
            journal = {"run_id": run_id} if store.__class__.__name__ != "MemoryStore" else {}
            return int((await run(g, 0, store=store, **journal)).unwrap())

        return go

    return once


class State(TypedDict):
    x: int


def langgraph_case(steps: int, counter: Counter) -> tuple[Callable[[], Timed], Callable[[], None]]:
    from langgraph.cache.memory import InMemoryCache
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import CachePolicy

    async def step(state: State) -> State:
        counter.calls += 1
        await asyncio.sleep(0.001)
        return {"x": state["x"] + 1}

    builder = StateGraph(State)
    for i in range(steps):
        builder.add_node(f"s{i}", step, cache_policy=CachePolicy())
    builder.add_edge(START, "s0")
    for i in range(1, steps):
        builder.add_edge(f"s{i - 1}", f"s{i}")
    builder.add_edge(f"s{steps - 1}", END)
    cache = InMemoryCache()
    graph = builder.compile(cache=cache)

    def once() -> Timed:
        async def go() -> int:
            out = await graph.ainvoke({"x": 0}, {"recursion_limit": steps + 10})
            return int(out["x"])

        return go

    return once, cache.clear


def timed_trio(fn: Timed) -> tuple[float, int]:
    box: list[Any] = []

    async def main() -> None:
        start = time.perf_counter()
        out = await fn()
        box.append((time.perf_counter() - start, out))

    trio.run(main)
    return box[0]


def timed_asyncio(fn: Timed) -> tuple[float, int]:
    async def main() -> tuple[float, int]:
        start = time.perf_counter()
        out = await fn()
        return time.perf_counter() - start, out

    return asyncio.run(main())


def measure(
    name: str,
    steps: int,
    repeats: int,
    cold: Callable[[int], tuple[float, int]],
    warm: Callable[[int], tuple[float, int]],
    counter: Counter,
) -> tuple[str, float, float]:
    colds: list[float] = []
    warms: list[float] = []
    for k in range(repeats):
        counter.calls = 0
        seconds, out = cold(k)
        if (out, counter.calls) != (steps, steps):
            raise AssertionError(f"{name} cold run: output {out}, {counter.calls} calls")
        colds.append(seconds)
        counter.calls = 0
        seconds, out = warm(k)
        if (out, counter.calls) != (steps, 0):
            raise AssertionError(f"{name} warm run: output {out}, {counter.calls} calls")
        warms.append(seconds)
    cold_us = statistics.median(colds) / steps * 1e6
    warm_us = statistics.median(warms) / steps * 1e6
    print(f"  {name:34} cold {cold_us:9.1f} us/step   hit {warm_us:8.1f} us/step", flush=True)
    return name, cold_us, warm_us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from importlib.metadata import version

    from dagfn import cache_clear
    from dagfn.store import MemoryStore, SqliteStore

    steps, repeats = args.steps, args.repeats
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteStore(Path(tmp) / "cache.sqlite")
        for label, store in (("dagfn, SqliteStore", sqlite), ("dagfn, MemoryStore", MemoryStore())):
            counter = Counter()
            once = dagfn_case(steps, store, counter)

            def cold(k: int, once: Any = once, store: Any = store) -> tuple[float, int]:
                cache_clear(store)
                return timed_trio(once(f"cold-{k}"))

            def warm(k: int, once: Any = once) -> tuple[float, int]:
                return timed_trio(once(f"warm-{k}"))

            rows.append(measure(label, steps, repeats, cold, warm, counter))
        sqlite.close()
    try:
        counter = Counter()
        lg_once, lg_clear = langgraph_case(steps, counter)
    except ImportError as error:
        print(f"  langgraph not installed ({error}): skipped")
    else:

        def lg_cold(k: int) -> tuple[float, int]:
            lg_clear()
            return timed_asyncio(lg_once())

        def lg_warm(k: int) -> tuple[float, int]:
            return timed_asyncio(lg_once())

        label = f"LangGraph {version('langgraph')} CachePolicy + InMemoryCache"
        rows.append(measure(label, steps, repeats, lg_cold, lg_warm, counter))
    ours = rows[0][2]
    lines = [
        f"# cache workload: a {steps}-step chain of 1 ms steps, every step cached",
        "",
        f"Median of {repeats}; per step; same process and run. dagfn {version('dagfn')}.",
        "",
        "| system | cold us/step | hit us/step | hit x dagfn (SQLite) |",
        "| --- | --- | --- | --- |",
        *(f"| {n} | {c:.1f} | {w:.1f} | {w / ours:.2f} |" for n, c, w in rows),
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache_peers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
