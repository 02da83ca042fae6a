"""The ``rates`` workload: 1,000 steps of cost 100 under ``Rate(10_000, per=1.0)``.

Run: ``python benchmarks/bench_rates.py [--steps 1000] [--repeats 5]``.

In virtual time (trio's MockClock, autojump), so the figure is the
schedule's alone: the rate admits 10,000 units a second into a bucket that
starts empty, so 1,000 steps of 100 cannot all have started before 10 virtual
seconds, the ideal. Bar (issue 13): the run ends within 1% of it. A second
table shows what the rate costs in real time per step (the same steps with no
rate, and with a rate so high that no step waits), and that a step that does
not need the rate is not delayed by the ones waiting for it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio
import trio.testing
from _timing import format_table, median_time

from dagfn import Graph, Limits, Rate, gather, node, run

COST = 100.0
RATE = Rate(10_000, per=1.0)
BAR = 0.01


def _graph(n: int, *, rated: bool) -> Graph[int, tuple[int, ...], Any]:
    def step(x: int) -> int:
        return x + 1

    one = node(step)
    steps = [(one.on("tokens", COST) if rated else one).named(f"s{k}") for k in range(n)]
    return gather(steps)


def virtual_seconds(n: int) -> tuple[float, float]:
    """When the last rated step ends, and when a step that needs no rate ends (virtual s)."""
    free_at = 0.0

    def free(x: int) -> int:
        nonlocal free_at
        free_at = trio.current_time()
        return x

    graph = (_graph(n, rated=True) & node(free).on("llm", 1).named("free")).join(
        lambda a, b: len(a) + b, name="total"
    )
    limits = Limits(resources={"llm": 1}, rates={"tokens": RATE})

    async def main() -> float:
        result = await run(graph, 0, limits=limits)
        assert result.unwrap() == n
        return trio.current_time()

    took = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return took, free_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.steps
    ideal = n * COST / RATE.per_second
    took, free_at = virtual_seconds(n)
    off = abs(took - ideal) / ideal
    print(
        format_table(
            ["workload", "virtual s", "ideal s", "off by", "bar", "ok"],
            [
                [
                    f"rates ({n} x {COST:g} under Rate({RATE.count:g}, per={RATE.per:g}))",
                    f"{took:.4f}",
                    f"{ideal:.4f}",
                    f"{off:.3%}",
                    f"<= {BAR:.0%}",
                    "yes" if off <= BAR else "NO",
                ],
                ["a step needing no rate, beside them: ends at", f"{free_at:.4f}", "0", "", "", ""],
            ],
        )
    )

    rows = []
    for label, limits, rated in (
        ("no limits", None, False),
        ("Limits(concurrency=64)", Limits(concurrency=64), False),
        ("budget never waited for (.on: a task each)", Limits(resources={"tokens": 1e12}), True),
        (
            "rate never waited for (.on: a task each)",
            Limits(rates={"tokens": Rate(1e12, per=1.0)}),
            True,
        ),
    ):
        graph = _graph(n, rated=rated)

        async def once(graph: Any = graph, limits: Limits | None = limits) -> None:
            result = await run(graph, 0, limits=limits)
            assert len(result.unwrap()) == n

        seconds = median_time(once, repeats=args.repeats)
        rows.append([label, f"{seconds / n * 1e6:.1f}"])
    print()
    print(format_table(["real time, same steps", "us per step"], rows))
    return 0 if off <= BAR and free_at == 0.0 else 1


if __name__ == "__main__":
    sys.exit(main())
