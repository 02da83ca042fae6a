"""The ``limited`` workload: makespan DAGs under ``Limits(concurrency=4)``, per policy.

Run: ``python benchmarks/bench_limits.py [--dags 20] [--repeats 5]``. For each of
the seeded makespan DAGs (`workloads.makespan(200, seed)`, seeds 1..N) and each
policy, the run time is divided by the lower bound ``max(critical path, total
work / k)`` of BENCHMARKS.md. Two clocks:

- *virtual*: trio's MockClock, so the ratio is the schedule's quality alone
  (deterministic; no timer rounding, no interpreter cost);
- *real*: the median of ``--repeats`` real runs, as BENCHMARKS.md asks.

Variants: ``critical_path`` (ranks by step counts, what a run does today),
``critical_path+durations`` (ranks by the step durations of an earlier run
journaled in a store, as a service with a store would), ``fifo`` and
``waves`` (for contrast).

The bound of BENCHMARKS.md is loose on these DAGs: their start is nearly a
chain, so 4 workers cannot all be busy. ``tighter_bound`` adds two classic
terms (for every step: its earliest start plus the work of it and its
descendants spread on k workers, and the mirror image); no schedule beats it,
so its ratio to the loose bound shows what part of any gap is unavoidable.

Bar (issue 3): ``critical_path`` at most 1.03x the bound on average, and below
``fifo``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from _timing import format_table, median_time
from dagfn_graphs import build
from workloads import Dag, dependents, lower_bound, makespan, reference_values

from dagfn import Graph, Limits, run
from dagfn._interpret import plan_of
from dagfn.store import MemoryStore

K = 4
VARIANTS = ("critical_path", "critical_path+durations", "fifo", "waves")
BAR = 1.03


def tighter_bound(dag: Dag, k: int) -> float:
    """A lower bound on the makespan with ``k`` workers, at least `workloads.lower_bound`.

    For every step i: ``head(i) + work(i and its descendants) / k`` (nothing of
    that work can start before i can), and ``work(i and its ancestors) / k +
    tail(i) - d(i)`` (the mirror image), where head is the longest path into i
    and tail the longest path from i, i included.
    """
    assert dag.durations is not None
    d, below, n = dag.durations, dependents(dag), len(dag)
    head = [0.0] * n
    ancestors: list[set[int]] = [set() for _ in range(n)]
    for i, ds in enumerate(dag.deps):
        head[i] = max((head[j] + d[j] for j in ds), default=0.0)
        for j in ds:
            ancestors[i] |= ancestors[j] | {j}
    tail = [0.0] * n
    descendants: list[set[int]] = [set() for _ in range(n)]
    for i in range(n - 1, -1, -1):
        tail[i] = d[i] + max((tail[j] for j in below[i]), default=0.0)
        for j in below[i]:
            descendants[i] |= descendants[j] | {j}
    bound = lower_bound(dag, k)
    for i in range(n):
        after = d[i] + sum(d[j] for j in descendants[i])
        before = d[i] + sum(d[j] for j in ancestors[i])
        bound = max(bound, head[i] + after / k, before / k + tail[i] - d[i])
    return bound


def _runner(
    graph: Graph[int, tuple[int, ...], Any],
    policy: str,
    expected: tuple[int, ...],
    store: MemoryStore | None = None,
) -> Callable[[], Any]:
    async def once() -> None:
        limits = Limits(concurrency=K)
        if store is None:
            result = await run(graph, 0, policy=policy, limits=limits)
        else:  # a new run id each time: the store only lends its history of durations
            run_id = uuid.uuid4().hex
            result = await run(graph, 0, policy=policy, limits=limits, store=store, run_id=run_id)
        if result.unwrap() != expected:
            raise AssertionError(f"{policy}: computed {result}, expected {expected}")

    return once


def virtual_seconds(fn: Callable[[], Any]) -> float:
    """How long ``await fn()`` takes on trio's MockClock (sleeps cost no real time)."""

    async def timed() -> float:
        start = trio.current_time()
        await fn()
        return trio.current_time() - start

    return trio.run(timed, clock=trio.testing.MockClock(autojump_threshold=0))


def learned(graph: Graph[int, tuple[int, ...], Any]) -> MemoryStore:
    """A store holding one journaled run of ``graph``: later runs rank by its durations."""
    store = MemoryStore()

    async def once() -> None:
        await run(graph, 0, store=store, run_id="learn", limits=Limits(concurrency=K))

    trio.run(once, clock=trio.testing.MockClock(autojump_threshold=0))
    return store


def measure(seed: int, repeats: int, real: bool) -> dict[str, tuple[float, float | None]]:
    """Per variant: (virtual ratio, real ratio or None) to the bound of BENCHMARKS.md."""
    dag = makespan(200, seed)
    bound = lower_bound(dag, K)
    values = reference_values(dag)
    expected = tuple(values[i] for i in dag.sinks)
    graph = build(dag, "sleep")
    plan_of(graph)  # lowered outside the timing
    out: dict[str, tuple[float, float | None]] = {}
    for variant in VARIANTS:
        policy = variant.split("+")[0]
        store = learned(graph) if variant.endswith("+durations") else None
        once = _runner(graph, policy, expected, store)
        virtual = virtual_seconds(once) / bound
        measured = median_time(once, repeats, warmup=0) / bound if real else None
        out[variant] = (virtual, measured)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--virtual-only", action="store_true", help="skip the real runs")
    args = parser.parse_args(argv)
    seeds = range(1, args.dags + 1)
    results: dict[str, list[tuple[float, float | None]]] = {v: [] for v in VARIANTS}
    tight: list[float] = []
    for seed in seeds:
        dag = makespan(200, seed)
        tight.append(tighter_bound(dag, K) / lower_bound(dag, K))
        for variant, ratios in measure(seed, args.repeats, not args.virtual_only).items():
            results[variant].append(ratios)
        cells = "  ".join(
            f"{v}={results[v][-1][0]:.3f}/{_fmt(results[v][-1][1])}" for v in VARIANTS
        )
        print(f"seed {seed:2d}: tighter/loose={tight[-1]:.3f}  {cells}", flush=True)
    rows: list[list[object]] = []
    for variant in VARIANTS:
        virtual = [v for v, _ in results[variant]]
        real = [r for _, r in results[variant] if r is not None]
        rows.append(
            [
                variant,
                statistics.mean(virtual),
                max(virtual),
                statistics.mean(real) if real else None,
                max(real) if real else None,
            ]
        )
    print()
    print(f"limited: {len(seeds)} makespan DAGs (200 steps), Limits(concurrency={K});")
    print("ratio = run time / max(critical path, total work / 4)")
    print(
        format_table(
            ["policy", "virtual mean", "virtual max", "real mean", "real max"],
            rows,
        )
    )
    print()
    print(
        f"the tighter bound is {statistics.mean(tight):.3f}x the loose one on average "
        f"(max {max(tight):.3f}): no schedule's mean ratio can be below that"
    )
    index = 3 if not args.virtual_only else 1
    means = {row[0]: row[index] for row in rows}
    ok = True
    for variant in ("critical_path", "critical_path+durations"):
        mean = means[variant]
        assert isinstance(mean, float)
        fifo = means["fifo"]
        assert isinstance(fifo, float)
        meets = mean <= BAR and mean < fifo
        ok &= variant != "critical_path" or meets
        print(
            f"{variant}: mean {mean:.3f} <= {BAR}: {'yes' if mean <= BAR else 'NO'}; "
            f"below fifo ({fifo:.3f}): {'yes' if mean < fifo else 'NO'}"
        )
    return 0 if ok else 1


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
