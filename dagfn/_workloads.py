"""The benchmark DAGs of BENCHMARKS.md, defined once, and the one way to wire a DAG as a graph.

``dagfn bench`` (`dagfn._benchmark`), `dagfn.testing` and the scripts in
``benchmarks/`` (through ``benchmarks/workloads.py``) all use these: same
shapes, same seeds, so figures compare across them and across time.

A workload is a `Dag`: steps numbered in topological order, each with the
earlier steps it depends on, and optional durations. Value semantics (the one
definition every engine is checked against): a step's input is the sum of its
dependencies' values, or the run input (``ROOT_INPUT == 0``) for a root step;
its value is its input + 1. So in the chain step i has value i + 1; in the
fanout the source is 1, each middle step 2 and the sink (which sums) 2n + 1:

>>> reference_values(chain(3))
(1, 2, 3)
>>> reference_values(fanout(2))
(1, 2, 2, 5)

`graph_of` turns dependency lists into a dagfn graph (step i is named
``s{i}``; the output is every sink's value), the callers choosing the bodies.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Self

import attrs

from dagfn._checks import positive_int
from dagfn._errors import InvalidArgument, expected
from dagfn._graph import Graph, gather

__all__ = [
    "ROOT_INPUT",
    "Dag",
    "TimedDag",
    "chain",
    "dependents",
    "fanout",
    "graph_of",
    "lattice",
    "layered",
    "makespan",
    "reference_values",
    "sinks",
    "spread",
    "standard",
    "step_value",
]

ROOT_INPUT: Final = 0
"""The run input: what every root step receives."""

_COUNT: Final = "an int >= 1"  # how the generators word a bad size


@attrs.frozen
class Dag:
    """A workload: steps ``0..n-1`` in topological order, with dependencies and durations."""

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
        """Steps no other step depends on: a graph's output is their values, in order."""
        return sinks(self.deps)

    @property
    def edges(self) -> int:
        """The number of dependency edges."""
        return sum(len(d) for d in self.deps)

    def scaled(self, factor: float) -> Self:
        """The same DAG with every duration multiplied by ``factor`` (0 makes sleeps instant)."""
        if self.durations is None:
            return self
        return attrs.evolve(self, durations=tuple(d * factor for d in self.durations))

    def renamed(self, name: str) -> Self:
        """The same DAG under another name (e.g. "sync" for the chain with plain functions)."""
        return attrs.evolve(self, name=name)

    def critical_path(self) -> float:
        """The longest sum of durations along a path: no schedule can finish sooner."""
        finish: list[float] = []
        for ds, d in zip(self.deps, self._durations(), strict=True):
            finish.append(max((finish[j] for j in ds), default=0.0) + d)
        return max(finish, default=0.0)

    def lower_bound(self, workers: int | None) -> float:
        """BENCHMARKS.md's bound on the makespan: max(critical path, total work / workers).

        No schedule finishes sooner; ``workers=None`` (no limit) leaves the critical path.
        """
        if workers is None:
            return self.critical_path()
        positive_int("workers", workers, what="a worker count >= 1")
        return max(self.critical_path(), sum(self._durations()) / workers)

    def _durations(self) -> tuple[float, ...]:
        if self.durations is None:
            msg = (
                f"Expected a Dag with durations but got dag={self.name!r} with durations=None;"
                " you probably want makespan()"
            )
            raise InvalidArgument(msg, argument="dag")
        return self.durations


@attrs.frozen
class TimedDag(Dag):
    """A `Dag` whose every step has a duration: what the generators of timed workloads return."""

    durations: tuple[float, ...]


