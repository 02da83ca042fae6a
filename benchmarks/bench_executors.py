"""Executors on a CPU-bound workload, and the per-step overhead of each.

Run: ``python benchmarks/bench_executors.py [--steps 64] [--ms 50] [--repeats 5]``.

Workload: ``--steps`` independent steps of about ``--ms`` milliseconds of
pure-Python work each (the loop count is calibrated at start on this
machine), one trio task per step in a nursery, each calling
``executor.submit``: with `Inline` (one after another on the trio thread),
`Processes(workers=2)` and `Dask` (a LocalCluster of 2 worker processes, 1
thread each). Every executor must return identical results.

Worker start-up is not timed: every executor is opened and runs one untimed
round first. Then ``--repeats`` rounds run the executors one after another,
and a speedup is the median over rounds of Inline's time in that round over
the executor's: pairing the runs of a round keeps the drift of a shared
machine's load out of the ratio.

Overhead: a no-op function submitted ``--calls`` times, one at a time (the
latency of a call) and all at once in a nursery (time per call when calls
overlap); `Threads` is measured here too.

Bar (issue 7): ``Processes`` and ``Dask`` at least 1.7x faster than ``Inline``
on the 2-core machine.

Through ``run_sync`` (issue 17): eight steps of about 64 ms, a `gather` run
by ``run_sync`` (a new trio run each call) inline, with a new `Processes()`
each call (cold: its workers start in the call), and with one `Processes()`
object passed to every call (warm: its workers are kept between runs). Each
is called ``--repeats`` times; the table gives the first call and the median
of the others. Bar: the warm executor's later calls faster than inline.
``--only run_sync`` measures this part alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio
from _timing import format_table, ratio

from dagfn import gather, node, run_sync
from dagfn.executors import Dask, Executor, Inline, Processes, Threads

BAR = 1.7


def spin(loops: int, seed: int) -> int:
    """About ``loops`` iterations of pure-Python integer work; deterministic in ``seed``."""
    acc = seed
    for _ in range(loops):
        acc = (acc * 1103515245 + 12345) & 0x7FFFFFFF
    return acc


def spin_step(loops: int, seed: int, x: int) -> int:
    """`spin` as a step (the run input ``x`` is added to the seed)."""
    return spin(loops, seed + x)


def nothing() -> None:
    """The no-op step whose round trips measure an executor's overhead."""


def calibrate(ms: float) -> int:
    """The loop count that makes `spin` take about ``ms`` milliseconds here."""
    loops = 10_000
    while True:
        start = time.perf_counter()
        spin(loops, 1)
        took = time.perf_counter() - start
        if took > 0.02:
            return max(1, round(loops * ms / 1000 / took))
        loops *= 2


def executors() -> dict[str, Callable[[], Executor]]:
    """The executors measured, by name; only Threads sits out the CPU-bound workload."""
    return {
        "Inline": Inline,
        "Threads": partial(Threads, limit=2),
        "Processes": partial(Processes, workers=2),
        "Dask": partial(Dask, n_workers=2, processes=True, threads_per_worker=1),
    }


WORKLOAD = ("Inline", "Processes", "Dask", "reference")
REFERENCE_NOTE = (
    "reference: the same work on a plain concurrent.futures.ProcessPoolExecutor(2), no dagfn;\n"
    "its speedup is what this machine gives two processes right now (others' load lowers it)"
)


