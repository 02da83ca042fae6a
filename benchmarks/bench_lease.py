"""What owning a run id costs: taking and releasing a run's lease, per run, on SQLite.

Run: ``python benchmarks/bench_lease.py [--runs N] [--repeats N]``.

In this one process, ``--runs`` (1,000) runs of a 3-step chain of plain
functions, each under a new run id in one SQLite file, timed as a whole
inside one ``trio.run``: once as `run` does them (the lease taken with the
run in one transaction, a renewal task while it runs, released with its
outcome, every row fenced), and once with the run's `Ownership` replaced by
one that only opens the run (no lease, no token, no renewal): the same
code otherwise. The two loops alternate; the figure is the median over the
repeats of the per-run difference. "store ops" times the store calls alone:
``take_run`` + fenced ``finish_run`` against ``open_run`` + ``finish_run``.

Bar (issue 15): the lease adds at most 1 ms per run (1,000 us).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from _timing import format_table

import dagfn._interpret
from dagfn import Graph, node, run
from dagfn._lease import Ownership
from dagfn._storage import RunInfo
from dagfn.store import SqliteStore

BAR_US = 1000.0


class _NoLease(Ownership):
    """Opens the run without taking its lease: a run as it was before leases."""

    def take(self, fingerprint: str, meta_json: str) -> RunInfo:
        return self.store.open_run(self.run_id, fingerprint=fingerprint, meta_json=meta_json)


def _chain() -> Graph[int, int, Any]:
    def one(x: int) -> int:
        return x + 1

    def two(x: int) -> int:
        return x * 2

    def three(x: int) -> int:
        return x - 3

    return node(one) >> node(two) >> node(three)


def _runs(store: SqliteStore, runs: int, ids: itertools.count[int], leased: bool) -> float:
    """Seconds per run of ``runs`` runs, with or without the lease."""
    graph = _chain()
    module = vars(dagfn._interpret)  # `run` looks `Ownership` up in its module at call time
    module["Ownership"] = Ownership if leased else _NoLease
    elapsed = 0.0

    async def main() -> None:
        nonlocal elapsed
        start = time.perf_counter()
        for _ in range(runs):
            result = await run(graph, 1, store=store, run_id=f"r{next(ids)}")
            assert result.unwrap() == 1
        elapsed = time.perf_counter() - start

    gc.collect()
    try:
        trio.run(main)
    finally:
        module["Ownership"] = Ownership
    return elapsed / runs


def _store_ops(store: SqliteStore, runs: int, ids: itertools.count[int], leased: bool) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        run_id = f"s{next(ids)}"
        if leased:
            claim = store.take_run(run_id, fingerprint="f", meta_json="{}", owner="me", ttl=30.0)
            store.finish_run(run_id, "succeeded", "1", token=claim.token)
        else:
            store.open_run(run_id, fingerprint="f", meta_json="{}")
            store.finish_run(run_id, "succeeded", "1")
    return (time.perf_counter() - start) / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    ids = itertools.count()
    columns: dict[str, list[float]] = {k: [] for k in ("with", "without", "ops+", "ops-")}
    with (
        tempfile.TemporaryDirectory() as directory,
        SqliteStore(Path(directory) / "lease.db") as store,
    ):
        _runs(store, 50, ids, True)  # warm-up
        _runs(store, 50, ids, False)
        for _ in range(args.repeats):
            columns["with"].append(_runs(store, args.runs, ids, True))
            columns["without"].append(_runs(store, args.runs, ids, False))
            columns["ops+"].append(_store_ops(store, args.runs, ids, True))
            columns["ops-"].append(_store_ops(store, args.runs, ids, False))
    us = {k: [v * 1e6 for v in vs] for k, vs in columns.items()}
    added = statistics.median(a - b for a, b in zip(us["with"], us["without"], strict=True))
    ops = statistics.median(a - b for a, b in zip(us["ops+"], us["ops-"], strict=True))
    verdict = "ok" if added <= BAR_US else "OVER"
    print(f"microseconds per run, {args.runs} runs of a 3-step chain on SQLite, median of")
    print(f"{args.repeats} repeats (added: median of the per-repeat differences)")
    headers = ["", "with lease", "without", "added by the lease", f"<= {BAR_US:g} us"]
    table: list[list[object]] = [
        [
            "whole runs",
            statistics.median(us["with"]),
            statistics.median(us["without"]),
            added,
            verdict,
        ],
        ["store ops", statistics.median(us["ops+"]), statistics.median(us["ops-"]), ops, ""],
    ]
    print(format_table(headers, table))
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
