"""Running a plan on trio: indegree counters, inline sync steps, one task per async step.

The scheduling rule is dataflow: a step starts the moment its last input
exists. Without limits there is no scheduler task: whoever finishes a step
decrements its dependents' counters and starts those that reach zero. Plain
functions run inline on the trio thread right there (no task, no thread);
async functions get a task in the run's one nursery, so cancelling the caller
cancels every running step and nothing outlives `run`.

Steps with no policy, outside route branches and recover regions, in a run
without events or limits take the *fast path* (`settle`). Every other step
takes the careful path (`begin`, `attempts`), which handles skipping, regions,
retries, timeouts, breakers, resources and events.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import heapq
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
import trio
from returns.result import Failure, Result, Success

from dagfn import _plan
from dagfn._errors import DagfnError, expected
from dagfn._expr import ASYNC, callable_kind
from dagfn._failures import Paused, PendingAnswer, RunFailure, StepFailure
from dagfn._graph import Graph
from dagfn._journal import (
    Durability,
    Journal,
    JournalError,
    OnChange,
    check_durability,
    check_on_change,
    durations_seen,
    known_types,
    loads,
    open_journal,
    reuse_for,
    value_type,
)
from dagfn._loop import MaxStepsExceeded
from dagfn._plan import ASYNC1, ASYNCN, LOOP, NOT_TAKEN, SYNC1, SYNCN, LoopSpec, Plan
from dagfn._policy import NO_OPTIONS, BreakerOpen, Limits
from dagfn._trace import Event, EventKind, digest
from dagfn.store import Store

if TYPE_CHECKING:
    from dagfn.executors import Executor

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")

POLICIES: Final = ("critical_path", "fifo", "waves")

OnEvent = Callable[[Event], Any]


class StepTimeout(DagfnError, TimeoutError):
    """A step attempt took longer than its ``.timeout(seconds)``."""

    def __init__(self, step: str, seconds: float) -> None:
        super().__init__(f"step {step!r} timed out after {seconds:g} s")
        self.step = step
        self.seconds = seconds


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
    executor: Executor | None = None,
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
    if executor is not None and not all(
        callable(getattr(executor, m, None)) for m in ("submit", "__aenter__", "__aexit__")
    ):
        raise expected("a dagfn.executors.Executor or None", "executor", executor)
    execution = _Run(plan, policy, limits, fail_fast, on_event, rng)
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
    executor: Executor | None = None,
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
        if plan.kinds[i] == LOOP:  # its body, with the paths of its first iteration
            _check_costs(plan.fns[i].iteration(1, plan.paths[i]), limits)  # type: ignore[union-attr]
        for resource, cost in options.resources if options is not None else ():
            capacity = limits.resources.get(resource)
            if capacity is not None and cost > capacity:
                msg = (
                    f"step {plan.paths[i]!r} needs {cost:g} of {resource!r} but the budget "
                    f"is {capacity:g}: it could never start; raise Limits(resources=...)"
                )
                raise expected(msg, f"limits.resources[{resource!r}]", capacity)


class _Lane:
    """One run's steps in a dispatcher: how to start them and what each costs.

    A loop's nested runs are lanes of the outer run's dispatcher, so limits and
    budgets hold for the whole run, loop bodies included.
    """

    __slots__ = (
        "changed",
        "closed",
        "costs",
        "kept",
        "level",
        "priority",
        "queued",
        "running",
        "start",
    )

    def __init__(
        self,
        plan: Plan,
        policy: str,
        budgets: dict[str, float],
        start: Callable[[int], None],
        durations: list[float] | None,
    ) -> None:
        self.start = start
        self.queued = 0  # pushed, not yet started
        self.running = 0  # started by the dispatcher, not yet released
        self.changed = trio.Event()  # set when a step of it ends with none queued or running
        self.kept = False  # a keep_open task holds its run's nursery open
        self.closed = False  # its run is over (cancelled): drop what it left queued
        self.level = plan.level
        # costs[i]: what step i takes from the budgets the run has, while it runs
        self.costs: list[tuple[tuple[str, float], ...]] = [
            tuple((r, c) for r, c in options.resources if r in budgets) if options else ()
            for options in plan.options
        ]
        if policy == "critical_path":
            # step counts, or seconds per step when durations of earlier runs are known
            rank = plan.rank if durations is None else plan.weighted_rank(durations)
            self.priority: list[float] | None = [-r for r in rank]
        elif policy == "waves":
            self.priority = [float(v) for v in plan.level]
        else:
            self.priority = None  # fifo: arrival order only


class _Dispatcher:
    """The ready queue of a run with limits (or the ``waves`` policy).

    Invariants: ``heap`` holds ready steps not yet started, keyed by priority
    then arrival; ``running`` counts started steps not yet released, and
    ``available[r]`` is the budget of ``r`` minus the cost of those steps. A
    step that does not fit the budgets is skipped over, never blocking others,
    but not forever: once steps after it in the queue that need one of its
    budgets have overtaken it `_MAX_OVERTAKES` times, those budgets are held
    back for it (``overtaken`` counts, by arrival number), so a costly step is
    not starved by a stream of cheap ones. Only the budgets it lacks are held;
    steps that need none of those are never held back.

    Float costs handed back in another order than they were taken can leave
    ``available[r]`` a rounding error below its true value, which must not
    keep a step that fits exactly from ever starting: when a step misses by
    less than ``slack[r]``, ``available[r]`` is recomputed exactly from the
    costs held (``held[r]``: cost -> how many running steps hold it).
    """

    __slots__ = (
        "available",
        "budgets",
        "capacity",
        "heap",
        "held",
        "levels_running",
        "overtaken",
        "policy",
        "running",
        "seq",
        "slack",
        "waves",
    )

    def __init__(self, limits: Limits | None, policy: str) -> None:
        self.heap: list[tuple[float, int, _Lane, int]] = []
        self.seq = 0
        self.running = 0
        self.policy = policy
        self.capacity = limits.concurrency if limits is not None else None
        self.budgets = dict(limits.resources) if limits is not None else {}
        self.available = dict(self.budgets)
        self.held: dict[str, dict[float, int]] = {r: {} for r in self.budgets}
        self.slack = {r: c * 1e-9 for r, c in self.budgets.items()}
        self.waves = policy == "waves"
        self.levels_running: dict[int, int] = {}
        self.overtaken: dict[int, int] = {}

    def lane(
        self, plan: Plan, start: Callable[[int], None], durations: list[float] | None = None
    ) -> _Lane:
        """Register one run's plan and how to start its steps."""
        return _Lane(plan, self.policy, self.available, start, durations)

    def push(self, lane: _Lane, i: int) -> None:
        key = lane.priority[i] if lane.priority is not None else 0.0
        heapq.heappush(self.heap, (key, self.seq, lane, i))
        self.seq += 1
        lane.queued += 1

    def dispatch(self) -> None:
        heap, available, capacity, held_by = self.heap, self.available, self.capacity, self.held
        blocked: list[tuple[float, int, _Lane, int]] = []
        kept: set[str] = set()  # budgets kept for a step overtaken too often
        while heap and (capacity is None or self.running < capacity):
            entry = heapq.heappop(heap)
            _, _, lane, i = entry
            if lane.closed:
                self.overtaken.pop(entry[1], None)
                continue
            if self.waves and self.levels_running and min(self.levels_running) < lane.level[i]:
                blocked.append(entry)
                break  # the current wave is not over
            costs = lane.costs[i]
            if costs:
                if any((available[r] < c and not self._fits(r, c)) or r in kept for r, c in costs):
                    blocked.append(entry)
                    if self.overtaken.get(entry[1], 0) >= _MAX_OVERTAKES:
                        kept.update(r for r, c in costs if available[r] < c)
                    continue
                if blocked:
                    self._overtake(blocked, costs)
                for r, c in costs:
                    available[r] -= c
                    counts = held_by[r]
                    counts[c] = counts.get(c, 0) + 1
            if self.overtaken:
                self.overtaken.pop(entry[1], None)
            self.running += 1
            lane.queued -= 1
            lane.running += 1
            if self.waves:
                level = lane.level[i]
                self.levels_running[level] = self.levels_running.get(level, 0) + 1
            try:
                lane.start(i)
            except RuntimeError:  # the lane's run is over (its nursery closed, e.g. timed out)
                lane.closed = True
                self.release(lane, i)
        for entry in blocked:
            heapq.heappush(heap, entry)

    def _fits(self, r: str, c: float) -> bool:
        """Does cost ``c`` fit budget ``r``, once rounding errors are taken out?"""
        if c - self.available[r] > self.slack[r]:
            return False  # short by more than rounding: no need to recompute
        held = self.held[r]
        exact = math.fsum([self.budgets[r], *(-h for h, n in held.items() for _ in range(n))])
        self.available[r] = exact
        return exact >= c

    def _overtake(
        self, blocked: list[tuple[float, int, _Lane, int]], costs: tuple[tuple[str, float], ...]
    ) -> None:
        """A step needing ``costs`` starts ahead of the ``blocked`` ones: count what it overtook."""
        overtaken = self.overtaken
        for _, seq, lane, i in blocked:
            if any(r == mine for r, _ in lane.costs[i] for mine, _ in costs):
                overtaken[seq] = overtaken.get(seq, 0) + 1

    def release(self, lane: _Lane, i: int) -> None:
        self.running -= 1
        lane.running -= 1
        for r, c in lane.costs[i]:
            self.available[r] += c
            held = self.held[r]
            if held[c] > 1:
                held[c] -= 1
            else:
                del held[c]
        if self.waves:
            level = lane.level[i]
            left = self.levels_running[level] - 1
            if left:
                self.levels_running[level] = left
            else:
                del self.levels_running[level]


