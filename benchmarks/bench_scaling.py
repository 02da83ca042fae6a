"""Scaling: plan build time, run time and peak memory for 1k, 10k and 100k steps.

Run: ``python benchmarks/bench_scaling.py [--repeats N] [--sizes 1000,10000,100000]``.

For chains and lattices (50 wide, each step joins 3 of the previous layer) with
async and sync bodies, per size:

- build: writing the typed expression (``dagfn_graphs.build``) and lowering it
  to a plan (``plan_of``), in microseconds per step;
- run: the median of ``--repeats`` runs (fewer for the largest size), in
  microseconds per step, with the output checked against ``reference_values``;
- memory (``tracemalloc``, in a separate pass since tracing slows Python down):
  bytes per step retained by the graph and its plan, the peak while building,
  and the peak of one run above what was retained before it. "peak / step" is
  the largest of the whole build-and-run pass over the steps.

``--no-gc`` turns CPython's cyclic garbage collector off while building and
running (collecting between measurements): what is left is dagfn's own cost.
With it on, full collections traverse every live object (the user's graph
included), and they only start past a heap size the 1k case never reaches: that,
not the algorithm, is most of the per-step growth of the build at 100k.

Bars (issue 6): at the largest size the build's and the run's per-step costs
are within 1.5x of the smallest size's, and peak memory is under 2 KiB per
step. Exit status 1 if a bar is missed. Times from one process and run:
compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from typing import Any

import trio
from _timing import format_table, median_time, per_step_us
from dagfn_graphs import Body, build
from workloads import ROOT_INPUT, Dag, chain, lattice, reference_values

from dagfn import Graph, run
from dagfn._plan import plan_of

SIZES = (1_000, 10_000, 100_000)
WIDTH = 50  # lattice layer width, as in BENCHMARKS.md
MODULUS = 1_000_003  # values stay small: 2,000 layers of sums would make 3,000-bit integers
RUN_BAR = 1.5  # largest size's run us/step over the smallest's
MEMORY_BAR = 2048  # bytes per step at the peak


def shape(name: str, steps: int) -> Dag:
    """A chain or a lattice of `steps` steps (lattice: steps // 50 layers of 50)."""
    if name == "chain":
        return chain(steps)
    return lattice(max(1, steps // WIDTH), WIDTH)


def build_seconds(dag: Dag, body: Body) -> tuple[float, float]:
    """Seconds to write the expression and to lower it (best of 2: building is deterministic)."""
    expr_times, plan_times = [], []
    for _ in range(2):
        gc.collect()
        start = time.perf_counter()
        graph = build(dag, body, modulus=MODULUS)
        built = time.perf_counter()
        plan_of(graph)
        expr_times.append(built - start)
        plan_times.append(time.perf_counter() - built)
        del graph
    return min(expr_times), min(plan_times)


def run_seconds(dag: Dag, body: Body, repeats: int) -> float:
    """Median seconds of one run (the plan lowered before), with the output checked."""
    graph = build(dag, body, modulus=MODULUS)
    plan_of(graph)
    values = reference_values(dag, modulus=MODULUS)
    expected = tuple(values[i] for i in dag.sinks)

    async def once() -> None:
        out = (await run(graph, ROOT_INPUT)).unwrap()
        if out != expected:
            raise AssertionError(f"{dag.name} of {len(dag)} steps computed a wrong output")

    return median_time(once, repeats=repeats, warmup=1)


def memory(dag: Dag, body: Body) -> tuple[int, int, int, int]:
    """Bytes (retained by graph + plan, build peak, run peak above retained, overall peak)."""
    gc.collect()
    tracemalloc.start()
    try:
        graph: Graph[int, tuple[int, ...], Any] = build(dag, body, modulus=MODULUS)
        plan_of(graph)
        gc.collect()
        retained, build_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = trio.run(_run, graph)
        _, run_peak = tracemalloc.get_traced_memory()
        result.unwrap()
    finally:
        tracemalloc.stop()
    return retained, build_peak, run_peak - retained, max(build_peak, run_peak)


async def _run(graph: Graph[int, tuple[int, ...], Any]) -> Any:
    return await run(graph, ROOT_INPUT)


def measure(
    name: str, body: Body, sizes: tuple[int, ...], repeats: int, *, no_gc: bool = False
) -> list[dict[str, Any]]:
    rows = []
    for steps in sizes:
        gc.collect()
        if no_gc:
            gc.disable()
        dag = shape(name, steps)
        n = len(dag)
        expr_s, plan_s = build_seconds(dag, body)
        reps = repeats if n <= 10_000 else max(3, repeats // 2)
        run_s = run_seconds(dag, body, reps)
        retained, build_peak, run_peak, peak = memory(dag, body)
        gc.enable()
        rows.append(
            {
                "shape": name,
                "body": body,
                "steps": n,
                "expr_us": per_step_us(expr_s, n),
                "plan_us": per_step_us(plan_s, n),
                "run_us": per_step_us(run_s, n),
                "retained_b": retained / n,
                "build_peak_b": build_peak / n,
                "run_peak_b": run_peak / n,
                "peak_b": peak / n,
            }
        )
        r = rows[-1]
        print(
            f"  {name:7} {body:5} {n:7}: expr {r['expr_us']:.1f} plan {r['plan_us']:.1f}"
            f" run {r['run_us']:.1f} us/step; peak {r['peak_b']:.0f} B/step",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=SIZES,
        help="comma-separated step counts (default 1000,10000,100000)",
    )
    parser.add_argument("--no-gc", action="store_true", help="cyclic GC off while measuring")
    args = parser.parse_args(argv)
    sizes: tuple[int, ...] = args.sizes
    rows: list[dict[str, Any]] = []
    cases: list[tuple[str, Body]] = [
        ("chain", "async"),
        ("chain", "sync"),
        ("lattice", "async"),
        ("lattice", "sync"),
    ]
    for name, body in cases:
        rows += measure(name, body, sizes, args.repeats, no_gc=args.no_gc)
    ok = True
    table = []
    verdicts = []
    for name, body in cases:
        mine = [r for r in rows if r["shape"] == name and r["body"] == body]
        small, large = mine[0], mine[-1]
        growth = large["run_us"] / small["run_us"]
        build_growth = (large["expr_us"] + large["plan_us"]) / (small["expr_us"] + small["plan_us"])
        worst = max(r["peak_b"] for r in mine)
        good = growth <= RUN_BAR and build_growth <= RUN_BAR and worst < MEMORY_BAR
        ok &= good
        verdicts.append(
            [
                name,
                body,
                f"{large['steps']} / {small['steps']}",
                f"{build_growth:.2f}",  # expression + plan, per step
                f"{growth:.2f}",
                f"{worst:.0f}",
                "ok" if good else "OVER",
            ]
        )
        for r in mine:
            table.append(
                [
                    name,
                    body,
                    r["steps"],
                    r["expr_us"],
                    r["plan_us"],
                    r["run_us"],
                    f"{r['retained_b']:.0f}",
                    f"{r['build_peak_b']:.0f}",
                    f"{r['run_peak_b']:.0f}",
                    f"{r['peak_b']:.0f}",
                ]
            )
    headers = [
        "shape",
        "body",
        "steps",
        "expr us/step",
        "plan us/step",
        "run us/step",
        "retained B/step",
        "build peak B/step",
        "run peak B/step",
        "peak B/step",
    ]
    print(f"cyclic GC {'off' if args.no_gc else 'on'}")
    print(format_table(headers, table))
    print()
    print(
        format_table(
            [
                "shape",
                "body",
                "sizes",
                f"build growth (<= {RUN_BAR})",
                f"run growth (<= {RUN_BAR})",
                f"worst peak B/step (< {MEMORY_BAR})",
                "",
            ],
            verdicts,
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
