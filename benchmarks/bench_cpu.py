"""A CPU-bound pipeline through `dagfn.run`: Inline against Processes and Dask.

64 independent steps of about 50 ms of pure-Python work each (a gather, then a
sum), run by dagfn with each executor in one process; results must be
identical. Run: ``python benchmarks/bench_cpu.py [--steps 64] [--ms 50]``.

Bar (issue 7): Processes and Dask (2 workers) at least 1.7x faster than
Inline on 2 cores. The executors are opened (workers started) outside the
timing, as a service would keep them.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from typing import Any

import trio
from _timing import format_table

from dagfn import Graph, gather, node, run
from dagfn.executors import Dask, Executor, Processes


def spin(loops: int, seed: int, x: int) -> int:
    """Pure-Python work: a little LCG, ``loops`` times."""
    value = seed + x
    for _ in range(loops):
        value = (value * 1103515245 + 12345) & 0x7FFFFFFF
    return value


def total(values: tuple[int, ...]) -> int:
    return sum(values) % 1_000_003


def calibrate(ms: float) -> int:
    loops = 20_000
    while True:
        start = time.perf_counter()
        spin(loops, 0, 0)
        took = time.perf_counter() - start
        if took > 0.02:
            return max(1, int(loops * (ms / 1000) / took))
        loops *= 2


def pipeline(steps: int, loops: int) -> Graph[int, int, Any]:
    work = [node(functools.partial(spin, loops, i)).named(f"spin{i}") for i in range(steps)]
    return gather(work) >> node(total)


async def timed(graph: Graph[int, int, Any], executor: Executor | None) -> tuple[float, int]:
    start = time.perf_counter()
    result = await run(graph, 1, executor=executor)
    return time.perf_counter() - start, result.unwrap()


async def measure(steps: int, ms: float, repeats: int) -> list[list[object]]:
    loops = calibrate(ms)
    graph = pipeline(steps, loops)
    times: dict[str, list[float]] = {"Inline": [], "Processes": [], "Dask": []}
    results: dict[str, set[int]] = {name: set() for name in times}
    async with Processes(workers=2) as pool, Dask(n_workers=2, processes=True) as cluster:
        executors: dict[str, Executor | None] = {
            "Inline": None,
            "Processes": pool,
            "Dask": cluster,
        }
        for executor in executors.values():  # warm up: workers import dagfn once
            await timed(pipeline(2, 10), executor)
        for _ in range(repeats):
            for name, executor in executors.items():
                took, value = await timed(graph, executor)
                times[name].append(took)
                results[name].add(value)
    inline = statistics.median(times["Inline"])
    rows: list[list[object]] = []
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append(
            [
                name,
                f"{median:.2f}",
                f"{inline / median:.2f}",
                "yes" if results[name] == results["Inline"] else "NO",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--ms", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = trio.run(measure, args.steps, args.ms, args.repeats)
    print(format_table(["executor", "median s", "speedup vs Inline", "same result"], rows))
    ok = all(float(str(r[2])) >= 1.7 for r in rows[1:]) and all(r[3] == "yes" for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
