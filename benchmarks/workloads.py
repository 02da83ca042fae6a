"""The standard benchmark workloads of BENCHMARKS.md, as plain data.

Nothing here knows about dagfn, trio or any peer: a workload is a `Dag` (steps
numbered in topological order, each with the earlier steps it depends on, and
optional durations), and every engine builds its own graph from it. The module
uses only the standard library so that the peers' separate environment can
import it by path.

Value semantics (the one definition every engine is checked against):

    A step's input is the sum of its dependencies' values, or the run input
    (``ROOT_INPUT == 0``) for a root step (one with no dependencies). Its value
    is its input + 1.

So in the chain, step i has value i + 1 (the "returns input + 1" body); in the
fanout the source is 1, each middle step 2 and the sink (which sums) 2n + 1.
`reference_values` evaluates this sequentially:

>>> reference_values(chain(3))
(1, 2, 3)
>>> reference_values(fanout(2))
(1, 2, 2, 5)
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

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

ROOT_INPUT = 0
"""The run input: what every root step receives."""


@dataclass(frozen=True, slots=True)
class Dag:
    """A workload: steps 0..n-1 in topological order, with dependencies and durations."""

    name: str
    # deps[i]: the steps step i depends on, each < i, distinct, ascending.
    deps: tuple[tuple[int, ...], ...]
    # durations[i]: seconds step i sleeps (makespan workloads); None where steps are no-ops.
    durations: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self.deps)

    @property
    def roots(self) -> tuple[int, ...]:
        """Steps with no dependencies: they take the run input."""
        return tuple(i for i, d in enumerate(self.deps) if not d)

    @property
    def sinks(self) -> tuple[int, ...]:
        """Steps no other step depends on."""
        used = {d for ds in self.deps for d in ds}
        return tuple(i for i in range(len(self.deps)) if i not in used)

    @property
    def edges(self) -> int:
        """The number of dependency edges."""
        return sum(len(d) for d in self.deps)

    def scaled(self, factor: float) -> Dag:
        """The same DAG with every duration multiplied by `factor` (0 makes sleeps instant)."""
        if self.durations is None:
            return self
        return Dag(self.name, self.deps, tuple(d * factor for d in self.durations))

    def renamed(self, name: str) -> Dag:
        """The same DAG under another name (e.g. "sync" for the chain with plain functions)."""
        return Dag(name, self.deps, self.durations)


def step_value(inputs: Iterable[int]) -> int:
    """The body of every step: the sum of its dependencies' values + 1.

    For a root step pass ``(ROOT_INPUT,)``.
    """
    return sum(inputs) + 1


def dependents(dag: Dag) -> tuple[tuple[int, ...], ...]:
    """For each step, the steps that depend on it, ascending."""
    out: list[list[int]] = [[] for _ in dag.deps]
    for i, ds in enumerate(dag.deps):
        for d in ds:
            out[d].append(i)
    return tuple(tuple(o) for o in out)


def chain(n: int = 2000) -> Dag:
    """`n` steps, each taking its predecessor's output."""
    _check_positive("n", n)
    return Dag("chain", ((), *((i - 1,) for i in range(1, n))))


def fanout(n: int = 1000) -> Dag:
    """1 source -> `n` independent steps -> 1 sink that joins all: n + 2 steps.

    Step 0 is the source, steps 1..n the middle, step n + 1 the sink.
    """
    _check_positive("n", n)
    middle = tuple(range(1, n + 1))
    return Dag("fanout", ((), *((0,),) * n, middle))


def lattice(layers: int = 20, width: int = 50, seed: int = 0) -> Dag:
    """`layers` x `width` steps; each step after the first layer joins 3 of the previous layer.

    Step j of layer l is step ``l * width + j``. The first layer's steps are roots.
    The 3 distinct dependencies are drawn with ``random.Random(seed)``, layer by
    layer, step by step, and stored ascending.
    """
    _check_positive("layers", layers)
    if width < 3:
        msg = f"Expected width >= 3 (each step joins 3) but got width={width!r} (type=int)"
        raise ValueError(msg)
    rng = random.Random(seed)
    deps: list[tuple[int, ...]] = [()] * width
    for layer in range(1, layers):
        previous = range((layer - 1) * width, layer * width)
        deps.extend(tuple(sorted(rng.sample(previous, 3))) for _ in range(width))
    return Dag("lattice", tuple(deps))


def makespan(n: int = 200, seed: int = 1) -> Dag:
    """`n` steps; step i > 0 joins 1-3 random steps among the previous 20; each sleeps 1-20 ms.

    One ``random.Random(seed)`` draws, step by step: for i > 0 the number of
    dependencies k (1..min(3, i)) and then k distinct steps among
    ``max(0, i - 20)..i - 1``; then the step's duration, a whole number of
    milliseconds in 1..20.
    """
    _check_positive("n", n)
    rng = random.Random(seed)
    deps: list[tuple[int, ...]] = []
    durations: list[float] = []
    for i in range(n):
        if i == 0:
            deps.append(())
        else:
            k = rng.randint(1, min(3, i))
            deps.append(tuple(sorted(rng.sample(range(max(0, i - 20), i), k))))
        durations.append(rng.randint(1, 20) / 1000)
    return Dag("makespan", tuple(deps), tuple(durations))


def standard() -> tuple[Dag, ...]:
    """The workloads of BENCHMARKS.md with their default sizes.

    "sync" is the chain run with plain functions and "limited" the makespan DAG
    run with a concurrency limit of 4: those are ways to run, not other DAGs.
    """
    return (chain(), fanout(), lattice(), makespan())


def critical_path(dag: Dag) -> float:
    """The longest sum of durations along a path: no schedule can finish sooner."""
    durations = _durations(dag)
    finish: list[float] = []
    for ds, d in zip(dag.deps, durations, strict=True):
        finish.append(max((finish[j] for j in ds), default=0.0) + d)
    return max(finish, default=0.0)


def lower_bound(dag: Dag, k: int) -> float:
    """BENCHMARKS.md's bound on the makespan with `k` workers: max(critical path, total work / k).

    No schedule finishes sooner, but on DAGs that open or close nearly as a
    chain no schedule reaches it either: `strong_lower_bound` is a tighter one.
    """
    if k < 1:
        msg = f"Expected a worker count >= 1 but got k={k!r} (type={type(k).__name__})"
        raise ValueError(msg)
    return max(critical_path(dag), sum(_durations(dag)) / k)


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
    durations = _durations(dag)
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
    bound = lower_bound(dag, k)
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


def reference_values(
    dag: Dag, root_input: int = ROOT_INPUT, *, modulus: int | None = None
) -> tuple[int, ...]:
    """Every step's expected value, by plain sequential evaluation (see the module docstring).

    With ``modulus``, every value is taken modulo it (for deep DAGs whose values
    would otherwise grow into integers of thousands of bits).
    """
    values: list[int] = []
    for ds in dag.deps:
        value = step_value([values[j] for j in ds]) if ds else root_input + 1
        values.append(value if modulus is None else value % modulus)
    return tuple(values)


def _durations(dag: Dag) -> tuple[float, ...]:
    if dag.durations is None:
        msg = (
            f"Expected a Dag with durations but got dag={dag.name!r} with durations=None;"
            " you probably want makespan()"
        )
        raise ValueError(msg)
    return dag.durations


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        msg = f"Expected {name} >= 1 but got {name}={value!r} (type={type(value).__name__})"
        raise ValueError(msg)
