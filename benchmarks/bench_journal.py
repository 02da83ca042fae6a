"""Journal overhead of a durable run, per step, on the fanout and lattice workloads.

Run: ``python benchmarks/bench_journal.py [--repeats N] [--redis-url URL] [--postgres-dsn DSN]``.

For each workload (async bodies, `dagfn_graphs.build(dag, "async")`) and each
store, in this one process: the time of a whole ``await run(graph, 0,
store=..., run_id=...)`` (default durability, "batched") minus the time of the
same run without a store timed just before it, divided by the number of
steps; the median of these differences over the repeats. "cpu overhead" is
the same for the process's CPU time (all threads, the store's writer
included): steadier than wall time on a busy machine. Everything a
durable run does is inside the timing: opening the run, a row per step, the
final flush and the run's finish. Each repeat is a new run id in one store
(one SQLite file holding every run of the benchmark, so later runs write into
a bigger file); the first run of each kind is an untimed warm-up.

Without ``--redis-url`` a throw-away ``redis-server`` is started when one is
on PATH, else the redis rows are left out with a note; likewise, without
``--postgres-dsn``, a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``,
as the tests start it) when PostgreSQL is installed.

Bar (issue 5): SqliteStore in the default mode at most 10 us per step.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import trio
from _timing import format_table, per_step_us
from bench_store import _redis_server
from dagfn_graphs import build
from workloads import ROOT_INPUT, Dag, fanout, lattice
from workloads import reference_values as reference

from dagfn import Graph, run
from dagfn._plan import plan_of
from dagfn.store import MemoryStore, RedisStore, SqliteStore, Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _postgres_server import find_executable, running_postgres

BAR_US = 10.0


def _timed_run(
    graph: Graph[int, tuple[int, ...], Any],
    expected: tuple[int, ...],
    store: Store | None,
    name: str,
) -> Callable[[], Awaitable[None]]:
    ids = itertools.count()

    async def once() -> None:
        if store is None:
            result = await run(graph, ROOT_INPUT)
        else:
            result = await run(graph, ROOT_INPUT, store=store, run_id=f"{name}/{next(ids)}")
        if result.unwrap() != expected:
            raise AssertionError(f"computed {result}, expected {expected}")

    return once


def _time_once(fn: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Wall seconds and process CPU seconds (every thread: the writer's too) of one run."""
    wall, cpu = 0.0, 0.0

    async def timed() -> None:
        nonlocal wall, cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        await fn()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    gc.collect()
    trio.run(timed)
    return wall, cpu


def measure(dag: Dag, stores: dict[str, Store], repeats: int) -> list[list[object]]:
    """Rows: store, us/step without a store, us/step with it, overhead us/step.

    Each repeat times one run without a store and one with each store, back to
    back; the overhead is the median of the per-repeat differences, so a change
    of machine load between repeats cancels out.
    """
    graph = build(dag, "async")
    plan_of(graph)  # lower outside the timing
    values = reference(dag)
    expected = tuple(values[i] for i in dag.sinks)
    steps = len(dag)
    runs = {name: _timed_run(graph, expected, store, dag.name) for name, store in stores.items()}
    bare_run = _timed_run(graph, expected, None, dag.name)
    for once in (bare_run, *runs.values()):
        _time_once(once)  # warm-up
    bares: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in runs}
    differences: dict[str, list[float]] = {name: [] for name in runs}
    cpu_differences: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        bare_time, bare_cpu = _time_once(bare_run)
        bares.append(bare_time)
        for name, once in runs.items():
            t, cpu = _time_once(once)
            times[name].append(t)
            differences[name].append(t - bare_time)
            cpu_differences[name].append(cpu - bare_cpu)
    bare = statistics.median(bares)
    rows: list[list[object]] = []
    for name in runs:
        journaled = statistics.median(times[name])
        overhead = per_step_us(statistics.median(differences[name]), steps)
        cpu_overhead = per_step_us(statistics.median(cpu_differences[name]), steps)
        verdict = ("ok" if overhead <= BAR_US else "OVER") if name == "SqliteStore" else ""
        rows.append(
            [
                dag.name,
                name,
                per_step_us(bare, steps),
                per_step_us(journaled, steps),
                overhead,
                cpu_overhead,
                verdict,
            ]
        )
    return rows


@contextlib.contextmanager
def _postgres_server() -> Iterator[str | None]:
    initdb, pg_ctl = find_executable("initdb"), find_executable("pg_ctl")
    if initdb is None or pg_ctl is None:
        yield None
        return
    with running_postgres(initdb, pg_ctl) as dsn:
        yield dsn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--postgres-dsn", default=None)
    args = parser.parse_args(argv)
    table: list[list[object]] = []
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        redis_url = args.redis_url or stack.enter_context(_redis_server())
        stores: dict[str, Store] = {
            "MemoryStore": stack.enter_context(MemoryStore()),
            "SqliteStore": stack.enter_context(SqliteStore(Path(directory) / "journal.db")),
        }
        if redis_url is not None:
            stores["RedisStore"] = stack.enter_context(RedisStore(redis_url, prefix="bench"))
        postgres_dsn = args.postgres_dsn or stack.enter_context(_postgres_server())
        if postgres_dsn is not None:
            from dagfn.store import PostgresStore

            store = PostgresStore(postgres_dsn, schema=f"bench_{os.getpid()}")
            stores["PostgresStore"] = stack.enter_context(store)
        for dag in (fanout(), lattice()):
            table.extend(measure(dag, stores, args.repeats))
    headers = ["workload", "store", "no store", "with store", "overhead", "cpu overhead"]
    headers.append(f"<= {BAR_US:g} us")
    print(
        f"microseconds per step, median of {args.repeats} repeats (overhead: median of the"
        " per-repeat differences); one run id per run, all runs in one SQLite file"
    )
    print(format_table(headers, table))
    if redis_url is None:
        print("RedisStore: left out (no redis-server on PATH and no --redis-url)")
    if postgres_dsn is None:
        print("PostgresStore: left out (no initdb/pg_ctl and no --postgres-dsn)")
    over = [row for row in table if row[-1] == "OVER"]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
