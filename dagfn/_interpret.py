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
import itertools
import random
import sys
import uuid
from collections.abc import Callable
from typing import Any, Final, TypedDict, TypeVar

import sniffio
import trio
from returns.result import Result, Success

from dagfn._cache import PROCESS_CACHE, CacheBackend, RunCache, check_backend, uses_cache
from dagfn._checks import positive
from dagfn._errors import DagfnError, expected
from dagfn._events import observed
from dagfn._execute import Execution, OnEvent
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._journal import (
    Durability,
    Journal,
    OnChange,
    check_durability,
    check_on_change,
    durations_seen,
    keep_rows,
    open_journal,
    read_result,
    reuse_for,
)
from dagfn._lease import Ownership
from dagfn._plan import Plan, plan_of
from dagfn._policy import Limits, StepExecutor, check_executor
from dagfn._storage import Entry, Store
from dagfn._streamed import Send

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")

POLICIES: Final = ("critical_path", "fifo", "waves")
#: Seconds a run's lease lasts unless renewed (renewed every third of it while the run lives).
LEASE_SECONDS: Final = 30.0

#: What `resume` gives `run_journaled`: the journal's entries -> the answer rows to record.
Answering = Callable[[dict[str, Entry]], list[Entry]]


class WrongLoop(DagfnError, RuntimeError):
    """dagfn was called in a way the running event loop cannot serve; the message says
    what to call instead (``await dagfn.run`` under trio, ``await dagfn.aio.run`` under
    asyncio)."""

    def __init__(self, message: str, *, loop: str) -> None:
        super().__init__(message)
        self.loop = loop


def running_loop() -> str | None:
    """``"trio"`` or ``"asyncio"`` if this thread is running that event loop here, else None."""
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        pass
    asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop can be running
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return None
        return "asyncio"
    return None


def refuse_inside_loop(name: str) -> None:
    """``name`` (``run_sync``, ``resume_sync``) starts its own trio loop: not inside one."""
    loop = running_loop()
    if loop is None:
        return
    instead = name.removesuffix("_sync")
    call = f"await dagfn.{instead}(...)" if loop == "trio" else f"await dagfn.aio.{instead}(...)"
    msg = (
        f"dagfn.{name}() starts its own trio event loop, so it cannot be called inside a "
        f"running {loop} loop: use {call} there"
    )
    raise WrongLoop(msg, loop=loop)


