"""Hypothesis strategies for property-testing graphs (needs ``hypothesis`` installed).

`dag_specs` draws random DAG shapes with step durations, sync/async bodies and
injected failures; `build_graph` turns one into a real dagfn graph whose steps
record when they ran, so a test can check scheduling laws against
`DagSpec.expected_values` (a plain sequential evaluation)::

    @given(dag_specs())
    def test_every_step_runs_once(spec):
        recorder = Recorder()
        trio.run(run, build_graph(spec, recorder), 0)
        assert sorted(recorder.starts) == list(range(len(spec)))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio
from hypothesis import strategies as st

from dagfn._graph import Graph, gather, node

__all__ = ["DagSpec", "InjectedFailure", "Recorder", "build_graph", "dag_specs"]


@attrs.frozen
class DagSpec:
    """A random DAG: step ``i`` depends on ``deps[i]`` (earlier steps, in argument order).

    Roots take the run input. Every step computes the sum of its inputs + 1;
    steps in ``failing`` raise `InjectedFailure` instead. ``durations[i]`` is how
    long an async step sleeps (0 for none); ``is_async[i]`` picks the body kind;
    ``costs[i]`` lists the ``(resource, cost)`` pairs the step declares with
    ``.on(resource, cost)`` (``costs`` empty: no step declares any).
    """

    deps: tuple[tuple[int, ...], ...]
    durations: tuple[float, ...]
    is_async: tuple[bool, ...]
    failing: frozenset[int] = frozenset()
    costs: tuple[tuple[tuple[str, float], ...], ...] = ()

    def cost(self, i: int) -> tuple[tuple[str, float], ...]:
        """The ``(resource, cost)`` pairs of step ``i`` (empty for none)."""
        return self.costs[i] if self.costs else ()

    def __len__(self) -> int:
        return len(self.deps)

    @property
    def sinks(self) -> tuple[int, ...]:
        """Steps no other step depends on: the graph's output is their values, in order."""
        used = {d for ds in self.deps for d in ds}
        return tuple(i for i in range(len(self.deps)) if i not in used)

    def dependents(self) -> list[list[int]]:
        """For each step, the steps that take its output."""
        out: list[list[int]] = [[] for _ in self.deps]
        for i, ds in enumerate(self.deps):
            for d in dict.fromkeys(ds):
                out[d].append(i)
        return out

    def descendants(self, i: int) -> set[int]:
        """Every step that depends on step ``i``, directly or not."""
        below = self.dependents()
        seen: set[int] = set()
        stack = [i]
        while stack:
            for d in below[stack.pop()]:
                if d not in seen:
                    seen.add(d)
                    stack.append(d)
        return seen

    def expected_values(self, x: int = 0) -> list[int | None]:
        """Each step's value by plain sequential evaluation; None where it cannot run."""
        values: list[int | None] = []
        for i, ds in enumerate(self.deps):
            inputs = [values[d] for d in ds] if ds else [x]
            if i in self.failing or any(v is None for v in inputs):
                values.append(None)
            else:
                values.append(sum(v for v in inputs if v is not None) + 1)
        return values


class InjectedFailure(Exception):
    """The error a step in `DagSpec.failing` raises."""

    def __init__(self, step: int) -> None:
        super().__init__(f"injected failure in step s{step}")
        self.step = step


@attrs.define
class Recorder:
    """What the steps of a `build_graph` graph did: start and end times by step."""

    starts: dict[int, float] = attrs.field(factory=dict)
    ends: dict[int, float] = attrs.field(factory=dict)
    calls: dict[int, int] = attrs.field(factory=dict)
    #: ("start" | "end", step) in the order they happened.
    order: list[tuple[str, int]] = attrs.field(factory=list)

    def start(self, i: int) -> None:
        """Record that step ``i`` started (counting repeated starts)."""
        self.calls[i] = self.calls.get(i, 0) + 1
        self.starts[i] = trio.current_time()
        self.order.append(("start", i))

    def end(self, i: int) -> None:
        """Record that step ``i`` finished (for a failing step: just before it raises)."""
        self.ends[i] = trio.current_time()
        self.order.append(("end", i))


