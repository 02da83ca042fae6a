"""The scheduler comparison behind ``dagfn bench``: seeded random DAGs and a timing loop.

`random_dag` draws the makespan workload of the project's BENCHMARKS.md (step
``i`` joins 1-3 random steps among the previous 20; each sleeps a seeded 1-20
ms), `layered_dag` a wide variant where the order of ready steps matters more.
`graph_of` turns one into a dagfn graph whose steps sleep and add; `compare`
runs graphs under each scheduling policy with ``Limits(concurrency=k)`` and
`table` prints the makespans and their ratios to the best policy.

>>> import trio, trio.testing
>>> dag = random_dag(5, seed=1)
>>> clock = trio.testing.MockClock(autojump_threshold=0)  # virtual time: sleeps are instant
>>> timings = trio.run(compare, {"tiny": Case(graph_of(dag), 0, dag)}, clock=clock)
>>> [(t.policy, round(t.seconds / t.bound, 3)) for t in timings]
[('critical_path', 1.0), ('fifo', 1.0), ('waves', 1.371)]
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio
from returns.result import Failure

from dagfn._errors import expected
from dagfn._graph import Graph, gather, node
from dagfn._interpret import POLICIES, run
from dagfn._policy import Limits

__all__ = [
    "WORKLOADS",
    "Case",
    "RandomDag",
    "Timing",
    "compare",
    "graph_of",
    "layered_dag",
    "random_dag",
    "table",
    "workloads",
]


@attrs.frozen
class RandomDag:
    """Steps ``0..n-1`` in topological order, with dependencies and durations in seconds."""

    # deps[i]: earlier steps whose values step i sums, ascending.
    deps: tuple[tuple[int, ...], ...]
    # durations[i]: how long step i sleeps.
    durations: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.deps)

    @property
    def sinks(self) -> tuple[int, ...]:
        """Steps no other step depends on: the graph's output is their values, in order."""
        used = {d for ds in self.deps for d in ds}
        return tuple(i for i in range(len(self.deps)) if i not in used)

    def critical_path(self) -> float:
        """The longest sum of durations along a path: no schedule finishes sooner."""
        finish: list[float] = []
        for ds, d in zip(self.deps, self.durations, strict=True):
            finish.append(max((finish[j] for j in ds), default=0.0) + d)
        return max(finish, default=0.0)

    def lower_bound(self, workers: int | None) -> float:
        """max(critical path, total work / workers): the least makespan possible."""
        if workers is None:
            return self.critical_path()
        return max(self.critical_path(), sum(self.durations) / workers)

    def scaled(self, factor: float) -> RandomDag:
        """The same DAG with every duration multiplied by ``factor``."""
        return RandomDag(self.deps, tuple(d * factor for d in self.durations))


def random_dag(steps: int = 200, *, seed: int = 1, window: int = 20) -> RandomDag:
    """``steps`` steps; step i > 0 joins 1-3 random steps among the previous ``window``.

    One ``random.Random(seed)`` draws, step by step: for i > 0 the number of
    dependencies k (1..min(3, i)) and k distinct steps among the previous
    ``window``; then the step's duration, a whole number of milliseconds in 1..20.
    With the defaults this is the makespan workload of BENCHMARKS.md.
    """
    _positive("steps", steps)
    _positive("window", window)
    rng = random.Random(seed)
    deps: list[tuple[int, ...]] = []
    durations: list[float] = []
    for i in range(steps):
        if i == 0:
            deps.append(())
        else:
            k = rng.randint(1, min(3, i))
            deps.append(tuple(sorted(rng.sample(range(max(0, i - window), i), k))))
        durations.append(rng.randint(1, 20) / 1000)
    return RandomDag(tuple(deps), tuple(durations))


def layered_dag(layers: int = 10, width: int = 20, *, seed: int = 2) -> RandomDag:
    """``layers`` x ``width`` steps; each step after the first layer joins 1-3 of the previous.

    Durations are seeded whole milliseconds in 1..20, so many steps are ready at
    once and the policy's choice among them decides the makespan.
    """
    _positive("layers", layers)
    _positive("width", width)
    rng = random.Random(seed)
    deps: list[tuple[int, ...]] = [()] * width
    for layer in range(1, layers):
        previous = range((layer - 1) * width, layer * width)
        for _ in range(width):
            k = rng.randint(1, min(3, width))
            deps.append(tuple(sorted(rng.sample(previous, k))))
    return RandomDag(tuple(deps), tuple(rng.randint(1, 20) / 1000 for _ in deps))


def graph_of(dag: RandomDag) -> Graph[int, tuple[int, ...], Any]:
    """The dagfn graph of ``dag``: step i (named ``s{i}``) sleeps, then sums its inputs + 1.

    Roots take the run input; the output is every sink's value.
    """
    steps: list[Graph[int, int, Any]] = []
    for i, ds in enumerate(dag.deps):
        name, seconds = f"s{i}", dag.durations[i]
        if not ds:
            steps.append(node(_add_one(seconds)).named(name))
        elif len(ds) == 1:
            steps.append(steps[ds[0]] >> node(_add_one(seconds)).named(name))
        else:
            steps.append(gather([steps[d] for d in ds]) >> node(_sum_one(seconds)).named(name))
    return gather([steps[i] for i in dag.sinks])


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


WORKLOADS: Mapping[str, Callable[[], RandomDag]] = {
    "makespan": random_dag,
    "layered": layered_dag,
}
"""The built-in workloads of ``dagfn bench``, by name."""


@attrs.frozen
class Case:
    """One graph to compare the policies on, with its input and (if known) its lower bound."""

    graph: Graph[Any, Any, Any]
    x: Any
    # The DAG it was built from, for the lower bound; None for a user's graph.
    dag: RandomDag | None = None


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
    _positive("repeats", repeats)
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


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise expected("an int >= 1", name, value)