def refuse_asyncio(name: str) -> None:
    """``await dagfn.{name}(...)`` is trio code: under asyncio, say to use dagfn.aio."""
    if running_loop() == "asyncio":
        msg = (
            f"await dagfn.{name}(...) needs trio, but the running loop is asyncio: use "
            f"await dagfn.aio.{name}(...), which runs it on the asyncio loop (trio guest mode)"
        )
        raise WrongLoop(msg, loop="asyncio")


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
    wait: object = True,
    lease: object = LEASE_SECONDS,
) -> None:
    if not isinstance(wait, bool):
        raise expected("a bool", "wait", wait)
    positive("lease", lease, what="positive seconds (how long a run's lease lasts)")
    if not isinstance(graph, Graph):
        raise expected("a Graph", "graph", graph)
    if store is not None and not all(
        callable(getattr(store, m, None))
        for m in ("open_run", "take_run", "record", "flush", "entries", "finish_run")
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
    wait: bool = True,
    lease: float = LEASE_SECONDS,
    cache: CacheBackend | None = None,
    cache_required: bool = False,
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

    A run id has one live owner at a time: the run holds a lease on it in
    the store (renewed every ``lease / 3`` seconds while it runs, released
    when it ends, expired ``lease`` seconds after its owner died). Running or
    resuming a run id that another task, process or machine owns waits for
    that owner to end, then goes on as a run of that id would (a finished
    run returns its journaled result); with ``wait=False`` it raises
    `RunInProgress` at once. An owner whose lease was taken over can no
    longer write (`LeaseLost`).

    ``executor`` runs the steps' plain functions (`dagfn.executors`: threads,
    processes, Dask; ``.via(executor)`` on a step overrides it); `run` opens it
    for the run if the caller has not. ``on_event`` (plain or async) receives
    every `Event`; ``rng`` drives retry jitter. Cancelling the caller cancels
    every step. Bad arguments raise `InvalidArgument` before anything runs;
    awaiting it under asyncio raises `WrongLoop` (use `dagfn.aio.run`).

    Steps under ``.cache()`` keep their outputs in ``cache`` (a store), else
    in ``store``, else in a process-wide memory cache. A cache that cannot be
    reached makes its steps run uncached (an ``uncached`` event says so),
    unless ``cache_required=True``: then they fail with `CacheUnavailable`.
    """
    refuse_asyncio("run")
    settings = {
        "policy": policy,
        "limits": limits,
        "fail_fast": fail_fast,
        "on_event": on_event,
        "rng": rng,
        "durability": durability,
        "on_change": on_change,
        "executor": executor,
        "wait": wait,
        "lease": lease,
        "cache": cache,
        "cache_required": cache_required,
    }
    execution = prepare(graph, store, run_id, settings)
    return await launch(execution, x, store, run_id, settings)


async def checked_run(
    execution: Execution,
    x: object,
    store: Store | None,
    run_id: str | None,
    settings: dict[str, Any],
    chunks: Send | None,
) -> Result[Any, RunFailure[Any]]:
    """Run a `prepare`d execution whose streamed steps send their chunks to ``chunks``."""
    execution.chunks = chunks
    return await launch(execution, x, store, run_id, settings)


async def launch(
    execution: Execution,
    x: object,
    store: Store | None,
    run_id: str | None,
    settings: dict[str, Any],
    answering: Answering | None = None,
) -> Result[Any, RunFailure[Any]]:
    """Run a `prepare`d execution; its ``on_event`` listeners learn the run id (one for runs
    without a store too). ``answering``: see `run_journaled`."""
    o = RUN_DEFAULTS | settings
    if o["on_event"] is not None:
        if run_id is None:
            run_id = uuid.uuid4().hex if store is not None else _local_run_id()
        return await observed(
            o["on_event"], run_id, _start(execution, x, store, run_id, o, answering)
        )
    return await _start(execution, x, store, run_id, o, answering)


async def _start(
    execution: Execution,
    x: object,
    store: Store | None,
    run_id: str | None,
    o: dict[str, Any],
    answering: Answering | None,
) -> Result[Any, RunFailure[Any]]:
    """Without a store, run; with one, own the run id and run it journaled."""
    plan = execution.plan
    if store is None:
        if plan.pauses:
            execution.run_id = run_id if run_id is not None else uuid.uuid4().hex
        return await execution.execute(x)
    run_id = run_id if run_id is not None else uuid.uuid4().hex
    ownership = Ownership(store, run_id, float(o["lease"]))
    return await run_journaled(
        execution,
        x,
        ownership,
        o["durability"],
        o["on_change"],
        wait=o["wait"],
        answering=answering,
    )


_PROCESS: Final = uuid.uuid4().hex[:12]
_RUNS: Final = itertools.count(1)


def _local_run_id() -> str:
    """An id for a run without a store, unique in this process (uuid4 costs ~10 us here)."""
    return f"{_PROCESS}-{next(_RUNS)}"


async def run_journaled(
    execution: Execution,
    x: object,
    ownership: Ownership,
    durability: Durability,
    on_change: OnChange,
    *,
    wait: bool,
    answering: Answering | None = None,
) -> Result[Any, RunFailure[Any]]:
    """Own the run id (waiting for another owner, or `RunInProgress`), then run it.

    ``answering`` (from `resume`) turns the journal's entries into answer rows
    once the run is owned and its graph checked; they are recorded with a
    compare-and-set (`AlreadyAnswered`) before any step runs, so a resume
    that fails before that records no answer. The lease is released when
    the run ends, however it ends.
    """
    plan, store, run_id = execution.plan, ownership.store, ownership.run_id
    execution.run_id = run_id
    journal, info, reuse = await ownership.opened(
        functools.partial(open_journal, store, run_id, plan, x, durability, on_change, ownership),
        wait=wait,
    )
    try:
        finished = info.status == "succeeded" and info.fingerprint == plan.fingerprint
        if finished and info.result_json is not None:
            if answering is not None:  # answers to a finished run: `AlreadyAnswered`
                answering(await trio.to_thread.run_sync(store.entries, run_id))
            return Success(read_result(plan, info))
        if answering is not None:
            reuse.update(await _answered(journal, answering))
        execution.journal, execution.reuse = journal, reuse
        if execution.limits is not None and execution.policy == "critical_path":
            seen = await trio.to_thread.run_sync(durations_seen, store, plan)
            execution.durations = plan.durations_from(seen) if seen else None
        try:
            return await ownership.kept(functools.partial(execution.execute, x))
        except BaseException:
            await keep_rows(journal)
            raise
    finally:
        await ownership.release(done=journal.released)


async def _answered(journal: Journal, answering: Answering) -> dict[int, Any]:
    """Record the answers `answering` makes (compare-and-set); their steps' values to reuse."""
    rows = answering(journal.entries)
    if not rows:
        return {}
    await trio.to_thread.run_sync(
        functools.partial(journal.store.answer, journal.run_id, rows, token=journal.token)
    )
    answered = {row.path: row for row in rows}
    journal.entries = {**journal.entries, **answered}
    return reuse_for(journal.plan, answered)


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
    wait: bool = True,
    lease: float = LEASE_SECONDS,
    cache: CacheBackend | None = None,
    cache_required: bool = False,
) -> Result[O, RunFailure[E]]:
    """`run` from synchronous code (starts and ends a trio event loop).

    Inside a running trio or asyncio loop it raises `WrongLoop`, which says
    what to await instead.
    """
    refuse_inside_loop("run_sync")
    _check_run_arguments(
        graph,
        store,
        run_id,
        policy,
        limits,
        fail_fast,
        on_event,
        rng,
        durability,
        on_change,
        wait,
        lease,
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
        wait=wait,
        lease=lease,
        cache=cache,
        cache_required=cache_required,
    )
    return trio.run(call)


