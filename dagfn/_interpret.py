"""The public entry of the interpreter: `run` and `run_sync`, and their argument checks.

Arguments are checked before anything runs (`InvalidArgument` naming the
argument); a journaled run id is opened here (a finished one returns its
journaled result without running anything); then `dagfn._execute.Execution`
runs the plan. The interpreter is these modules:

- `dagfn._execute`: one run of one plan (dataflow, fast path, careful path, loops);
- `dagfn._schedule`: the ready queue, concurrency slots and budgets under `Limits`;
- `dagfn._attempt`: one step's attempts (retries, timeouts, breakers, executors);
- `dagfn._regions`: recover regions' state while a run goes;
- `dagfn._events`: the events a run emits and the skips it owes at the end;
- `dagfn._outcome`: what a run returns (`RunFailure`, `Paused`) and its journal's end.
"""

from __future__ import annotations

import functools
import random
import uuid
from typing import Final, TypeVar

import trio
from returns.result import Result, Success

from dagfn._errors import expected
from dagfn._execute import Execution, OnEvent
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._journal import (
    Durability,
    OnChange,
    check_durability,
    check_on_change,
    durations_seen,
    known_types,
    loads,
    open_journal,
    value_type,
)
from dagfn._plan import Plan, plan_of
from dagfn._policy import Limits, StepExecutor, check_executor
from dagfn._storage import Store

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")

POLICIES: Final = ("critical_path", "fifo", "waves")


def _check_run_arguments(
    graph: object,
    store: object,
    run_id: object,
    policy: object,
    limits: object,
    fail_fast: object,
    on_event: object,
    rng: object,
    durability: object,
    on_change: object,
) -> None:
    if not isinstance(graph, Graph):
        raise expected("a Graph", "graph", graph)
    if store is not None and not all(
        callable(getattr(store, m, None)) for m in ("open_run", "record", "flush", "entries")
    ):
        raise expected("a dagfn.store.Store (e.g. SqliteStore(path)) or None", "store", store)
    if run_id is not None:
        if store is None:
            raise expected(
                "run_id=None when there is no store (a run id names a journal)", "run_id", run_id
            )
        if not isinstance(run_id, str) or not run_id:
            raise expected("a non-empty str", "run_id", run_id)
    if policy not in POLICIES:
        raise expected(f"one of {', '.join(map(repr, POLICIES))}", "policy", policy)
    if limits is not None and not isinstance(limits, Limits):
        raise expected("a dagfn.Limits or None", "limits", limits)
    if not isinstance(fail_fast, bool):
        raise expected("a bool", "fail_fast", fail_fast)
    if on_event is not None and not callable(on_event):
        raise expected("a callable taking an Event, or None", "on_event", on_event)
    if rng is not None and not isinstance(rng, random.Random):
        raise expected("a random.Random or None", "rng", rng)
    check_durability(durability)
    check_on_change(on_change)


