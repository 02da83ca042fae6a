"""Policies, loops, recover regions and limits composed at random: the laws still hold.

Hypothesis draws a pipeline shape (steps with durations, costs, failures,
retries and timeouts, combined by ``>>``, ``gather``, ``loop``, ``.recover``
and ``|``, loops nested) and runs it in virtual time under random limits, a
policy and ``fail_fast``. The step bodies record what runs at once; the run's
events are checked per step. Whatever the composition:

- the run ends (no hang), with a result that holds no internal sentinel;
- concurrency and every budget are never exceeded;
- every step's events read start, (retry, start)*, then one end (finish, fail
  or skip), or a lone skip; no step has two ends;
- with no timeouts on loops and no ``fail_fast``, the outcome (the value, or
  the failed steps and their errors) is the one of an unlimited run.
"""

from __future__ import annotations

import collections
import random
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import example, given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import Event, Graph, Limits, RunFailure, gather, loop, node, run

BUDGETS: tuple[dict[str, float], ...] = ({}, {"r": 2.0}, {"r": 2.0, "t": 1.0})


@attrs.frozen
class Step:
    is_async: bool
    seconds: float
    cost: tuple[str, float] | None
    fails: int  # attempts that fail per input before it succeeds (99: always)
    retry: int | None
    timeout: float | None


@attrs.frozen
class Seq:
    parts: tuple[Any, ...]


@attrs.frozen
class Par:
    parts: tuple[Any, ...]


@attrs.frozen
class Loop:
    body: Any
    max_steps: int
    every: int  # until: the state's digest is a multiple of it
    timeout: float | None
    recover: bool


@attrs.frozen
class Recover:
    inner: Any


@attrs.frozen
class Or:
    first: Any
    second: Any


steps = st.builds(
    Step,
    is_async=st.booleans(),
    seconds=st.sampled_from([0.0, 1.0, 2.0]),
    cost=st.sampled_from([None, None, ("r", 1.0), ("r", 2.0), ("t", 0.5)]),
    fails=st.sampled_from([0, 0, 0, 1, 99]),
    retry=st.sampled_from([None, None, 2]),
    timeout=st.sampled_from([None, None, 1.5]),
)


def _composite(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    parts = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        parts.map(Seq),
        parts.map(Par),
        st.builds(
            Loop,
            body=inner,
            max_steps=st.integers(1, 3),
            every=st.sampled_from([1, 2, 3]),
            timeout=st.sampled_from([None, None, 2.0]),
            recover=st.booleans(),
        ),
        inner.map(Recover),
        st.builds(Or, inner, inner),
    )


shapes = st.recursive(steps, _composite, max_leaves=10)


def digest(x: object) -> int:
    return random.Random(repr(x)).randrange(1000)


class World:
    """What the step bodies of one run saw: slots and budgets in use, violations."""

    def __init__(self, limits: Limits | None) -> None:
        self.limits = limits
        self.running = 0
        self.used: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.attempts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.fails: dict[str, int] = {}  # by step name: see Step.fails
        self.violations: list[str] = []

    def enter(self, name: str, step: Step) -> None:
        self.running += 1
        if step.cost is not None:
            self.used[step.cost[0]] += step.cost[1]
        limits = self.limits
        if limits is None:
            return
        if limits.concurrency is not None and self.running > limits.concurrency:
            self.violations.append(f"{name}: {self.running} running")
        for resource, capacity in limits.resources.items():
            if self.used[resource] > capacity + 1e-9:
                self.violations.append(f"{name}: {resource} at {self.used[resource]}")

    def leave(self, step: Step) -> None:
        self.running -= 1
        if step.cost is not None:
            self.used[step.cost[0]] -= step.cost[1]

    def compute(self, name: str, x: object) -> int:
        key = (name, digest(x))
        self.attempts[key] += 1
        if self.attempts[key] <= self.fails[name]:
            raise ValueError(name)
        return digest((name, x))


def build(shape: Any, world: World, names: list[str]) -> Graph[Any, Any, Any]:
    """The graph of ``shape``; its step bodies report to ``world``."""
    if isinstance(shape, Step):
        return _step(shape, world, names)
    if isinstance(shape, Seq):
        graph = build(shape.parts[0], world, names)
        for part in shape.parts[1:]:
            graph = graph >> build(part, world, names)
        return graph
    if isinstance(shape, Par):
        return gather([build(part, world, names) for part in shape.parts])
    if isinstance(shape, Loop):
        name = f"L{len(names)}"
        names.append(name)
        every = shape.every
        looped = loop(
            build(shape.body, world, names),
            until=lambda s: digest(s) % every == 0,
            max_steps=shape.max_steps,
        ).named(name)
        if shape.timeout is not None:
            looped = looped.timeout(shape.timeout)
        return looped.recover(-1) if shape.recover else looped
    if isinstance(shape, Recover):
        return build(shape.inner, world, names).recover(-7)
    assert isinstance(shape, Or)
    return build(shape.first, world, names) | build(shape.second, world, names)


