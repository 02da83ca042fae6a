"""Journal overhead of a durable run, per step, on the fanout and lattice workloads.

Run: ``python benchmarks/bench_journal.py [--repeats N] [--redis-url URL]``.

For each workload (async bodies, `dagfn_graphs.build(dag, "async")`) and each
store, in this one process: the median time of a whole ``await run(graph, 0,
store=..., run_id=...)`` (default durability, "batched") minus the median of
the same run without a store, divided by the number of steps. Everything a
durable run does is inside the timing: opening the run, a row per step, the
final flush and the run's finish. Each repeat is a new run id in one store
(one SQLite file holding every run of the benchmark, so later runs write into
a bigger file); the first run of each kind is an untimed warm-up.

Without ``--redis-url`` a throw-away ``redis-server`` is started when one is
on PATH, else the redis rows are left out with a note.

Bar (issue 5): SqliteStore in the default mode at most 10 us per step.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _timing import format_table, median_time, per_step_us
from bench_store import _redis_server
from dagfn_graphs import build
from workloads import ROOT_INPUT, Dag, fanout, lattice
from workloads import reference_values as reference

from dagfn import Graph, run
from dagfn._interpret import plan_of
from dagfn.store import MemoryStore, RedisStore, SqliteStore, Store

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


def measure(dag: Dag, stores: dict[str, Store], repeats: int) -> list[list[object]]:
    """Rows: store, us/step without a store, us/step with it, overhead us/step."""
    graph = build(dag, "async")
    plan_of(graph)  # lower outside the timing
    values = reference(dag)
    expected = tuple(values[i] for i in dag.sinks)
    steps = len(dag)
    bare = median_time(_timed_run(graph, expected, None, dag.name), repeats)
    rows: list[list[object]] = []
    for name, store in stores.items():
        journaled = median_time(_timed_run(graph, expected, store, dag.name), repeats)
        overhead = per_step_us(journaled - bare, steps)
        verdict = ("ok" if overhead <= BAR_US else "OVER") if name == "SqliteStore" else ""
        rows.append(
            [
                dag.name,
                name,
                per_step_us(bare, steps),
                per_step_us(journaled, steps),
                overhead,
                verdict,
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--redis-url", default=None)
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
        for dag in (fanout(), lattice()):
            table.extend(measure(dag, stores, args.repeats))
    headers = ["workload", "store", "no store", "with store", "overhead", f"<= {BAR_US:g} us"]
    print(f"microseconds per step (median of {args.repeats}; one run id per repeat, one file)")
    print(format_table(headers, table))
    if redis_url is None:
        print("RedisStore: left out (no redis-server on PATH and no --redis-url)")
    over = [row for row in table if row[-1] == "OVER"]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