async def run(
    graph: Graph[I, O, E],
    x: I,
    *,
    store: Store | None = None,
    run_id: str | None = None,
    policy: str = "critical_path",
    limits: Limits | None = None,
    fail_fast: bool = False,
    on_event: OnEvent | None = None,
    rng: random.Random | None = None,
    durability: Durability = "batched",
    on_change: OnChange = "refuse",
    executor: StepExecutor | None = None,
) -> Result[O, RunFailure[E]]:
    """Run ``graph`` on ``x``: ``Success(output)`` or ``Failure(RunFailure)``.

    A step starts as soon as all its inputs exist (within ``limits``, the
    ready steps start in the order of ``policy``: ``"critical_path"``,
    ``"fifo"`` or ``"waves"``). A failing step (an exception, or a ``Failure``
    it returns) fails the run: its dependents do not run, independent
    branches finish and are listed in ``completed``; with ``fail_fast=True``
    everything still running is cancelled instead. A run that reaches an
    `interrupt` returns ``Failure(Paused(...))`` once nothing else can run.

    With a ``store``, every finished step's output is journaled under
    ``run_id`` (a new id if None): running the same id again runs only the
    steps without an entry, and a finished run returns its journaled result
    without calling any step. ``durability`` is ``"batched"`` (rows committed
    within milliseconds, always before a pause and at the end), ``"sync"`` (a
    step's row is committed before its dependents start) or ``"exit"`` (at
    the end only). A run id journaled with a different graph raises
    `GraphChanged`, unless ``on_change="reuse"`` (only unchanged steps, and
    none downstream of a changed one, are reused).

    ``executor`` runs the steps' plain functions (`dagfn.executors`: threads,
    processes, Dask; ``.via(executor)`` on a step overrides it); `run` opens it
    for the run if the caller has not. ``on_event`` (plain or async) receives
    every `Event`; ``rng`` drives retry jitter. Cancelling the caller cancels
    every step. Bad arguments raise `InvalidArgument` before anything runs.
    """
    _check_run_arguments(
        graph, store, run_id, policy, limits, fail_fast, on_event, rng, durability, on_change
    )
    plan = plan_of(graph)
    if limits is not None:
        _check_costs(plan, limits)
    check_executor(executor, optional=True)
    execution = Execution(plan, policy, limits, fail_fast, on_event, rng)
    execution.executor = executor
    if store is None:
        if plan.pauses:
            execution.run_id = uuid.uuid4().hex
        return await execution.execute(x)
    execution.run_id = run_id = run_id if run_id is not None else uuid.uuid4().hex
    journal, info, reuse = await trio.to_thread.run_sync(
        open_journal, store, run_id, plan, x, durability, on_change
    )
    finished = info.status == "succeeded" and info.fingerprint == plan.fingerprint
    if finished and info.result_json is not None:
        output_type = value_type(plan, plan.output, {})
        return Success(loads(info.result_json, output_type, known_types(plan)))
    execution.journal, execution.reuse = journal, reuse
    if limits is not None and policy == "critical_path":
        seen = await trio.to_thread.run_sync(durations_seen, store, plan)
        execution.durations = plan.durations_from(seen) if seen else None
    return await execution.execute(x)


def run_sync(
    graph: Graph[I, O, E],
    x: I,
    *,
    store: Store | None = None,
    run_id: str | None = None,
    policy: str = "critical_path",
    limits: Limits | None = None,
    fail_fast: bool = False,
    on_event: OnEvent | None = None,
    rng: random.Random | None = None,
    durability: Durability = "batched",
    on_change: OnChange = "refuse",
    executor: StepExecutor | None = None,
) -> Result[O, RunFailure[E]]:
    """`run` from synchronous code (starts and ends a trio event loop)."""
    _check_run_arguments(
        graph, store, run_id, policy, limits, fail_fast, on_event, rng, durability, on_change
    )
    call = functools.partial(
        run,
        graph,
        x,
        store=store,
        run_id=run_id,
        policy=policy,
        limits=limits,
        fail_fast=fail_fast,
        on_event=on_event,
        rng=rng,
        durability=durability,
        on_change=on_change,
        executor=executor,
    )
    return trio.run(call)


def _check_costs(plan: Plan, limits: Limits) -> None:
    """Every step, loop bodies included, must fit its budgets, or it could never start."""
    for i, options in enumerate(plan.options):
        if i in plan.loops:  # its body, with the paths of its first iteration
            _check_costs(plan.loops[i].iteration(1, plan.paths[i]), limits)
        if i in plan.eaches:  # its body, with the paths of its first element
            _check_costs(plan.eaches[i].element(0, plan.paths[i]), limits)
        for resource, cost in options.resources if options is not None else ():
            capacity = limits.resources.get(resource)
            if capacity is not None and cost > capacity:
                msg = (
                    f"step {plan.paths[i]!r} needs {cost:g} of {resource!r} but the budget "
                    f"is {capacity:g}: it could never start; raise Limits(resources=...)"
                )
                raise expected(msg, f"limits.resources[{resource!r}]", capacity)
