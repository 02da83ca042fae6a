"""Hypothesis strategies and law checks for property-testing pipelines (needs ``hypothesis``).

Three tools, each usable from a user's own tests:

- `records` draws instances of an attrs record from its field types (nested
  records too); a field declared with ``reduced(M)`` only gets values on which
  ``M.empty()`` is an identity (a ``Max(0)`` field no negatives), and
  `deltas` draws state-graph deltas (each reduced field its identity or a value).
- `check_monoid_laws` checks identity, associativity and purity of a monoid
  (a ``record(S)`` as well as your own) on values drawn from a strategy.
- `dag_specs` draws random DAG shapes with step durations, sync/async bodies,
  injected failures and resource costs; `build_graph` turns one into a dagfn
  graph whose steps record when they ran (`Recorder`), to check that your run
  settings (limits, policy, executor) keep dataflow semantics against
  `DagSpec.expected_values` (a plain sequential evaluation).

>>> import attrs
>>> from hypothesis import given
>>> from dagfn.monoid import Max, Concat, record, reduced
>>> @attrs.frozen
... class Score:
...     best: int = reduced(Max(0))
...     notes: tuple[str, ...] = reduced(Concat())
>>> @given(records(Score))
... def test_best_is_never_below_its_identity(s: Score) -> None:
...     assert s.best >= 0
>>> test_best_is_never_below_its_identity()
>>> check_monoid_laws(record(Score), records(Score))

and, for scheduling laws (see also the README's "Property-testing your pipeline")::

    @given(dag_specs())
    def test_every_step_runs_once(spec):
        recorder = Recorder()
        trio.run(run, build_graph(spec, recorder), 0)
        assert sorted(recorder.starts) == list(range(len(spec)))

Failures of a law or a property are ordinary hypothesis failures (shrunk
falsifying examples); `records` raises `InvalidArgument` at once for a class
that is not an attrs class or a field type hypothesis cannot draw without help
(pass a strategy for it by name: ``records(Order, sku=st.text())``).
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from dagfn import _workloads
from dagfn._errors import InvalidArgument, expected
from dagfn._graph import Graph, node
from dagfn.monoid import Monoid, check_laws, reducer_of

__all__ = [
    "DagSpec",
    "InjectedFailure",
    "Recorder",
    "build_graph",
    "check_monoid_laws",
    "dag_specs",
    "deltas",
    "records",
]

T = TypeVar("T")


# --- records -----------------------------------------------------------------


def records(cls: type[T], /, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[T]:
    """Instances of the attrs class ``cls``, each field drawn from its type hint.

    A field whose type is an attrs class is drawn with `records` too. A field
    declared with ``reduced(M)`` only takes values ``v`` with
    ``M.combine(M.empty(), v) == v == M.combine(v, M.empty())``: the contract of
    ``Max(bottom)``, ``Min(top)`` and the like, so drawn records are lawful
    elements of ``record(cls)`` (float sums still round: pass exact values).
    ``fields`` replaces the strategy of a field, by its ``__init__`` name.

    Raises `InvalidArgument` (when called, not when drawn) if ``cls`` is not an
    attrs class or ``fields`` names a field it does not have.
    """
    return st.builds(cls, **_field_strategies(cls, fields, delta=False))


def deltas(cls: type[T], /, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[T]:
    """Like `records`, but each reduced field is its identity about half the time.

    That is the shape of what a state node returns (only the fields it changes),
    so ``deltas(S)`` drives tests of nodes folded by ``update``.
    """
    return st.builds(cls, **_field_strategies(cls, fields, delta=True))


def _field_strategies(
    cls: type[Any], given_fields: Mapping[str, st.SearchStrategy[Any]], *, delta: bool
) -> dict[str, st.SearchStrategy[Any]]:
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise expected("an attrs class (you probably want @attrs.frozen)", "cls", cls)
    try:
        hints = typing.get_type_hints(cls)
    except NameError as error:  # a forward reference that does not resolve
        msg = f"Expected resolvable type hints on {cls.__name__} but got {error}"
        raise InvalidArgument(msg, argument="cls") from error
    out: dict[str, st.SearchStrategy[Any]] = {}
    known = set()
    for field in attrs.fields(cls):
        if not field.init:
            continue
        name = field.alias or field.name
        known.add(name)
        if name in given_fields:
            out[name] = given_fields[name]
            continue
        strategy = _strategy_for(hints.get(field.name, field.type), f"{cls.__name__}.{name}")
        monoid = reducer_of(field)
        if monoid is not None:
            strategy = strategy.filter(_identity_holds(monoid))
            if delta:
                strategy = st.builds(monoid.empty) | strategy
        out[name] = strategy
    unknown = sorted(set(given_fields) - known)
    if unknown:
        raise expected(f"fields of {cls.__name__} ({', '.join(sorted(known))})", "fields", unknown)
    return out


def _strategy_for(tp: Any, where: str) -> st.SearchStrategy[Any]:
    if isinstance(tp, type) and attrs.has(tp):
        return records(tp)
    if tp is None or isinstance(tp, str):
        field = where.rpartition(".")[2]
        msg = (
            f"Expected a type hint for {where} but got {tp!r}; "
            f"you probably want to pass a strategy for it: records(..., {field}=...)"
        )
        raise InvalidArgument(msg, argument=field)
    return st.from_type(tp)


def _identity_holds(monoid: Monoid[Any]) -> Callable[[Any], bool]:
    def holds(value: Any) -> bool:
        e = monoid.empty()
        return bool(monoid.combine(e, value) == value and monoid.combine(value, e) == value)

    return holds


# --- monoid laws -------------------------------------------------------------


def check_monoid_laws(
    monoid: Monoid[T],
    values: st.SearchStrategy[T],
    *,
    eq: Callable[[T, T], bool] = operator.eq,
) -> None:
    """Check identity, associativity and purity of ``monoid`` on values drawn from ``values``.

    Call it from a test (not from inside another ``@given``): it runs a
    hypothesis search with the loaded settings profile and raises
    `dagfn.monoid.LawViolation` (an AssertionError) with the falsifying values
    as hypothesis shrank them, one failure rather than a group. Pass ``eq`` for
    approximate equality (float sums).
    """

    @settings(report_multiple_bugs=False)
    @given(values, values, values)
    def laws(a: T, b: T, c: T) -> None:
        check_laws(monoid, a, b, c, eq=eq)

    laws()


# --- random DAGs ---------------------------------------------------------------


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
        return _workloads.sinks(self.deps)

    def dependents(self) -> list[list[int]]:
        """For each step, the steps that take its output."""
        return [list(below) for below in _workloads.dependents(self.deps)]

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

    def step(i: int) -> Graph[Any, int, Any]:
        body = _body(spec, i, recorder)
        own = node(body if len(spec.deps[i]) <= 1 else _workloads.spread(body))
        for resource, cost in spec.cost(i):
            own = own.on(resource, cost)
        return own

    return _workloads.graph_of(spec.deps, step)


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