class _Run:
    """The state of one run of a plan. Build, then ``await execute(x)`` once."""

    def __init__(
        self,
        plan: Plan,
        policy: str,
        limits: Limits | None,
        fail_fast: bool,
        on_event: OnEvent | None,
        rng: random.Random | None,
    ) -> None:
        self.plan = plan
        self.policy = policy
        self.limits = limits
        self.fail_fast = fail_fast
        self.on_event = on_event
        self.rng = rng if rng is not None else random.Random()
        self.run_id: str | None = None  # set when journaled or when the graph can pause
        self.journal: Journal | None = None
        self.reuse: dict[int, Any] = {}  # journaled outputs, by step, not to compute again
        self.emitter: OnEvent | None = None  # on_event as the steps call it (for nested runs)
        self.executor: Executor | None = None  # the default for plain functions; None: inline
        self.values: list[Any] = []  # every step's value once the run is over
        self.failures: list[tuple[int, Any]] = []  # (step, error) of its uncaught failures
        self.ended: set[int] = set()  # steps that had their last event (with on_event only)
        self.durations: list[float] | None = None  # seconds per step seen in earlier runs
        self.dispatcher: _Dispatcher | None = None  # set by _execute; shared with loop bodies
        self.nested = False  # a loop body's iteration: the run it belongs to finishes the journal
        self.seed: int | None = None  # drawn from rng once per run; loop bodies share it

    async def execute(self, x: object) -> Result[Any, RunFailure[Any]]:
        executors = _executors_of(self.plan, self.executor)
        if not executors:
            return await self._with_events(x)
        async with contextlib.AsyncExitStack() as stack:
            for executor in executors:  # reentrant: an executor the caller opened stays open
                await stack.enter_async_context(executor)
            return await self._with_events(x)

    async def _with_events(self, x: object) -> Result[Any, RunFailure[Any]]:
        on_event = self.on_event
        if on_event is None or callable_kind(on_event) != ASYNC:  # also an async __call__
            return await self._execute(x, on_event)
        # An async on_event is awaited in order by one consumer task that outlives the steps.
        send, receive = trio.open_memory_channel[Event](float("inf"))

        async def consume() -> None:
            async with receive:
                async for event in receive:
                    await on_event(event)

        async with trio.open_nursery() as events:
            events.start_soon(consume)
            async with send:
                return await self._execute(x, send.send_nowait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _loop(self, spec: LoopSpec, state: Any, path: str) -> Any:
        """Run the loop step at ``path``: its body as one nested run per iteration."""
        journal = self.journal
        done: list[str] = []  # steps of the iterations that finished
        for n in range(1, spec.max_steps + 1):
            body = spec.iteration(n, path)
            inner = _Run(body, self.policy, self.limits, self.fail_fast, None, self.rng)
            inner.nested = True
            inner.seed = self.seed
            inner.run_id = self.run_id
            inner.executor = self.executor
            inner.dispatcher = self.dispatcher
            if journal is not None:
                inner.journal = Journal(
                    journal.store,
                    journal.run_id,
                    body,
                    journal.durability,
                    entries=journal.entries,
                    pending=journal.pending,  # flushed when the whole run finishes
                )
                inner.reuse = reuse_for(body, journal.entries)
            try:
                result = await inner._execute(state, self.emitter)
            except BaseException:  # cancelled (a timeout, fail_fast): say what was cut short
                if self.emitter is not None:
                    failed = {i for i, _ in inner.failures} | inner.ended
                    # An event that cannot be delivered (the caller's cancel closed an
                    # async on_event's channel) must not turn the cancel into a failure.
                    with contextlib.suppress(Exception):
                        for path in _cut_short(body, inner.values, failed):
                            self.emitter(Event("skip", path, trio.current_time()))
                raise
            if isinstance(result, Failure):
                failure = result.failure()
                if isinstance(failure, Paused):
                    raise _NestedPause(failure)
                raise _NestedFailure(attrs.evolve(failure, completed=(*done, *failure.completed)))
            done.extend(_completed(body, inner.values))
            state = result.unwrap()
            if spec.until(state):
                return state
        last = body.paths[_last_user_step(body)]
        raise MaxStepsExceeded(path, spec.max_steps, last, state)

    async def _execute(self, x: object, on_event: OnEvent | None) -> Result[Any, RunFailure[Any]]:
        plan = self.plan
        fail_fast = self.fail_fast
        if self.seed is None:  # retry jitter: one generator per step, seeded by its path
            self.seed = self.rng.getrandbits(64)
        seed = self.seed
        retry_waits: dict[int, trio.CancelScope] = {}  # steps in a region between attempts
        # Per-run state. Invariants: values[i] is _MISSING until step i finished
        # (then its output, or NOT_TAKEN in an unselected branch); remaining[i]
        # counts the distinct dependencies of i that have not finished; a step
        # starts exactly when remaining[i] drops to 0, so it runs at most once.
        values: list[Any] = [_MISSING] * len(plan)
        self.values = values
        remaining = plan.indegree.copy()
        failures: list[tuple[int, Any]] = []
        self.failures = failures
        ended: set[int] = set()
        self.ended = ended
        kinds, fns, deps, dependents = plan.kinds, plan.fns, plan.deps, plan.dependents
        paths, internal, options, guarded = plan.paths, plan.internal, plan.options, plan.guarded
        region_of, regions = plan.region, plan.regions
        tripped = [False] * len(regions)
        nursery: trio.Nursery
        dispatcher = self.dispatcher  # a loop body's run shares its parent's
        if dispatcher is None and (self.limits is not None or self.policy == "waves"):
            dispatcher = self.dispatcher = _Dispatcher(self.limits, self.policy)
        lane = None
        if dispatcher is not None:
            lane = dispatcher.lane(plan, lambda i: nursery.start_soon(attempts, i), self.durations)
        journal, reuse, pauses = self.journal, self.reuse, plan.pauses
        paused: list[tuple[str, object]] = []  # interrupts waiting: (path, prompt)
        self.emitter = on_event
        sync_durable = journal is not None and journal.durability == "sync"
        region_results = {region.result for region in regions}  # journaled plumbing
        remote = _remote_executors(plan, self.executor)  # None: every plain function inline
        careful = plan.slow
        if on_event is not None or dispatcher is not None or sync_durable or remote:
            careful = [True] * len(plan)
        if reuse:
            # Resume: journaled steps are not computed again, and neither is anything
            # only they need; both are blocked from firing and settled at the start.
            needed = _needed(plan, reuse)
            for i in range(1, len(plan)):
                if i in reuse or not needed[i]:
                    remaining[i] = _BLOCKED

        def journaled(i: int, value: object, started: float, attempt: int = 1) -> bool:
            """Journal step ``i``'s output; False (the step failed) if it is not JSON."""
            if journal is None or (internal[i] and i not in region_results):
                return True
            try:
                journal.done(i, value, started, attempt)
            except JournalError as error:
                fail(i, error, attempt)
                return False
            return True

        def emit(kind: EventKind, i: int, **fields: Any) -> None:
            if on_event is not None and not internal[i]:
                if kind != "start" and kind != "retry":
                    ended.add(i)  # finish, fail, skip, pause: no skip for it at the end
                on_event(Event(kind, paths[i], trio.current_time(), **fields))

        def in_tripped_region(r: int) -> bool:
            while r >= 0:
                if tripped[r]:
                    return True
                r = regions[r].parent
            return False

        def fail(i: int, error: object, attempt: int = 1) -> bool:
            """Record that step ``i`` failed; False if a recover region caught it."""
            if journal is not None and not internal[i]:
                journal.failed(i, error, trio.current_time())
            r = region_of[i]
            if r >= 0:
                emit("fail", i, attempt=attempt, error=error, recovered=True)
                if not in_tripped_region(r):
                    tripped[r] = True
                    if on_event is not None:
                        skip_region(r)
                    for s, wait in retry_waits.items():
                        if inside(region_of[s], r):
                            wait.cancel()  # waiting to retry: it will not try again
                    region = regions[r]
                    catch = region.catch
                    remaining[catch] = -1  # it will never fire from its input
                    values[catch] = NOT_TAKEN if region.graph else region.fallback
                    if region.graph or journaled(catch, region.fallback, trio.current_time()):
                        settle(catch)
                return False
            failures.append((i, error))
            emit("fail", i, attempt=attempt, error=error)
            if fail_fast:
                nursery.cancel_scope.cancel()
            return True

        def inside(inner: int, r: int) -> bool:
            """Is region ``inner`` region ``r`` or nested in it?"""
            while inner >= 0 and inner != r:
                inner = regions[inner].parent
            return inner == r

        def skip_region(r: int) -> None:
            """Region ``r`` tripped: its steps not yet ready will never run; say so now."""
            for s, inner in enumerate(region_of):
                if inner < 0 or not 0 < remaining[s] < _BLOCKED:
                    continue
                if inside(inner, r):
                    remaining[s] = _BLOCKED  # so it is not skipped a second time when ready
                    emit("skip", s)

        def settle(first: int) -> None:
            """Step ``first`` has its value: start every dependent whose inputs now all exist."""
            if fail_fast and failures:
                return  # cancelled: start nothing more
            # Breadth first: steps finished together are settled together, so the
            # lists indexed by step are walked in order (a large plan stays cache friendly).
            queue = collections.deque((first,))
            while queue:
                for d in dependents[queue.popleft()]:
                    r = remaining[d] - 1
                    remaining[d] = r
                    if r:
                        continue
                    if careful[d]:
                        if begin(d):
                            queue.append(d)
                        elif fail_fast and failures:
                            return
                        continue
                    # The fast path: a plain step with no policy, outside any region.
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
                        if fail(d, error) and fail_fast:
                            return
                        continue
                    cls = out.__class__
                    if cls is Success:
                        out = out._inner_value
                    elif cls is Failure or cls is CoroutineType:
                        if fail(d, _failure_value(plan, d, out)) and fail_fast:
                            return
                        continue
                    if journal is not None and not journaled(d, out, trio.current_time()):
                        if fail_fast:
                            return
                        continue
                    values[d] = out
                    queue.append(d)

        async def run_async(i: int) -> None:
            """The fast path of an async step with no policy."""
            if fail_fast and failures:
                return  # spawned before a fail-fast failure, first scheduled after it
            fn: Callable[..., Any] = fns[i]  # type: ignore[assignment]
            started = trio.current_time() if journal is not None else 0.0
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
            if journal is not None and not journaled(i, out, started):
                return
            values[i] = out
            settle(i)

        def begin(d: int) -> bool:
            """The careful path: True if ``d`` got its value inline (propagate it)."""
            if guarded[d] and any(values[j] is NOT_TAKEN for j in deps[d]):
                values[d] = NOT_TAKEN
                return True
            if region_of[d] >= 0 and in_tripped_region(region_of[d]):
                emit("skip", d)
                return False  # an earlier step of its recover region failed
            if d in pauses:
                return pause(d)
            opts = options[d]
            kind = kinds[d]
            if (
                kind in (ASYNC1, ASYNCN, LOOP)
                or (opts is not None and opts.needs_task)
                or sync_durable
                or (remote is not None and remote[d] is not None)
            ):
                # A loop takes no slot: its body's steps do, in the same dispatcher.
                if lane is not None and dispatcher is not None and kind != LOOP:
                    # Started by the dispatch after the settle that made it ready, so
                    # that every step made ready at once competes by priority.
                    dispatcher.push(lane, d)
                    if not lane.kept:  # queued steps start no task: keep the nursery open
                        lane.kept = True
                        nursery.start_soon(keep_open, lane)
                else:
                    nursery.start_soon(attempts, d)
                return False
            # A plain function with at most a breaker or events: inline, no task.
            args = [values[j] for j in deps[d]]
            breaker = opts.breaker if opts is not None else None
            if on_event is not None:
                emit("start", d, attempt=1, digest=digest(args))
            probe = False  # the half-open breaker's trial call
            try:
                if breaker is not None:
                    probe = breaker.admit(paths[d])
                out = fns[d](*args)  # type: ignore[misc]
                cls = out.__class__
                if cls is Success:
                    out = out._inner_value
                elif cls is Failure or cls is CoroutineType:
                    raise _Failed(_failure_value(plan, d, out))
            except BreakerOpen as error:
                fail(d, error)
                return False
            except _Failed as failed:
                if breaker is not None:
                    breaker.failed(trial=probe)
                fail(d, failed.error)
                return False
            except Exception as error:
                if breaker is not None:
                    breaker.failed(trial=probe)
                fail(d, error)
                return False
            if breaker is not None:
                breaker.succeeded(trial=probe)
            if not journaled(d, out, trio.current_time()):
                return False
            values[d] = out
            if on_event is not None:
                emit("finish", d, attempt=1, digest=digest(out))
            return True

        def pause(d: int) -> bool:
            """Interrupt step ``d`` is ready: compute its prompt and wait for an answer."""
            try:
                prompt = fns[d](values[deps[d][0]])  # type: ignore[misc]
                if journal is not None:
                    journal.paused(d, prompt)
            except Exception as error:
                fail(d, error)
                return False
            paused.append((paths[d], prompt))
            emit("pause", d)
            return False

        async def attempts(i: int) -> None:
            """The careful path in a task: attempts with retries, timeouts and a breaker."""
            released = False

            def release() -> None:
                nonlocal released
                if lane is not None and dispatcher is not None and not released:
                    released = True
                    if kinds[i] != LOOP:
                        dispatcher.release(lane, i)

            def give_back() -> None:
                """It ends without a value: its slot and budget go to the next ready steps."""
                if dispatcher is not None:
                    release()
                    dispatcher.dispatch()

            try:
                # Started (by any lane's dispatch) after its run was cancelled by a
                # timeout or fail_fast around it: end here, before it starts.
                await trio.lowlevel.checkpoint_if_cancelled()
                if region_of[i] >= 0 and in_tripped_region(region_of[i]):
                    # Queued (limits) or spawned before a step of its region failed.
                    emit("skip", i)
                    give_back()
                    return
                opts = options[i] or NO_OPTIONS
                fn: Callable[..., Any] = fns[i]  # type: ignore[assignment]
                kind = kinds[i]
                args = [values[j] for j in deps[i]]
                retry, timeout, breaker = opts.retry, opts.timeout, opts.breaker
                started = trio.current_time()
                attempt = 0
                step_rng: random.Random | None = None
                while True:
                    attempt += 1
                    if on_event is not None:
                        emit("start", i, attempt=attempt, digest=digest(args))
                    probe = False  # this attempt is a half-open breaker's trial call
                    try:
                        if breaker is not None:
                            probe = breaker.admit(paths[i])
                        call: Awaitable[Any] | None = None
                        if kind == LOOP:
                            call = self._loop(fn, args[0], paths[i])  # type: ignore[arg-type]
                        elif remote is not None and (where := remote[i]) is not None:
                            call = where.submit(fn, tuple(args), step=paths[i])
                        elif kind in (ASYNC1, ASYNCN):
                            call = fn(*args)
                        elif timeout is None:
                            out = fn(*args)
                        if timeout is None:
                            if call is not None:
                                out = await call
                        elif call is not None:  # fail_after without its generator, only ours
                            with trio.CancelScope(deadline=trio.current_time() + timeout) as sc:
                                out = await call
                            if sc.cancelled_caught:
                                raise _TimedOut
                        else:  # a plain function under a timeout: a thread it can abandon
                            # The wait for a thread is not the step's time: take one first.
                            async with trio.to_thread.current_default_thread_limiter():
                                with trio.CancelScope(deadline=trio.current_time() + timeout) as sc:
                                    out = await _abandonable(fn, args)
                            if sc.cancelled_caught:
                                raise _TimedOut
                        cls = out.__class__
                        if cls is Success:
                            out = out._inner_value
                        elif cls is Failure or cls is CoroutineType:
                            raise _Failed(_failure_value(plan, i, out))
                    except _NestedPause as nested:
                        if probe and breaker is not None:
                            breaker.abandoned()  # no verdict yet: let another call probe
                        paused.extend((p.step, p.prompt) for p in nested.paused.pending)
                        give_back()
                        return
                    except BreakerOpen as open_error:
                        error: object = open_error
                    except _TimedOut:  # its own deadline; a TooSlowError of its code is its error
                        error = StepTimeout(paths[i], timeout or 0.0)
                        if breaker is not None:
                            breaker.failed(trial=probe)
                    except _Failed as failed:
                        error = failed.error
                        if breaker is not None:
                            breaker.failed(trial=probe)
                    except Exception as raised:
                        error = raised
                        if breaker is not None:
                            breaker.failed(trial=probe)
                    except BaseException:  # cancelled: a lost trial must not jam the breaker
                        if probe and breaker is not None:
                            breaker.abandoned()
                        raise
                    else:
                        if breaker is not None:
                            breaker.succeeded(trial=probe)
                        break
                    if (
                        retry is not None
                        and attempt < retry.attempts
                        and retry.retries(error)
                        and not (region_of[i] >= 0 and in_tripped_region(region_of[i]))
                    ):
                        emit("retry", i, attempt=attempt, error=error)
                        if step_rng is None:
                            step_rng = random.Random(f"{seed}/{paths[i]}")
                        delay = retry.delay(attempt, step_rng)
                        if region_of[i] < 0:
                            await trio.sleep(delay)
                            continue
                        with trio.CancelScope() as retry_waits[i]:  # the region may trip
                            await trio.sleep(delay)
                        del retry_waits[i]
                        if not in_tripped_region(region_of[i]):
                            continue
                        emit("skip", i)  # its region failed meanwhile: no more attempts
                        give_back()
                        return
                    release()
                    fail(i, error, attempt)
                    if dispatcher is not None:
                        dispatcher.dispatch()
                    return
                if not journaled(i, out, started, attempt):
                    give_back()
                    return
                if sync_durable:
                    assert journal is not None
                    await trio.to_thread.run_sync(journal.flush)
                values[i] = out
                if on_event is not None:
                    emit("finish", i, attempt=attempt, digest=digest(out))
                release()
                settle(i)
                if dispatcher is not None:
                    dispatcher.dispatch()
            finally:
                if lane is not None and dispatcher is not None and not released:
                    # Cancelled (or fail_fast): the run is over. Drop what its lane has
                    # queued and give the budget to the other lanes' steps.
                    lane.closed = True
                    release()
                    dispatcher.dispatch()
                if lane is not None and not lane.queued and not lane.running:
                    lane.changed.set()  # the lane is idle: its keep_open may end

        try:
            async with trio.open_nursery() as nursery:
                values[0] = x
                settle(0)
                for i in sorted(reuse):
                    values[i] = reuse[i]
                    settle(i)
                if dispatcher is not None:
                    dispatcher.dispatch()  # the first ready steps, in priority order
        except BaseExceptionGroup as group:
            # Only BaseExceptions that are not failure values get here (KeyboardInterrupt,
            # SystemExit, a bug): re-raise a lone one as itself, as a plain call would.
            if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], trio.Cancelled):
                raise group.exceptions[0] from None
            raise
        finally:
            if lane is not None:
                lane.closed = True
        result: Result[Any, RunFailure[Any]]
        if failures:
            failure = _run_failure(plan, values, failures, fail_fast)
            if on_event is not None:
                # once per step, though several failures may have kept it from running
                skipped = dict.fromkeys(path for f in failure.failures for path in f.not_run)
                skipped.update(dict.fromkeys(failure.cancelled))  # cut short by fail_fast
                for path in _skipped_by_loops(failures):
                    skipped.pop(path, None)
                for i in ended:
                    skipped.pop(paths[i], None)
                for path in skipped:
                    on_event(Event("skip", path, trio.current_time()))
            result, status = Failure(failure), "failed"
        elif paused:
            pending = tuple(PendingAnswer(path, prompt) for path, prompt in paused)
            completed = _completed(plan, values)
            run_id = self.run_id or ""
            result = Failure(Paused((), completed, run_id=run_id, pending=pending))
            status = "paused"
        else:
            if values[plan.output] is _MISSING:  # an interpreter bug: never return a sentinel
                msg = f"dagfn: run ended without computing {plan.paths[plan.output]!r}; a bug"
                raise AssertionError(msg)
            result, status = Success(values[plan.output]), "succeeded"
        if journal is not None and not self.nested:
            await trio.to_thread.run_sync(_finish, journal, status, values[plan.output])
        return result