class RunOptions(TypedDict, total=False):
    """`run`'s keyword arguments, for the functions that take them on (``**options``):
    `dagfn.stream`, `dagfn.aio.run`. Their meaning and defaults are `run`'s."""

    store: Store | None
    run_id: str | None
    policy: str
    limits: Limits | None
    fail_fast: bool
    on_event: OnEvent | None
    rng: random.Random | None
    durability: Durability
    on_change: OnChange
    executor: StepExecutor | None
    wait: bool
    lease: float
    cache: CacheBackend | None
    cache_required: bool


#: `run`'s keyword options and their defaults (`resume` passes these on to it).
RUN_DEFAULTS: Final[dict[str, Any]] = {
    "policy": "critical_path",
    "limits": None,
    "fail_fast": False,
    "on_event": None,
    "rng": None,
    "durability": "batched",
    "on_change": "refuse",
    "executor": None,
    "wait": True,
    "lease": LEASE_SECONDS,
    "cache": None,
    "cache_required": False,
}


def prepare(
    graph: Graph[Any, Any, Any], store: Store | None, run_id: str | None, options: dict[str, Any]
) -> Execution:
    """Check `run`'s arguments (``options``: its keyword options, defaults filled in for
    those missing) and set up the `Execution` of its plan; `InvalidArgument` if one is bad."""
    unknown = set(options) - set(RUN_DEFAULTS)
    if unknown:
        what = f"options of run ({', '.join(sorted(RUN_DEFAULTS))})"
        raise expected(what, "options", sorted(unknown))
    o = RUN_DEFAULTS | options
    _check_run_arguments(
        graph,
        store,
        run_id,
        o["policy"],
        o["limits"],
        o["fail_fast"],
        o["on_event"],
        o["rng"],
        o["durability"],
        o["on_change"],
        o["wait"],
        o["lease"],
    )
    plan = plan_of(graph)
    limits = o["limits"]
    if limits is not None:
        _check_costs(plan, limits)
    check_executor(o["executor"], optional=True)
    execution = Execution(plan, o["policy"], limits, o["fail_fast"], o["on_event"], o["rng"])
    execution.executor = o["executor"]
    cache, required = o["cache"], o["cache_required"]
    if cache is not None:
        check_backend(cache)
    if not isinstance(required, bool):
        raise expected("a bool", "cache_required", required)
    if uses_cache(plan):  # cached steps keep outputs in ``cache``, else the store, else ours
        backend = cache if cache is not None else store
        execution.cache = RunCache(
            check_backend(backend if backend is not None else PROCESS_CACHE, "store"), required
        )
    return execution


def _check_costs(plan: Plan, limits: Limits) -> None:
    """Every step, loop bodies included, must fit its budgets and rates, or it could never start."""
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
            rate = limits.rates.get(resource)
            if rate is not None and cost > rate.count:
                msg = (
                    f"step {plan.paths[i]!r} needs {cost:g} of {resource!r} but the rate's "
                    f"bucket holds at most {rate.count:g}: it could never start; raise the "
                    "Rate's count (and its period with it)"
                )
                raise expected(msg, f"limits.rates[{resource!r}]", rate)