def _body(spec: DagSpec, i: int, recorder: Recorder) -> Callable[..., Any]:
    duration = spec.durations[i]
    fails = i in spec.failing

    if spec.is_async[i]:

        async def step_async(*xs: int) -> int:
            recorder.start(i)
            if duration:
                await trio.sleep(duration)
            recorder.end(i)
            if fails:
                raise InjectedFailure(i)
            return sum(xs) + 1

        return step_async

    def step(*xs: int) -> int:
        recorder.start(i)
        recorder.end(i)
        if fails:
            raise InjectedFailure(i)
        return sum(xs) + 1

    return step


def build_graph(spec: DagSpec, recorder: Recorder) -> Graph[int, tuple[int, ...], Any]:
    """The dagfn graph of ``spec``: step ``i`` is named ``s{i}``; output: the sinks' values.

    A step with several inputs is a ``gather`` of them followed by the step, so
    every shape is built with the public API (the same step value reused is
    one step: that is how a general DAG is written).
    """
    steps: list[Graph[int, int, Any]] = []
    for i, ds in enumerate(spec.deps):
        body = _body(spec, i, recorder)
        own = node(body if len(ds) <= 1 else _spread(body)).named(f"s{i}")
        for resource, cost in spec.cost(i):
            own = own.on(resource, cost)
        if not ds:
            steps.append(own)
        elif len(ds) == 1:
            steps.append(steps[ds[0]] >> own)
        else:
            steps.append(gather([steps[d] for d in ds]) >> own)
    return gather([steps[i] for i in spec.sinks])


def _spread(body: Callable[..., Any]) -> Callable[[tuple[int, ...]], Any]:
    import inspect

    if inspect.iscoroutinefunction(body):

        async def spread_async(xs: tuple[int, ...]) -> Any:
            return await body(*xs)

        return spread_async

    def spread(xs: tuple[int, ...]) -> Any:
        return body(*xs)

    return spread


@st.composite
def dag_specs(
    draw: st.DrawFn,
    *,
    max_steps: int = 24,
    max_deps: int = 3,
    durations: st.SearchStrategy[float] | None = None,
    failures: bool = False,
    resources: Mapping[str, float] | None = None,
) -> DagSpec:
    """Random DAGs of 1 to ``max_steps`` steps, each with up to ``max_deps`` earlier inputs.

    ``durations`` draws each async step's sleep (default: 0 or a few
    milliseconds); with ``failures=True`` a random subset of steps fails. With
    ``resources`` (name to capacity, as in `dagfn.Limits`), each step declares
    a random subset of them, each with a whole cost from 1 to the capacity.
    """
    n = draw(st.integers(1, max_steps))
    deps: list[tuple[int, ...]] = []
    for i in range(n):
        if i == 0:
            deps.append(())
            continue
        k = draw(st.integers(0, min(max_deps, i)))
        chosen = draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k, unique=True))
        deps.append(tuple(chosen))
    if durations is None:
        durations = st.sampled_from([0.0, 0.001, 0.002, 0.005])
    times = tuple(draw(durations) for _ in range(n))
    is_async = tuple(draw(st.booleans()) for _ in range(n))
    failing: frozenset[int] = frozenset()
    if failures:
        failing = frozenset(draw(st.sets(st.integers(0, n - 1), max_size=max(1, n // 3))))
    costs: tuple[tuple[tuple[str, float], ...], ...] = ()
    if resources:
        names = sorted(resources)
        costs = tuple(
            tuple(
                (r, float(draw(st.integers(1, max(1, int(resources[r]))))))
                for r in draw(st.lists(st.sampled_from(names), unique=True))
            )
            for _ in range(n)
        )
    return DagSpec(
        deps=tuple(deps), durations=times, is_async=is_async, failing=failing, costs=costs
    )