async def keep_open(lane: _Lane) -> None:
    """Keep a run's nursery open while steps of its lane wait in a shared dispatcher.

    Queued steps have no task yet, and the slots they wait for may be held by
    other lanes (the rest of the run, for a loop body); without this task the
    nursery could close with them still queued. It is started by the first push
    while none runs, and woken only when a step of the lane ends leaving none
    queued or running, so a busy lane pays no wake-up per step.
    """
    try:
        while lane.queued or lane.running:
            lane.changed = trio.Event()
            await lane.changed.wait()
    finally:
        lane.kept = False


class _NestedFailure(Exception):
    """A loop body's run failed: the outer run reports the inner steps' failures."""

    def __init__(self, failure: RunFailure[Any]) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _NestedPause(Exception):
    """A loop body's run paused at an interrupt: the outer run pauses too."""

    def __init__(self, paused: Paused) -> None:
        super().__init__(str(paused))
        self.paused = paused


def _is_inline(executor: object) -> bool:
    return executor is None or type(executor).__name__ == "Inline"


def _executors_of(plan: Plan, default: Executor | None) -> list[Executor]:
    """Every executor a run of ``plan`` may use (loop bodies included), to open for it."""
    found: dict[int, Executor] = {}
    if not _is_inline(default):
        assert default is not None
        found[id(default)] = default
    plans = [plan]
    while plans:
        p = plans.pop()
        for i, options in enumerate(p.options):
            if options is not None and not _is_inline(options.executor):
                found.setdefault(id(options.executor), options.executor)
            if p.kinds[i] == LOOP:
                plans.append(p.fns[i].body)  # type: ignore[union-attr]
    return list(found.values())


