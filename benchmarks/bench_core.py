"""dagfn against the hand-written trio engine on the standard workloads.

Run: ``python benchmarks/bench_core.py [--repeats N]``. Prints, per workload,
microseconds per step for both engines and their ratio, measured in this one
process (absolute times on a shared machine move; ratios are what count), and
for makespan the ratio of the run time to the critical path.

Bars (issue 2): chain, fanout and lattice at most 1.5x the trio engine; the
sync chain at most 0.75x of it; makespan at most 1.07x the critical path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from _timing import format_table, per_step_us, ratio, time_once
from dagfn_graphs import Body, build
from trio_engine import BodyKind, prepare, run_trio_engine
from workloads import ROOT_INPUT, Dag, chain, critical_path, fanout, lattice, makespan
from workloads import reference_values as reference

from dagfn import Graph, run
from dagfn._plan import plan_of

BARS = {"chain": 1.5, "fanout": 1.5, "lattice": 1.5, "sync": 0.75}


def _dagfn_once(graph: Graph[int, tuple[int, ...], Any], expected: tuple[int, ...]) -> Any:
    async def once() -> None:
        result = await run(graph, ROOT_INPUT)
        if result.unwrap() != expected:
            raise AssertionError(f"dagfn computed {result}, expected {expected}")

    return once


def measure(dag: Dag, body: Body, repeats: int) -> tuple[float, float]:
    """Median seconds of one run: (dagfn, trio engine)."""
    graph = build(dag, body)
    plan_of(graph)  # lower outside the timing
    values = reference(dag)
    sinks = tuple(values[i] for i in dag.sinks)
    prepared = prepare(dag)
    kind: BodyKind = body

    async def engine() -> None:
        got = await run_trio_engine(prepared, kind)
        if got != values:
            raise AssertionError("the trio engine computed a wrong value")

    # Interleaved rounds (after one untimed round each), so that a change in the
    # machine's load hits both engines alike.
    ours = _dagfn_once(graph, sinks)
    time_once(engine), time_once(ours)
    engine_times, dagfn_times = [], []
    for _ in range(repeats):
        engine_times.append(time_once(engine))
        dagfn_times.append(time_once(ours))
    return statistics.median(dagfn_times), statistics.median(engine_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    rows: list[list[object]] = []
    ok = True
    cases: list[tuple[str, Dag, Body]] = [
        ("chain", chain(), "async"),
        ("fanout", fanout(), "async"),
        ("lattice", lattice(), "async"),
        ("sync", chain().renamed("sync"), "sync"),
    ]
    for name, dag, body in cases:
        t_dagfn, t_engine = measure(dag, body, args.repeats)
        r = ratio(t_dagfn, t_engine)
        bar = BARS[name]
        ok &= r <= bar
        rows.append(
            [
                name,
                len(dag),
                f"{per_step_us(t_dagfn, len(dag)):.2f}",
                f"{per_step_us(t_engine, len(dag)):.2f}",
                f"{r:.2f}",
                f"<= {bar}",
                "ok" if r <= bar else "OVER",
            ]
        )
    print(
        format_table(
            ["workload", "steps", "dagfn us/step", "trio us/step", "ratio", "bar", ""], rows
        )
    )
    dag = makespan()
    cp = critical_path(dag)
    t_dagfn, t_engine = measure(dag, "sleep", max(5, args.repeats // 2))
    m_dagfn, m_engine = t_dagfn / cp, t_engine / cp
    ok &= m_dagfn <= 1.07
    print()
    print(
        format_table(
            ["makespan", "critical path ms", "dagfn / cp", "trio engine / cp", "bar"],
            [["makespan", f"{cp * 1000:.1f}", f"{m_dagfn:.3f}", f"{m_engine:.3f}", "<= 1.07"]],
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
