"""The scheduler comparison behind ``dagfn bench``: seeded random DAGs and a timing loop.

The workloads are `dagfn._workloads`' (the DAGs ``benchmarks/`` measures too):
`makespan` is the makespan workload of the project's BENCHMARKS.md (step
``i`` joins 1-3 random steps among the previous 20; each sleeps a seeded 1-20
ms), `layered` a wide variant where the order of ready steps matters more.
`graph_of` turns one into a dagfn graph whose steps sleep and add; `compare`
runs graphs under each scheduling policy with ``Limits(concurrency=k)`` and
`table` prints the makespans and their ratios to the best policy.

>>> import trio, trio.testing
>>> dag = makespan(5, seed=1)
>>> clock = trio.testing.MockClock(autojump_threshold=0)  # virtual time: sleeps are instant
>>> timings = trio.run(compare, {"tiny": Case(graph_of(dag), 0, dag)}, clock=clock)
>>> [(t.policy, round(t.seconds / t.bound, 3)) for t in timings]
[('critical_path', 1.0), ('fifo', 1.0), ('waves', 1.371)]
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio
from returns.result import Failure

from dagfn import _workloads
from dagfn._checks import positive_int
from dagfn._errors import expected
from dagfn._graph import Graph, node
from dagfn._interpret import POLICIES, run
from dagfn._policy import Limits
from dagfn._workloads import Dag, layered, makespan

__all__ = [
    "WORKLOADS",
    "Case",
    "Dag",
    "Timing",
    "compare",
    "graph_of",
    "layered",
    "layered_dag",
    "makespan",
    "random_dag",
    "table",
    "workloads",
]


# Earlier names of the two generators, kept for callers (tests) that use them.
random_dag = makespan
layered_dag = layered


def graph_of(dag: Dag) -> Graph[int, tuple[int, ...], Any]:
    """The dagfn graph of ``dag``: step i (named ``s{i}``) sleeps, then sums its inputs + 1.

    Roots take the run input; the output is every sink's value.
    """
    durations = dag.durations if dag.durations is not None else (0.0,) * len(dag)

    def step(i: int) -> Graph[Any, int, Any]:
        if len(dag.deps[i]) <= 1:
            return node(_add_one(durations[i]))
        return node(_sum_one(durations[i]))

    return _workloads.graph_of(dag.deps, step)


def _add_one(seconds: float) -> Callable[[int], Any]:
    async def step(x: int) -> int:
        await trio.sleep(seconds)
        return x + 1

    return step


def _sum_one(seconds: float) -> Callable[[tuple[int, ...]], Any]:
    async def step(xs: tuple[int, ...]) -> int:
        await trio.sleep(seconds)
        return sum(xs) + 1

    return step


WORKLOADS: Mapping[str, Callable[[], Dag]] = {"makespan": makespan, "layered": layered}
"""The built-in workloads of ``dagfn bench``, by name."""


@attrs.frozen
class Case:
    """One graph to compare the policies on, with its input and (if known) its lower bound."""

    graph: Graph[Any, Any, Any]
    x: Any
    # The DAG it was built from, for the lower bound; None for a user's graph.
    dag: Dag | None = None


def workloads(names: Iterable[str] = tuple(WORKLOADS), *, scale: float = 1.0) -> dict[str, Case]:
    """The named built-in workloads as cases, durations multiplied by ``scale``."""
    cases = {}
    for name in names:
        if name not in WORKLOADS:
            raise expected(f"one of {', '.join(map(repr, WORKLOADS))}", "workload", name)
        dag = WORKLOADS[name]().scaled(scale)
        cases[name] = Case(graph_of(dag), 0, dag)
    return cases


@attrs.frozen
class Timing:
    """The makespan of one case under one policy: the median over the repeats."""

    workload: str
    policy: str
    # Median seconds of a run (trio's clock); None when every run failed.
    seconds: float | None
    # Lower bound with the concurrency limit, for built-in workloads.
    bound: float | None
    error: str | None = None


async def compare(
    cases: Mapping[str, Case],
    *,
    policies: Sequence[str] = POLICIES,
    concurrency: int | None = 4,
    repeats: int = 1,
) -> list[Timing]:
    """Run each case under each policy with ``Limits(concurrency=concurrency)``.

    Repeats interleave the policies (one run of each, then again), so drift in
    a shared machine's speed touches all of them alike. A failed run is
    reported in `Timing.error`, never raised.
    """
    positive_int("repeats", repeats, what="an int >= 1")
    limits = Limits(concurrency=concurrency)
    timings = []
    for name, case in cases.items():
        seconds: dict[str, list[float]] = {p: [] for p in policies}
        errors: dict[str, str] = {}
        for _ in range(repeats):
            for policy in policies:
                start = trio.current_time()
                result = await run(case.graph, case.x, policy=policy, limits=limits)
                took = trio.current_time() - start
                if isinstance(result, Failure):
                    errors[policy] = f"{type(result.failure()).__name__}: {result.failure()}"
                else:
                    seconds[policy].append(took)
        bound = None if case.dag is None else case.dag.lower_bound(concurrency)
        for policy in policies:
            times = seconds[policy]
            median = statistics.median(times) if times else None
            timings.append(Timing(name, policy, median, bound, errors.get(policy)))
    return timings


def table(timings: Sequence[Timing]) -> str:
    """A markdown table: makespan per workload and policy, its ratio to the best and the bound."""
    best: dict[str, float] = {}
    for t in timings:
        if t.seconds is not None:
            best[t.workload] = min(best.get(t.workload, t.seconds), t.seconds)
    rows = []
    for t in timings:
        ms = "-" if t.seconds is None else f"{t.seconds * 1000:.1f}"
        to_best = "-"
        if t.seconds is not None and best.get(t.workload):
            to_best = f"{t.seconds / best[t.workload]:.3f}"
        to_bound = "-" if t.seconds is None or not t.bound else f"{t.seconds / t.bound:.3f}"
        rows.append([t.workload, t.policy, ms, to_best, to_bound, t.error or ""])
    headers = ["workload", "policy", "makespan ms", "x best", "x bound", "error"]
    cells = [headers, *rows]
    widths = [max(len(str(r[c])) for r in cells) for c in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"