def _remote_executors(plan: Plan, default: Executor | None) -> list[Executor | None] | None:
    """Per step, the executor its plain function runs on; None if all run inline."""
    own = [o.executor if o is not None else None for o in plan.options]
    if _is_inline(default) and all(_is_inline(e) for e in own):
        return None
    remote: list[Executor | None] = [None] * len(plan)
    for i in plan.user_steps():
        if plan.kinds[i] in (SYNC1, SYNCN) and i not in plan.pauses:
            chosen = own[i] if own[i] is not None else default
            remote[i] = None if _is_inline(chosen) else chosen
    return remote


def _last_user_step(plan: Plan) -> int:
    """The user step nearest the output (whose value is the body's result)."""
    i = plan.output
    while plan.internal[i] and plan.deps[i]:
        i = plan.deps[i][0]
    return i


class _Failed(Exception):
    """Internal: carries a step's failure value out of a ``try`` block."""

    def __init__(self, error: object) -> None:
        self.error = error


class _TimedOut(Exception):
    """A step's own deadline passed (``trio.TooSlowError`` from its code is its own error)."""


_ABANDONABLE: Final = trio.lowlevel.RunVar[trio.CapacityLimiter]("dagfn_abandonable_threads")


async def _abandonable(fn: Callable[..., Any], args: list[Any]) -> Any:
    """Call ``fn`` in a thread that a timeout abandons (it runs on until it returns).

    The thread holds a token of an unbounded limiter, not of trio's default one
    (the caller holds that for the step and gives it back on timeout), so hung
    steps never starve later steps, or the journal, of threads.
    """
    try:
        limiter = _ABANDONABLE.get()
    except LookupError:
        limiter = trio.CapacityLimiter(math.inf)
        _ABANDONABLE.set(limiter)
    call = functools.partial(fn, *args)
    return await trio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=limiter)


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


