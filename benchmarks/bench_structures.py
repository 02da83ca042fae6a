"""Loops, subgraphs and builders cost no more per step than plain expressions.

The same 2,000 steps of async ``x + 1`` run as: a plain ``>>`` chain, the chain
built by `Builder`, the chain inside a named subgraph, and a loop of 20
iterations whose body is a 100-step chain. Per-step microseconds and the ratio
to the hand-written trio engine on the same chain, measured in one process.
Run: ``python benchmarks/bench_structures.py``. Bar (issue 4): every row within
the typed core's bar (1.5x the trio engine).
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

from _timing import format_table, per_step_us, time_once
from trio_engine import prepare, run_trio_engine
from workloads import chain

from dagfn import Builder, Graph, loop, node, run
from dagfn._plan import plan_of

STEPS = 2000
BODY = 100


async def plus_one(x: int) -> int:
    return x + 1


def linear(n: int, prefix: str = "s") -> Graph[int, int, Any]:
    g: Graph[int, int, Any] = node(plus_one).named(f"{prefix}0")
    for i in range(1, n):
        g = g >> node(plus_one).named(f"{prefix}{i}")
    return g


def built(n: int) -> Graph[Any, Any, Any]:
    b = Builder()
    b.add("s0", plus_one)
    for i in range(1, n):
        b.add(f"s{i}", plus_one, after=(f"s{i - 1}",))
    return b.build(output=f"s{n - 1}")


def looped(n: int, body: int) -> Graph[int, int, Any]:
    iterations = n // body
    return loop(linear(body), until=lambda x: x >= n, max_steps=iterations)


def main() -> int:
    prepared = prepare(chain(STEPS))

    async def engine() -> None:
        await run_trio_engine(prepared, "async")

    cases: dict[str, Graph[Any, Any, Any]] = {
        "plain chain": linear(STEPS),
        "Builder chain": built(STEPS),
        "named subgraph": linear(STEPS).named("sub"),
        f"loop of {STEPS // BODY} x {BODY}": looped(STEPS, BODY),
    }
    runners: dict[str, Any] = {"trio engine": engine}
    for name, graph in cases.items():
        plan_of(graph)

        async def once(g: Graph[Any, Any, Any] = graph) -> None:
            result = await run(g, 0)
            assert result.unwrap() == STEPS, result

        runners[name] = once
    # Interleaved rounds, so that a change in the machine's load hits every row alike.
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for round_ in range(9):
        for name, runner in runners.items():
            took = time_once(runner)
            if round_:
                samples[name].append(took)
    t_engine = statistics.median(samples.pop("trio engine"))
    rows: list[list[object]] = []
    ok = True
    for name, times in samples.items():
        t = statistics.median(times)
        ratio = t / t_engine
        ok &= ratio <= 1.5
        rows.append([name, f"{per_step_us(t, STEPS):.2f}", f"{ratio:.2f}"])
    rows.append(["trio engine", f"{per_step_us(t_engine, STEPS):.2f}", "1.00"])
    print(format_table(["graph (2,000 async steps)", "us/step", "x trio engine"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