def sinks(deps: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Steps no other step depends on, ascending."""
    used = {d for ds in deps for d in ds}
    return tuple(i for i in range(len(deps)) if i not in used)


def dependents(deps: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """For each step, the steps that depend on it, ascending (each once)."""
    out: list[list[int]] = [[] for _ in deps]
    for i, ds in enumerate(deps):
        for d in dict.fromkeys(ds):
            out[d].append(i)
    return tuple(tuple(o) for o in out)


# --- the workloads ---------------------------------------------------------------


def chain(n: int = 2000) -> Dag:
    """``n`` steps, each taking its predecessor's output."""
    positive_int("n", n, what=_COUNT)
    return Dag("chain", ((), *((i - 1,) for i in range(1, n))))


def fanout(n: int = 1000) -> Dag:
    """1 source -> ``n`` independent steps -> 1 sink that joins all: n + 2 steps.

    Step 0 is the source, steps 1..n the middle, step n + 1 the sink.
    """
    positive_int("n", n, what=_COUNT)
    middle = tuple(range(1, n + 1))
    return Dag("fanout", ((), *((0,),) * n, middle))


def lattice(layers: int = 20, width: int = 50, seed: int = 0) -> Dag:
    """``layers`` x ``width`` steps; each step after the first layer joins 3 of the previous layer.

    Step j of layer l is step ``l * width + j``. The first layer's steps are roots.
    The 3 distinct dependencies are drawn with ``random.Random(seed)``, layer by
    layer, step by step, and stored ascending.
    """
    positive_int("layers", layers, what=_COUNT)
    if positive_int("width", width, what=_COUNT) < 3:
        raise expected("an int >= 3 (each step joins 3)", "width", width)
    return Dag("lattice", _layers(random.Random(seed), layers, width, lambda: 3))


def makespan(steps: int = 200, seed: int = 1, window: int = 20) -> TimedDag:
    """``steps`` steps; step i > 0 joins 1-3 random steps among the previous ``window``;
    each sleeps 1-20 ms.

    One ``random.Random(seed)`` draws, step by step: for i > 0 the number of
    dependencies k (1..min(3, i)) and then k distinct steps among
    ``max(0, i - window)..i - 1``; then the step's duration, a whole number of
    milliseconds in 1..20.
    """
    positive_int("steps", steps, what=_COUNT)
    positive_int("window", window, what=_COUNT)
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
    return TimedDag("makespan", tuple(deps), tuple(durations))


def layered(layers: int = 10, width: int = 20, seed: int = 2) -> TimedDag:
    """``layers`` x ``width`` steps; each step after the first layer joins 1-3 of the previous.

    ``dagfn bench``'s wide variant of makespan: durations are seeded whole
    milliseconds in 1..20 (drawn after the dependencies), so many steps are
    ready at once and the scheduling policy's choice among them decides the makespan.
    """
    positive_int("layers", layers, what=_COUNT)
    positive_int("width", width, what=_COUNT)
    rng = random.Random(seed)
    deps = _layers(rng, layers, width, lambda: rng.randint(1, min(3, width)))
    return TimedDag("layered", deps, tuple(rng.randint(1, 20) / 1000 for _ in deps))


def _layers(
    rng: random.Random, layers: int, width: int, joins: Callable[[], int]
) -> tuple[tuple[int, ...], ...]:
    """Layer by layer, step by step: ``joins()`` distinct steps of the previous layer."""
    deps: list[tuple[int, ...]] = [()] * width
    for layer in range(1, layers):
        previous = range((layer - 1) * width, layer * width)
        deps.extend(tuple(sorted(rng.sample(previous, joins()))) for _ in range(width))
    return tuple(deps)


def standard() -> tuple[Dag, ...]:
    """The workloads of BENCHMARKS.md with their default sizes.

    "sync" is the chain run with plain functions and "limited" the makespan DAG
    run with a concurrency limit of 4: those are ways to run, not other DAGs.
    """
    return (chain(), fanout(), lattice(), makespan())


# --- values and graphs -----------------------------------------------------------


def step_value(inputs: Iterable[int]) -> int:
    """The body of every step: the sum of its dependencies' values + 1.

    For a root step pass ``(ROOT_INPUT,)``.
    """
    return sum(inputs) + 1


def reference_values(
    dag: Dag, root_input: int = ROOT_INPUT, *, modulus: int | None = None
) -> tuple[int, ...]:
    """Every step's expected value, by plain sequential evaluation.

    With ``modulus``, every value is taken modulo it (for deep DAGs whose values
    would otherwise grow into integers of thousands of bits).
    """
    values: list[int] = []
    for ds in dag.deps:
        value = step_value([values[j] for j in ds]) if ds else root_input + 1
        values.append(value if modulus is None else value % modulus)
    return tuple(values)


def graph_of(
    deps: Sequence[Sequence[int]],
    step: Callable[[int], Graph[Any, int, Any]],
    *,
    join: Callable[[int], Callable[..., Any]] | None = None,
) -> Graph[int, tuple[int, ...], Any]:
    """The dagfn graph of a DAG: step ``i`` (named ``s{i}``) runs on the values of ``deps[i]``.

    ``step(i)`` is step i as a graph of one input: the run input for a root,
    its dependency's value for one dependency, the tuple of their values (a
    ``gather``) for more. With ``join``, a step with 2 or 3 dependencies is
    ``(a & b & c).join(join(i))`` instead, ``join(i)`` taking the values as
    arguments (the README's way to write a fan-in). The output is the tuple
    of every sink's value, so every step is needed.
    """
    steps: list[Graph[int, int, Any]] = []
    for i, ds in enumerate(deps):
        name = f"s{i}"
        if join is not None and len(ds) == 2:
            steps.append((steps[ds[0]] & steps[ds[1]]).join(join(i), name=name))
        elif join is not None and len(ds) == 3:
            fan = steps[ds[0]] & steps[ds[1]] & steps[ds[2]]
            steps.append(fan.join(join(i), name=name))
        elif not ds:
            steps.append(step(i).named(name))
        elif len(ds) == 1:
            steps.append(steps[ds[0]] >> step(i).named(name))
        else:
            steps.append(gather([steps[d] for d in ds]) >> step(i).named(name))
    return gather([steps[i] for i in sinks(deps)])


def spread(body: Callable[..., Any]) -> Callable[[tuple[int, ...]], Any]:
    """``body`` (sync or async) taking the values as arguments, made to take their tuple.

    For `graph_of`'s steps with gathered inputs.
    """
    if inspect.iscoroutinefunction(body):

        async def spread_async(xs: tuple[int, ...]) -> Any:
            return await body(*xs)

        return spread_async

    def spread_sync(xs: tuple[int, ...]) -> Any:
        return body(*xs)

    return spread_sync