_BLOCKED: Final = 1 << 62  # a counter that never reaches 0
_MAX_OVERTAKES: Final = 8  # how often a step waiting for a budget may be overtaken for it


def _needed(plan: Plan, reuse: dict[int, Any]) -> list[bool]:
    """Steps a resumed run must compute: ancestors of the output not cut off by reuse."""
    needed = [False] * len(plan)
    needed[plan.output] = plan.output not in reuse
    deps = plan.deps
    for i in range(len(plan) - 1, 0, -1):
        if needed[i]:
            for d in deps[i]:
                if d not in reuse:
                    needed[d] = True
    return needed


def _finish(journal: Journal, status: str, output: object) -> None:
    """Commit the journal and the run's outcome (blocking: runs in a worker thread)."""
    result_json = None
    if status == "succeeded":
        try:
            result_json = journal.dumps(journal.plan.output, output)
        except JournalError:
            result_json = None  # resumable from the step rows all the same
    journal.flush()
    journal.store.finish_run(journal.run_id, status, result_json)  # type: ignore[arg-type]


def _completed(plan: Plan, values: list[Any]) -> tuple[str, ...]:
    paths, internal = plan.paths, plan.internal
    return tuple(
        paths[i]
        for i in range(len(values))
        if not internal[i] and values[i] is not _MISSING and values[i] is not NOT_TAKEN
    )


