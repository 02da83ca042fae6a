"""The standard benchmark workloads of BENCHMARKS.md, under the names the scripts here import.

The DAGs, their value semantics (`reference_values`: each step's value is the
sum of its inputs + 1, a root's input being ``ROOT_INPUT``) and the wiring of a
DAG as a dagfn graph are defined once, in `dagfn._workloads`, which ``dagfn
bench`` and `dagfn.testing` use too. This module re-exports them, keeps the
function forms the scripts call (`critical_path`, `lower_bound`,
`dependents`) and adds what only the benchmarks need (`strong_lower_bound`).
The peers' environment imports it by path (dagfn is installed there from this
checkout).

>>> reference_values(chain(3))
(1, 2, 3)
>>> reference_values(fanout(2))
(1, 2, 2, 5)
"""

from __future__ import annotations

from dagfn import _workloads
from dagfn._checks import positive_int
from dagfn._workloads import (
    ROOT_INPUT,
    Dag,
    chain,
    fanout,
    lattice,
    makespan,
    reference_values,
    standard,
    step_value,
)

__all__ = [
    "ROOT_INPUT",
    "Dag",
    "chain",
    "critical_path",
    "dependents",
    "fanout",
    "lattice",
    "lower_bound",
    "strong_lower_bound",
    "makespan",
    "reference_values",
    "standard",
    "step_value",
]


def dependents(dag: Dag) -> tuple[tuple[int, ...], ...]:
    """For each step, the steps that depend on it, ascending."""
    return _workloads.dependents(dag.deps)


def critical_path(dag: Dag) -> float:
    """The longest sum of durations along a path: no schedule can finish sooner."""
    return dag.critical_path()


def lower_bound(dag: Dag, k: int) -> float:
    """BENCHMARKS.md's bound on the makespan with `k` workers: max(critical path, total work / k).

    No schedule finishes sooner, but on DAGs that open or close nearly as a
    chain no schedule reaches it either: `strong_lower_bound` is a tighter one.
    """
    return dag.lower_bound(positive_int("k", k, what="a worker count >= 1"))


def strong_lower_bound(dag: Dag, k: int) -> float:
    """A lower bound on the makespan with `k` workers, at least `lower_bound`, and much tighter.

    Every schedule of makespan C runs step j inside ``[head(j), C - after(j)]``,
    where head is the longest path into j and after the longest path out of j
    (j itself excluded from both). Three families of terms, each a valid bound:

    - descendants: ``head(i) + work(i and its descendants) / k``, since none of
      that work can start before step i can;
    - ancestors: the mirror image, ``work(i and its ancestors) / k + after(i)``;
    - windows (energetic reasoning): for any ``t1, t2 >= 0`` with ``t1 + t2 <= C``,
      at most ``max(0, t1 - head(j))`` of step j runs before t1 and at most
      ``max(0, t2 - after(j))`` after ``C - t2``, so the rest of it runs in a
      window of length ``C - t1 - t2`` that k workers share:
      ``C >= t1 + t2 + sum_j max(0, d(j) - those two) / k``. A window term may
      be used once ``t1 + t2`` is at most a bound already proven, so the bound
      is raised to a fixed point.

    Any ``t1, t2`` give a valid term; the ones tried are the steps' heads and
    afters, where the terms change slope.

    >>> round(strong_lower_bound(Dag("two", ((), (0,)), (0.002, 0.003)), 2), 6)
    0.005
    """
    bound = lower_bound(dag, k)  # raises for a DAG without durations
    durations = dag.durations or ()
    n = len(durations)
    below = dependents(dag)
    head = [0.0] * n
    ancestors: list[set[int]] = [set() for _ in range(n)]
    for i, ds in enumerate(dag.deps):
        head[i] = max((head[j] + durations[j] for j in ds), default=0.0)
        for j in ds:
            ancestors[i] |= ancestors[j] | {j}
    after = [0.0] * n
    descendants: list[set[int]] = [set() for _ in range(n)]
    for i in range(n - 1, -1, -1):
        after[i] = max((after[j] + durations[j] for j in below[i]), default=0.0)
        for j in below[i]:
            descendants[i] |= descendants[j] | {j}
    for i, d in enumerate(durations):
        bound = max(
            bound,
            head[i] + (d + sum(durations[j] for j in descendants[i])) / k,
            (d + sum(durations[j] for j in ancestors[i])) / k + after[i],
        )
    windows: list[tuple[float, float]] = []  # (t1 + t2, the bound it gives)
    afters = sorted(set(after))
    for t1 in sorted(set(head)):
        # what of each step must still run after t1, with its `after`
        rest = [(a, d - max(0.0, t1 - h)) for h, a, d in zip(head, after, durations, strict=True)]
        rest = [(a, r) for a, r in rest if r > 0]
        for t2 in afters:
            inside = sum(max(0.0, r - max(0.0, t2 - a)) for a, r in rest)
            windows.append((t1 + t2, t1 + t2 + inside / k))
    windows.sort()
    best_so_far = 0.0
    index = 0
    while True:
        while index < len(windows) and windows[index][0] <= bound:
            best_so_far = max(best_so_far, windows[index][1])
            index += 1
        if best_so_far <= bound:
            return bound
        bound = best_so_far
