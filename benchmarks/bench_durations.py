"""``critical_path`` under `Limits` with a store: cost per run as the store fills up.

Run: ``python benchmarks/bench_durations.py [--runs 6000] [--repeats 5]``.

A run under ``Limits`` and the ``critical_path`` policy weighs its ranks with
the seconds its steps took in earlier runs of the same plan. It reads them as
one summary per plan (`Store.durations`), kept up to date as runs finish, so
the cost of a run must not grow with the number of runs in the store (issue
15 measured 2.6 ms per run at first and 15.7 ms after 6,000 runs when every
run was read). Per store (SQLite on disk, memory; Redis with ``--redis URL``):
the median cost of a run (a 20-step graph, ``Limits(concurrency=4)``, a new
run id each) with 10 runs stored and with ``--runs`` stored, sampled alternately.
Bar: at most 1.2x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import trio
from _timing import format_table, time_once

from dagfn import Graph, Limits, gather, node, run
from dagfn.store import MemoryStore, SqliteStore, Store

BAR = 1.2
BATCH = 20  # runs per timed sample


def _graph() -> Graph[int, tuple[int, ...], Any]:
    async def step(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x + 1

    one = node(step)
    return gather([one.named(f"a{k}") >> one.named(f"b{k}") for k in range(10)])


def _batch(store: Store, graph: Graph[int, tuple[int, ...], Any]) -> float:
    """Seconds per run over `BATCH` runs of ``graph`` under limits, each with a new run id."""
    limits = Limits(concurrency=4)

    async def batch() -> None:
        for _ in range(BATCH):
            result = await run(graph, 0, store=store, run_id=uuid.uuid4().hex, limits=limits)
            assert len(result.unwrap()) == 10

    return time_once(batch) / BATCH


def _fill(store: Store, graph: Graph[int, tuple[int, ...], Any], runs: int) -> None:
    async def many() -> None:
        for _ in range(runs):
            await run(graph, 0, store=store, run_id=uuid.uuid4().hex)

    trio.run(many)


def measure(few: Store, many: Store, runs: int, repeats: int) -> tuple[float, float]:
    """Median seconds per run on a store holding 10 runs and on one holding ``runs``.

    The samples alternate between the two stores (and which goes first), so
    the drift of a shared machine falls on both alike.
    """
    graph = _graph()
    _fill(few, graph, 10)
    _fill(many, graph, runs)
    _batch(few, graph), _batch(many, graph)  # warm-up
    a: list[float] = []
    b: list[float] = []
    for k in range(repeats):
        if k % 2:
            b.append(_batch(many, graph))
            a.append(_batch(few, graph))
        else:
            a.append(_batch(few, graph))
            b.append(_batch(many, graph))
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--redis", default=None, help="a redis URL to measure RedisStore too")
    args = parser.parse_args()
    rows = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        pairs: list[tuple[str, Store, Store]] = [
            ("SqliteStore", SqliteStore(Path(tmp) / "few.db"), SqliteStore(Path(tmp) / "many.db")),
            ("MemoryStore", MemoryStore(), MemoryStore()),
        ]
        if args.redis:
            from dagfn.store import RedisStore

            pairs.append(
                (
                    "RedisStore",
                    RedisStore(args.redis, prefix=f"bench-{uuid.uuid4().hex}"),
                    RedisStore(args.redis, prefix=f"bench-{uuid.uuid4().hex}"),
                )
            )
        for name, few_store, many_store in pairs:
            try:
                few, many = measure(few_store, many_store, args.runs, args.repeats)
            finally:
                few_store.close()
                many_store.close()
            ratio = many / few
            ok = ok and ratio <= BAR
            rows.append(
                [
                    name,
                    f"{few * 1e3:.2f}",
                    f"{many * 1e3:.2f}",
                    f"{ratio:.2f}",
                    f"<= {BAR}",
                    "yes" if ratio <= BAR else "NO",
                ]
            )
    header = [
        "store",
        "ms per run, 10 stored",
        f"ms per run, {args.runs} stored",
        "ratio",
        "bar",
        "ok",
    ]
    print(format_table(header, rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