def _step(step: Step, world: World, names: list[str]) -> Graph[Any, Any, Any]:
    name = f"s{len(names)}"
    names.append(name)
    world.fails[name] = step.fails
    # Steps that go through the ready queue take a slot; plain ones run inline.
    slotted = step.is_async or step.cost is not None or step.retry or step.timeout
    graph: Graph[Any, Any, Any]
    if step.is_async:

        async def async_body(x: object) -> int:
            world.enter(name, step)
            try:
                await trio.sleep(step.seconds)
                return world.compute(name, x)
            finally:
                world.leave(step)

        graph = node(async_body).named(name)
    else:

        def body(x: object) -> int:
            if slotted:
                world.enter(name, step)
            try:
                return world.compute(name, x)
            finally:
                if slotted:
                    world.leave(step)

        graph = node(body).named(name)
    if step.cost is not None:
        graph = graph.on(*step.cost)
    if step.retry is not None:
        graph = graph.retry(step.retry, backoff=0.5, jitter=False)
    if step.timeout is not None and step.is_async:
        graph = graph.timeout(step.timeout)
    return graph


def execute(
    shape: Any, limits: Limits | None, policy: str, fail_fast: bool, events: list[Event] | None
) -> tuple[Result[Any, RunFailure[Any]], World]:
    world = World(limits)
    graph = build(shape, world, [])

    async def main() -> Result[Any, RunFailure[Any]]:
        with trio.fail_after(10_000):  # virtual seconds: far beyond any schedule here
            return await run(
                graph,
                0,
                limits=limits,
                policy=policy,
                fail_fast=fail_fast,
                on_event=events.append if events is not None else None,
                rng=random.Random(0),
            )

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)), world


def outcome(result: Result[Any, RunFailure[Any]]) -> object:
    if isinstance(result, Success):
        return ("value", result.unwrap())
    failure = result.failure()
    return ("failed", sorted((f.step, repr(f.error)) for f in failure.failures))


def event_problems(events: list[Event]) -> list[str]:
    problems: list[str] = []
    last: dict[str, str] = {}
    for e in events:
        before = last.get(e.step)
        if e.kind == "start" and before not in (None, "retry"):
            problems.append(f"{e.step}: start after {before}")
        elif e.kind in ("finish", "fail", "retry") and before != "start":
            problems.append(f"{e.step}: {e.kind} after {before}")
        elif e.kind == "skip" and before not in (None, "start", "retry"):
            problems.append(f"{e.step}: skip after {before}")
        last[e.step] = e.kind
    problems.extend(
        f"{step}: no end after {k}" for step, k in last.items() if k in ("start", "retry")
    )
    return problems


def has_loop_timeout(shape: Any) -> bool:
    if isinstance(shape, Loop):
        return shape.timeout is not None or has_loop_timeout(shape.body)
    if isinstance(shape, Seq | Par):
        return any(has_loop_timeout(part) for part in shape.parts)
    if isinstance(shape, Recover):
        return has_loop_timeout(shape.inner)
    if isinstance(shape, Or):
        return has_loop_timeout(shape.first) or has_loop_timeout(shape.second)
    return False


_OK = Step(is_async=False, seconds=0.0, cost=None, fails=0, retry=None, timeout=None)
_BAD = attrs.evolve(_OK, fails=1)


@given(
    shapes,
    st.sampled_from([None, 1, 2]),
    st.sampled_from(BUDGETS),
    st.sampled_from(["critical_path", "fifo", "waves"]),
    st.booleans(),
)
# A step skipped when its region tripped was skipped again when the enclosing one did.
@example(Recover(Recover(Or(Par((_OK, _BAD, _OK)), _BAD))), None, {}, "critical_path", False)
def test_composed_policies_keep_limits_events_and_outcomes(
    shape: Any, concurrency: int | None, budgets: dict[str, float], policy: str, fail_fast: bool
) -> None:
    limits = Limits(concurrency=concurrency, resources=budgets)
    events: list[Event] = []
    result, world = execute(shape, limits, policy, fail_fast, events)
    assert world.violations == []
    assert world.running == 0  # cancelled bodies unwound too
    assert event_problems(events) == []
    if not fail_fast and not has_loop_timeout(shape):
        unlimited, _ = execute(shape, None, "critical_path", False, None)
        assert outcome(result) == outcome(unlimited)
    if isinstance(result, Failure):
        assert result.failure().failures  # a failed run names what failed