class Reference:
    """A plain ProcessPoolExecutor(2) running the same calls: the machine's own ceiling."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ProcessPoolExecutor(2)

    async def run(self, fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        def all_calls() -> list[Any]:
            return list(self.pool.map(fn, *zip(*args, strict=True)))

        return await trio.to_thread.run_sync(all_calls)


async def fan_out(
    executor: Executor, fn: Callable[..., Any], args: list[tuple[Any, ...]], step: str
) -> list[Any]:
    """Submit ``fn(*args[i])`` for every i, one trio task each; results in order."""
    results: list[Any] = [None] * len(args)

    async def one(i: int) -> None:
        results[i] = await executor.submit(fn, args[i], step=f"{step}#{i}")

    async with trio.open_nursery() as nursery:
        for i in range(len(args)):
            nursery.start_soon(one, i)
    return results


@attrs.define
class Measured:
    """What one executor did, over all rounds."""

    results: list[int] = attrs.field(factory=list)  # of the last round
    walls: list[float] = attrs.field(factory=list)  # seconds, one per timed round
    sequential: float = 0.0  # seconds per no-op call, one call at a time
    overlapped: float = 0.0  # seconds per no-op call, all calls at once


async def measure_all(loops: int, steps: int, repeats: int, calls: int) -> dict[str, Measured]:
    """Open every executor, run the workload round by round, then measure the no-op calls."""
    measured = {name: Measured() for name in executors()}
    async with contextlib.AsyncExitStack() as stack:
        opened = {
            name: await stack.enter_async_context(make()) for name, make in executors().items()
        }
        reference = Reference()
        stack.callback(reference.pool.shutdown)
        measured["reference"] = Measured()
        work = [(loops, seed) for seed in range(steps)]
        for round_ in range(repeats + 1):  # round 0 warms up (starts workers), untimed
            for name in WORKLOAD:
                start = time.perf_counter()
                if name == "reference":
                    measured[name].results = await reference.run(spin, work)
                else:
                    measured[name].results = await fan_out(opened[name], spin, work, "spin")
                if round_ > 0:
                    measured[name].walls.append(time.perf_counter() - start)
        for name, executor in opened.items():
            start = time.perf_counter()
            for i in range(calls):
                await executor.submit(nothing, (), step=f"noop#{i}")
            measured[name].sequential = (time.perf_counter() - start) / calls
            start = time.perf_counter()
            await fan_out(executor, nothing, [()] * calls, "noop")
            measured[name].overlapped = (time.perf_counter() - start) / calls
    return measured


def through_run_sync(loops: int, repeats: int) -> int:
    """Eight ~64 ms steps by ``run_sync``: inline, cold Processes, warm Processes (see above)."""
    steps = [node(partial(spin_step, loops, seed)).named(f"spin{seed}") for seed in range(8)]
    graph = gather(steps)
    expected = tuple(spin(loops, seed) for seed in range(8))
    warm = Processes()

    def once(executor: Processes | None) -> float:
        start = time.perf_counter()
        result = run_sync(graph, 0, executor=executor)
        took = time.perf_counter() - start
        assert result.unwrap() == expected
        return took

    reference = concurrent.futures.ProcessPoolExecutor(2)

    def plain() -> float:
        start = time.perf_counter()
        results = list(reference.map(spin_step, [loops] * 8, range(8), [0] * 8))
        took = time.perf_counter() - start
        assert tuple(results) == expected
        return took

    times: dict[str, list[float]] = {"inline": [], "Processes(), new each call": [], "warm": []}
    times["reference"] = []
    for _ in range(repeats):  # interleaved, so a shared machine's drift falls on all
        times["inline"].append(once(None))
        cold = Processes()
        times["Processes(), new each call"].append(once(cold))
        cold.close()
        times["warm"].append(once(warm))
        times["reference"].append(plain())
    warm.close()
    reference.shutdown()
    times["one Processes() for every call"] = times.pop("warm")
    times["reference: one ProcessPoolExecutor(2), no dagfn"] = times.pop("reference")
    inline_later = statistics.median(times["inline"][1:])
    rows = []
    for name, walls in times.items():
        later = statistics.median(walls[1:])
        rows.append([name, f"{walls[0]:.3f}", f"{later:.3f}", f"{inline_later / later:.2f}"])
    print(
        f"\neight steps of ~64 ms through run_sync, {repeats} calls each, on {os.cpu_count()} cpus"
    )
    print(format_table(["executor", "1st call s", "later calls s", "speedup (later)"], rows))
    warm_later = statistics.median(times["one Processes() for every call"][1:])
    ok = warm_later < inline_later
    print(f"bar: one Processes() faster than inline from its second call: {'ok' if ok else 'FAIL'}")
    print(f"load average: {_load()} (the reference row is what the machine gives two processes)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=64, help="independent steps (default 64)")
    parser.add_argument("--ms", type=float, default=50.0, help="work per step (default 50 ms)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--calls", type=int, default=200, help="no-op calls for overhead")
    parser.add_argument("--only", choices=["run_sync"], help="measure one part alone")
    options = parser.parse_args()
    if options.only == "run_sync":
        return through_run_sync(calibrate(64), max(options.repeats, 2))

    loops = calibrate(options.ms)
    print(f"cpus: {os.cpu_count()}; {options.steps} steps of ~{options.ms:g} ms ({loops} loops)")
    print(f"load average before: {_load()}")
    measured = trio.run(measure_all, loops, options.steps, options.repeats, options.calls)
    print(f"load average after:  {_load()} (other processes on the machine skew the figures)")
    inline = measured["Inline"]
    rows: list[list[object]] = []
    failed = False
    for name, m in measured.items():
        wall = statistics.median(m.walls) if m.walls else None
        speedup = None
        identical = None
        if m.walls:
            speedup = statistics.median(map(ratio, inline.walls, m.walls))
            identical = m.results == inline.results
            failed |= not identical or (name in ("Processes", "Dask") and speedup < BAR)
        overhead = [m.sequential * 1e6, m.overlapped * 1e6] if name != "reference" else [None, None]
        row = [name, wall, speedup, *overhead]
        rows.append([*row, {True: "yes", False: "NO", None: None}[identical]])
    headers = ["executor", "wall s", "speedup", "no-op us/call", "no-op us/call overlapped"]
    print(format_table([*headers, "identical"], rows))
    for name in WORKLOAD:
        print(f"{name} rounds (s): " + " ".join(f"{wall:.2f}" for wall in measured[name].walls))
    print(REFERENCE_NOTE)
    verdict = "FAIL" if failed else "ok"
    print(f"bar: Processes and Dask >= {BAR}x Inline with identical results: {verdict}")
    failed |= through_run_sync(calibrate(64), max(options.repeats, 2)) != 0
    return 1 if failed else 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