def _skipped_by_loops(failures: list[tuple[int, Any]]) -> set[str]:
    """Body steps a failed loop's own run sent ``skip`` for: the outer run must not repeat it."""
    said: set[str] = set()
    for _, error in failures:
        if isinstance(error, _NestedFailure):
            inner = error.failure
            said.update(path for f in inner.failures for path in f.not_run)
            said.update(inner.cancelled)
    return said


def _cut_short(plan: Plan, values: list[Any], failed: set[int]) -> tuple[str, ...]:
    """Steps of a cancelled run that were ready (running or queued) but never finished."""
    internal, deps = plan.internal, plan.deps
    return tuple(
        plan.paths[i]
        for i in range(len(values))
        if not internal[i]
        and values[i] is _MISSING
        and i not in failed
        and all(values[j] is not _MISSING for j in deps[i])
    )


def _run_failure(
    plan: Plan, values: list[Any], failures: list[tuple[int, Any]], fail_fast: bool
) -> RunFailure[Any]:
    paths, internal = plan.paths, plan.internal

    def missing(i: int) -> bool:
        return values[i] is _MISSING

    failed = {i for i, _ in failures}
    steps: list[StepFailure[Any]] = []
    nested_completed: list[str] = []
    for i, error in failures:
        not_run = tuple(paths[d] for d in plan.descendants([i]) if not internal[d] and missing(d))
        if isinstance(error, _NestedFailure):  # a loop: report the body's own steps
            inner = error.failure
            nested_completed.extend(inner.completed)
            steps.extend(
                StepFailure(f.step, f.error, (*f.not_run, paths[i], *not_run))
                for f in inner.failures
            )
        else:
            steps.append(StepFailure(step=paths[i], error=error, not_run=not_run))
    completed = tuple(nested_completed) + tuple(
        paths[i]
        for i in range(len(values))
        if not internal[i] and not missing(i) and values[i] is not NOT_TAKEN
    )
    cancelled = _cut_short(plan, values, failed) if fail_fast else ()
    return RunFailure(failures=tuple(steps), completed=completed, cancelled=cancelled)
