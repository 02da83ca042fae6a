"""Running a plan on trio: indegree counters, inline sync steps, one task per async step.

The scheduling rule is dataflow: a step starts the moment its last input
exists. There are no waves and no scheduler task: whoever finishes a step
decrements its dependents' counters and starts those that reach zero. Plain
functions run inline on the trio thread right there (no task, no thread);
async functions get a task in the run's one nursery, so cancelling the caller
cancels every running step and nothing outlives `run`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import CoroutineType
from typing import Any, Final, TypeVar

import trio
from returns.result import Failure, Result, Success

from dagfn import _plan
from dagfn._errors import expected
from dagfn._failures import RunFailure, StepFailure
from dagfn._graph import Graph
from dagfn._plan import ASYNC1, NOT_TAKEN, SYNC1, SYNCN, Plan

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")

POLICIES: Final = ("critical_path", "fifo", "waves")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Final = _Missing()


def plan_of(graph: Graph[Any, Any, Any]) -> Plan:
    """The graph's plan, lowered once and cached on the graph value."""
    plan = graph._plan_cache
    if plan is None:
        plan = _plan.lower(graph._expr)
        graph._plan_cache = plan
    return plan


def _check_run_arguments(graph: object, policy: object, fail_fast: object) -> None:
    if not isinstance(graph, Graph):
        raise expected("a Graph", "graph", graph)
    if policy not in POLICIES:
        raise expected(f"one of {', '.join(map(repr, POLICIES))}", "policy", policy)
    if not isinstance(fail_fast, bool):
        raise expected("a bool", "fail_fast", fail_fast)


async def run(
    graph: Graph[I, O, E],
    x: I,
    *,
    policy: str = "critical_path",
    fail_fast: bool = False,
) -> Result[O, RunFailure[E]]:
    """Run ``graph`` on ``x``: ``Success(output)`` or ``Failure(RunFailure)``.

    A step starts as soon as all its inputs exist. A failing step (an
    exception, or a ``Failure`` it returns) fails the run: its dependents do
    not run, independent branches finish and are listed in ``completed``; with
    ``fail_fast=True`` everything still running is cancelled instead.
    Cancelling the caller cancels every step. Bad arguments raise
    `InvalidArgument` before anything runs.
    """
    _check_run_arguments(graph, policy, fail_fast)
    return await _execute(plan_of(graph), x, fail_fast)


def run_sync(
    graph: Graph[I, O, E],
    x: I,
    *,
    policy: str = "critical_path",
    fail_fast: bool = False,
) -> Result[O, RunFailure[E]]:
    """`run` from synchronous code (starts and ends a trio event loop)."""
    _check_run_arguments(graph, policy, fail_fast)
    return trio.run(functools.partial(run, graph, x, policy=policy, fail_fast=fail_fast))


async def _execute(plan: Plan, x: object, fail_fast: bool) -> Result[Any, RunFailure[Any]]:
    # Per-run state. Invariants: values[i] is _MISSING until step i finished
    # (then its output, or NOT_TAKEN in an unselected branch); remaining[i]
    # counts the distinct dependencies of i that have not finished; a step
    # starts exactly when remaining[i] drops to 0, so it runs at most once.
    values: list[Any] = [_MISSING] * len(plan)
    remaining = plan.indegree.copy()
    failures: list[tuple[int, Any]] = []
    kinds, fns, deps, dependents, guarded = (
        plan.kinds,
        plan.fns,
        plan.deps,
        plan.dependents,
        plan.guarded,
    )
    nursery: trio.Nursery

    def fail(i: int, error: object) -> None:
        failures.append((i, error))
        if fail_fast:
            nursery.cancel_scope.cancel()

    def settle(first: int) -> None:
        """Step ``first`` has its value: start every dependent whose inputs now all exist."""
        if fail_fast and failures:
            return  # cancelled: start nothing more
        stack = [first]
        while stack:
            for d in dependents[stack.pop()]:
                r = remaining[d] - 1
                remaining[d] = r
                if r:
                    continue
                if guarded[d] and any(values[j] is NOT_TAKEN for j in deps[d]):
                    values[d] = NOT_TAKEN
                    stack.append(d)
                    continue
                kind = kinds[d]
                fn = fns[d]
                try:
                    if kind == SYNC1:
                        out = fn(values[deps[d][0]])  # type: ignore[misc]
                    elif kind == SYNCN:
                        out = fn(*[values[j] for j in deps[d]])  # type: ignore[misc]
                    else:
                        nursery.start_soon(run_async, d)
                        continue
                except Exception as error:
                    fail(d, error)
                    if fail_fast:
                        return
                    continue
                cls = out.__class__
                if cls is Success:
                    out = out._inner_value
                elif cls is Failure or cls is CoroutineType:
                    fail(d, _failure_value(plan, d, out))
                    if fail_fast:
                        return
                    continue
                values[d] = out
                stack.append(d)

    async def run_async(i: int) -> None:
        if fail_fast and failures:
            return  # spawned before a fail-fast failure, first scheduled after it
        fn: Callable[..., Any] = fns[i]  # type: ignore[assignment]
        try:
            if kinds[i] == ASYNC1:
                out = await fn(values[deps[i][0]])
            else:
                out = await fn(*[values[j] for j in deps[i]])
        except Exception as error:
            fail(i, error)
            return
        cls = out.__class__
        if cls is Success:
            out = out._inner_value
        elif cls is Failure:
            fail(i, out._inner_value)
            return
        values[i] = out
        settle(i)

    try:
        async with trio.open_nursery() as nursery:
            values[0] = x
            settle(0)
    except BaseExceptionGroup as group:
        # Only BaseExceptions that are not failure values get here (KeyboardInterrupt,
        # SystemExit, a bug): re-raise a lone one as itself, as a plain call would.
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], trio.Cancelled):
            raise group.exceptions[0] from None
        raise
    if not failures:
        return Success(values[plan.output])
    return Failure(_run_failure(plan, values, failures, fail_fast))


def _failure_value(plan: Plan, i: int, out: Any) -> object:
    """The error of a sync step that returned a ``Failure`` or, by mistake, a coroutine."""
    if out.__class__ is Failure:
        return out._inner_value
    out.close()
    msg = (
        f"step {plan.paths[i]!r} returned a coroutine from a function dagfn took for a "
        "plain one; define it with `async def` (or give it an async __call__)"
    )
    return TypeError(msg)


def _run_failure(
    plan: Plan, values: list[Any], failures: list[tuple[int, Any]], fail_fast: bool
) -> RunFailure[Any]:
    paths, internal = plan.paths, plan.internal

    def missing(i: int) -> bool:
        return values[i] is _MISSING

    failed = {i for i, _ in failures}
    steps = tuple(
        StepFailure(
            step=paths[i],
            error=error,
            not_run=tuple(
                paths[d] for d in plan.descendants([i]) if not internal[d] and missing(d)
            ),
        )
        for i, error in failures
    )
    completed = tuple(
        paths[i]
        for i in range(len(values))
        if not internal[i] and not missing(i) and values[i] is not NOT_TAKEN
    )
    cancelled: tuple[str, ...] = ()
    if fail_fast:
        cancelled = tuple(
            paths[i]
            for i in range(len(values))
            if not internal[i]
            and missing(i)
            and i not in failed
            and all(not missing(j) for j in plan.deps[i])
        )
    return RunFailure(failures=steps, completed=completed, cancelled=cancelled)
