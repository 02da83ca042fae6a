"""What owning a run id costs: taking and releasing a run's lease, per run, on SQLite.

Run: ``python benchmarks/bench_lease.py [--runs N] [--repeats N]``.

In this one process, ``--runs`` (1,000) runs of a 3-step chain of plain
functions, each under a new run id in one SQLite file, timed as a whole
inside one ``trio.run``: once as `run` does them (the lease taken with the
run in one transaction, a renewal task while it runs, released with its
outcome, every row fenced), and once with the run's `Ownership` replaced by
one that only opens the run (no lease, no token, no renewal): the same
code otherwise. The two loops alternate; the figure is the median over the
repeats of the per-run difference, in wall time and in process CPU time (all
threads, the store's writer included: steadier than wall time on a busy
machine, where a run's wall time moves by milliseconds with the load). "store
ops" times the store calls alone: ``take_run`` + fenced ``finish_run`` against
``open_run`` + ``finish_run``.

Bar (issue 15): the lease adds at most 1 ms per run (1,000 us); the exit code
is non-zero when both the wall and the CPU figure are over it.
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


def _runs(
    store: SqliteStore, runs: int, ids: itertools.count[int], leased: bool
) -> tuple[float, float]:
    """Wall and CPU seconds per run of ``runs`` runs, with or without the lease."""
    graph = _chain()
    module = vars(dagfn._interpret)  # `run` looks `Ownership` up in its module at call time
    module["Ownership"] = Ownership if leased else _NoLease
    elapsed, cpu = 0.0, 0.0

    async def main() -> None:
        nonlocal elapsed, cpu
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(runs):
            result = await run(graph, 1, store=store, run_id=f"r{next(ids)}")
            assert result.unwrap() == 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    gc.collect()
    try:
        trio.run(main)
    finally:
        module["Ownership"] = Ownership
    return elapsed / runs, cpu / runs


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
    keys = ("with", "without", "cpu+", "cpu-", "ops+", "ops-")
    columns: dict[str, list[float]] = {k: [] for k in keys}
    with (
        tempfile.TemporaryDirectory() as directory,
        SqliteStore(Path(directory) / "lease.db") as store,
    ):
        _runs(store, 50, ids, True)  # warm-up
        _runs(store, 50, ids, False)
        for _ in range(args.repeats):
            for leased, wall_key, cpu_key in ((True, "with", "cpu+"), (False, "without", "cpu-")):
                seconds, cpu_seconds = _runs(store, args.runs, ids, leased)
                columns[wall_key].append(seconds)
                columns[cpu_key].append(cpu_seconds)
            columns["ops+"].append(_store_ops(store, args.runs, ids, True))
            columns["ops-"].append(_store_ops(store, args.runs, ids, False))
    us = {k: [v * 1e6 for v in vs] for k, vs in columns.items()}

    def added(plus: str, minus: str) -> float:
        return statistics.median(a - b for a, b in zip(us[plus], us[minus], strict=True))

    wall, cpu, ops = added("with", "without"), added("cpu+", "cpu-"), added("ops+", "ops-")
    verdicts = ["ok" if x <= BAR_US else "OVER" for x in (wall, cpu)]
    print(f"microseconds per run, {args.runs} runs of a 3-step chain on SQLite, median of")
    print(f"{args.repeats} repeats (added: median of the per-repeat differences)")
    headers = ["", "with lease", "without", "added by the lease", f"<= {BAR_US:g} us"]
    table: list[list[object]] = [
        ["whole runs", *(statistics.median(us[k]) for k in ("with", "without")), wall],
        ["whole runs, CPU", *(statistics.median(us[k]) for k in ("cpu+", "cpu-")), cpu],
        ["store ops", *(statistics.median(us[k]) for k in ("ops+", "ops-")), ops],
    ]
    for row, verdict in zip(table, [*verdicts, ""], strict=True):
        row.append(verdict)
    print(format_table(headers, table))
    return 1 if verdicts == ["OVER", "OVER"] else 0


if __name__ == "__main__":
    sys.exit(main())
