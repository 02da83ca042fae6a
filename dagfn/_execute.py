"""One run of one plan on trio: dataflow scheduling, the fast path and the careful path.

The scheduling rule is dataflow: a step starts the moment its last input
exists. Without limits there is no scheduler task: whoever finishes a step
decrements its dependents' counters and starts those that reach zero. Plain
functions run inline on the trio thread right there (no task, no thread);
async functions get a task in the run's one nursery, so cancelling the caller
cancels every running step and nothing outlives the run.

Steps with no policy, outside route branches and recover regions, in a run
without events, limits or remote executors take the *fast path*: the two
closures `_fast_path` builds (`settle`, and `run_async` for an async step),
which read the run's lists through local names. Every other step takes the
careful path: `Execution.begin`, then either a plain call right here
(`Execution.call_here`) or a task (`Execution.step_task`) that runs
`dagfn._attempt.attempt` and applies its outcome.

State of a run (the fields of `Execution`), with its invariants:

- ``values[i]`` is `MISSING` until step ``i`` finished, then its output, or
  `NOT_TAKEN` in a branch that was not selected; it is written once.
- ``remaining[i]`` counts the distinct dependencies of ``i`` that have not
  finished; a step starts exactly when it drops to 0, so it runs at most
  once. `BLOCKED` (never reaching 0) marks steps that must not start from
  their inputs: reused from the journal, not needed, skipped, or a region's
  catch step that its failure completes instead.
- ``failures`` lists (step, error) of uncaught failures, in order.
- ``ended`` holds the steps that had their final event (only with events).
- ``paused`` lists (path, prompt) of interrupts waiting for an answer.
- ``regions`` keeps the recover regions' state (`dagfn._regions`).
- With limits, ``dispatcher`` is the run's ready queue (shared with its loop
  bodies' runs) and ``lane`` this run's part in it: a careful step that needs
  a task holds a slot and its budgets from its start until it ends.
"""

from __future__ import annotations

import collections
import contextlib
import random
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import Any, Final

import attrs
import trio
from returns.result import Failure, Result, Success

from dagfn._attempt import (
    WRAPPED,
    Abandoned,
    Done,
    Failed,
    Outcome,
    Suspended,
    attempt,
    call_inline,
    failure_value,
    judged,
    remote,
    runs_inline,
)
from dagfn._cache import CacheEntry, CacheUnavailable, RunCache
from dagfn._elements import (
    Elements,
    body_facts,
    by_element,
    combined,
    elements_of,
    lone_errors,
)
from dagfn._events import Event, EventKind, digest, end_of_run_skips
from dagfn._expr import ASYNC, callable_kind
from dagfn._failures import Paused, RunFailure
from dagfn._fingerprint import Uncacheable
from dagfn._journal import Journal, JournalError, reuse_for
from dagfn._loop import MaxStepsExceeded
from dagfn._outcome import (
    MISSING,
    NestedFailure,
    NestedPause,
    completed,
    cut_short,
    finish_journal,
    last_user_step,
    run_failure,
    said_by_loops,
)
from dagfn._outcome import paused as paused_outcome
from dagfn._plan import (
    ASYNC1,
    ASYNCN,
    EACH,
    LOOP,
    NESTED,
    NOT_TAKEN,
    SYNC1,
    SYNCN,
    EachSpec,
    LoopSpec,
    Plan,
)
from dagfn._policy import NO_OPTIONS, Limits, StepExecutor
from dagfn._regions import Regions
from dagfn._schedule import Dispatcher, Lane, keep_open
from dagfn._streamed import Send, Streamed

OnEvent = Callable[[Event], Any]

# What a cached step's lookup came to.
_HIT: Final = "hit"  # its value is set and journaled: settle it
_MISS: Final = "miss"  # run it; its output is kept when it has one
_FAILED: Final = "failed"  # it failed
_QUEUED: Final = "queued"  # its task looks it up

BLOCKED: Final = 1 << 62  # a counter that never reaches 0 (nor BLOCKED // 2) by decrements


class Execution:
    """The state of one run of a plan. Build, set what applies, then ``await execute(x)``."""

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
        self.on_event = on_event  # as the caller gave it
        self.rng = rng if rng is not None else random.Random()
        self.run_id: str | None = None  # set when journaled or when the graph can pause
        self.journal: Journal | None = None
        self.reuse: dict[int, Any] = {}  # journaled outputs, by step, not to compute again
        self.executor: StepExecutor | None = None  # the default for plain functions; None: inline
        self.durations: list[float] | None = None  # seconds per step seen in earlier runs
        self.dispatcher: Dispatcher | None = None  # shared with loop bodies' runs
        self.nested = False  # a loop body's iteration: the run it belongs to finishes the journal
        self.seed: int | None = None  # drawn from rng once per run; loop bodies share it
        self.chunks: Send | None = None  # where streamed steps send chunks (`dagfn.stream`)
        # Set when the run starts (see the module docstring for their invariants).
        self.emitter: OnEvent | None = None  # on_event as the steps call it (sync)
        self.listening = False  # emitter is not None
        self.values: list[Any] = []
        self.remaining: list[int] = []
        self.failures: list[tuple[int, Any]] = []
        self.ended: set[int] = set()
        self.paused: list[tuple[str, object]] = []
        self.regions = Regions(plan)
        self.lane: Lane | None = None
        self.remote: list[StepExecutor | None] | None = None  # per step; None: all inline
        self.careful: list[bool] = plan.slow
        self.sync_durable = False
        self.cache: RunCache | None = None  # where cached steps' outputs are kept
        self.cache_keys: dict[int, str] = {}  # cached steps that missed: their keys
        self.nursery: trio.Nursery
        self.settle: Callable[[int], None]

    # -- the run as a whole -------------------------------------------------------

    async def execute(self, x: object) -> Result[Any, RunFailure[Any]]:
        """Run the plan on ``x``, with its executors open and its events delivered."""
        executors = executors_of(self.plan, self.executor)
        if not executors:
            return await self._with_events(x)
        async with contextlib.AsyncExitStack() as stack:
            for executor in executors:  # reentrant: an executor the caller opened stays open
                await stack.enter_async_context(executor)
            return await self._with_events(x)

    async def _with_events(self, x: object) -> Result[Any, RunFailure[Any]]:
        on_event = self.on_event
        if on_event is None or callable_kind(on_event) != ASYNC:  # also an async __call__
            return await self.run(x, on_event)
        # An async on_event is awaited in order by one consumer task that outlives the steps.
        send, receive = trio.open_memory_channel[Event](float("inf"))

        async def consume() -> None:
            async with receive:
                async for event in receive:
                    await on_event(event)

        async with trio.open_nursery() as events:
            events.start_soon(consume)
            async with send:
                return await self.run(x, send.send_nowait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare(self, on_event: OnEvent | None) -> None:
        """Set the run's state up (see the module docstring) before its nursery opens."""
        plan = self.plan
        if self.seed is None:  # retry jitter: one generator per step, seeded by its path
            self.seed = self.rng.getrandbits(64)
        self.emitter = on_event
        self.listening = on_event is not None  # for `attempt`: call started and retrying
        self.values = [MISSING] * len(plan)
        self.remaining = plan.indegree.copy()
        if self.dispatcher is None and (self.limits is not None or self.policy == "waves"):
            self.dispatcher = Dispatcher(self.limits, self.policy)
        if self.dispatcher is not None:
            self.lane = self.dispatcher.lane(plan, self._start_task, self.durations)
        self.sync_durable = self.journal is not None and self.journal.durability == "sync"
        self.remote = remote_executors(plan, self.executor)
        if on_event is not None or self.dispatcher is not None or self.sync_durable or self.remote:
            self.careful = [True] * len(plan)
        if self.reuse:
            # Resume: journaled steps are not computed again, and neither is anything
            # only they need; both are blocked from firing and settled at the start.
            needed = plan.needed(self.reuse)
            for i in range(1, len(plan)):
                if i in self.reuse or not needed[i]:
                    self.remaining[i] = BLOCKED

    async def run(self, x: object, on_event: OnEvent | None) -> Result[Any, RunFailure[Any]]:
        """Run every step that can run, then assemble the outcome."""
        self._prepare(on_event)
        values = self.values
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.settle = _fast_path(self)
                values[0] = x
                self.settle(0)
                for i in sorted(self.reuse):
                    values[i] = self.reuse[i]
                    self.settle(i)
                if self.dispatcher is not None:
                    self.dispatcher.dispatch()  # the first ready steps, in priority order
        except BaseExceptionGroup as group:
            # Only BaseExceptions that are not failure values get here (KeyboardInterrupt,
            # SystemExit, a bug): re-raise a lone one as itself, as a plain call would.
            if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], trio.Cancelled):
                raise group.exceptions[0] from None
            raise
        finally:
            if self.lane is not None:
                self.lane.closed = True
        return await self._outcome()

    async def _outcome(self) -> Result[Any, RunFailure[Any]]:
        plan, values = self.plan, self.values
        result: Result[Any, RunFailure[Any]]
        if self.failures:
            failure = run_failure(plan, values, self.failures, self.fail_fast)
            if self.emitter is not None:
                ended = [plan.paths[i] for i in self.ended]
                for path in end_of_run_skips(failure, said_by_loops(self.failures), ended):
                    self.emitter(Event("skip", path, trio.current_time()))
            result, status = Failure(failure), "failed"
        elif self.paused:
            result = Failure(paused_outcome(plan, values, self.paused, self.run_id or ""))
            status = "paused"
        else:
            if values[plan.output] is MISSING:  # an interpreter bug: never return a sentinel
                msg = f"dagfn: run ended without computing {plan.paths[plan.output]!r}; a bug"
                raise AssertionError(msg)
            result, status = Success(values[plan.output]), "succeeded"
        if self.journal is not None and not self.nested:
            await trio.to_thread.run_sync(
                finish_journal, self.journal, status, values[plan.output], abandon_on_cancel=True
            )
        if self.cache is not None and self.cache.kept and not self.nested:
            await trio.to_thread.run_sync(self.cache.flush)
        return result

    # -- what happens to one step -------------------------------------------------

    def emit(self, kind: EventKind, i: int, **fields: Any) -> None:
        """Tell ``on_event`` (if any) that ``kind`` happened to user step ``i``."""
        on_event = self.emitter
        if on_event is not None and not self.plan.internal[i]:
            if kind != "start" and kind != "retry" and kind != "uncached":
                self.ended.add(i)  # finish, fail, skip, pause: no skip for it at the end
            on_event(Event(kind, self.plan.paths[i], trio.current_time(), **fields))

    def journaled(self, i: int, value: object, started: float, attempt: int = 1) -> bool:
        """Journal step ``i``'s output; False (the step failed) if it is not JSON.

        A cached step that missed also keeps its output in the cache here.
        """
        if self.cache_keys and i in self.cache_keys:
            self._keep(i, value)
        journal = self.journal
        if journal is None:
            return True
        if self.plan.internal[i] and i not in self.plan.region_results:
            return True  # plumbing is not journaled, but a region's result is
        try:
            journal.done(i, value, started, attempt)
        except JournalError as error:
            self.fail(i, error, attempt)
            return False
        return True

    def fail(self, i: int, error: object, attempt: int = 1) -> bool:
        """Record that step ``i`` failed; False if a recover region caught it."""
        plan = self.plan
        if self.journal is not None and not plan.internal[i]:
            self.journal.failed(i, error, trio.current_time())
        r = plan.region[i]
        if r >= 0:
            self.emit("fail", i, attempt=attempt, error=error, recovered=True)
            if self.regions.trip(r):
                self._recover(r)
            return False
        self.failures.append((i, error))
        self.emit("fail", i, attempt=attempt, error=error)
        if self.fail_fast:
            self.nursery.cancel_scope.cancel()
        return True

    def _recover(self, r: int) -> None:
        """Region ``r`` just tripped: skip its steps not yet ready, complete its catch step."""
        remaining = self.remaining
        if self.emitter is not None:
            for s in self.regions.waiting_in(r, remaining, BLOCKED):
                remaining[s] = BLOCKED  # so it is not skipped a second time when ready
                self.emit("skip", s)
        region = self.plan.regions[r]
        catch = region.catch
        remaining[catch] = -1  # it will never fire from its input
        self.values[catch] = NOT_TAKEN if region.graph else region.fallback
        if region.graph or self.journaled(catch, region.fallback, trio.current_time()):
            self.settle(catch)

    def begin(self, d: int) -> bool:
        """The careful path: True if ``d`` got its value right here (settle it)."""
        plan, values = self.plan, self.values
        if plan.guarded[d] and any(values[j] is NOT_TAKEN for j in plan.deps[d]):
            values[d] = NOT_TAKEN
            return True
        if plan.region[d] >= 0 and self.regions.step_tripped(d):
            self.emit("skip", d)
            return False  # an earlier step of its recover region failed
        if d in plan.pauses:
            return self._pause(d)
        options, kind = plan.options[d], plan.kinds[d]
        if options is not None and options.cache is not None and self.cache is not None:
            found = self._look_up(d)
            if found is not _MISS:
                return found is _HIT
        if (
            kind in (ASYNC1, ASYNCN, LOOP, EACH)
            or (options is not None and options.needs_task)
            or self.sync_durable
            or (self.remote is not None and self.remote[d] is not None)
        ):
            self._queue(d)
            return False
        return self.call_here(d)

    # -- the step cache -------------------------------------------------------------

    def _look_up(self, d: int) -> object:
        """Cached step ``d`` is ready: `_HIT` (its value is set), `_FAILED`, `_MISS`, or
        `_QUEUED` (a backend that reads off the event loop's thread is asked in the
        step's task, `_look_up_in_task`)."""
        cache, plan = self.cache, self.plan
        assert cache is not None
        try:
            key = cache.key(plan, d, [self.values[j] for j in plan.deps[d]])
        except Uncacheable as error:
            self.fail(d, error)
            return _FAILED
        if not cache.inline:
            self.cache_keys[d] = key  # looked up in the step's task
            self._queue(d)
            return _QUEUED
        try:
            entry = cache.get(key)
        except Exception as error:
            return self._unreachable(d, key, error)
        return self._found(d, key, entry)

    async def _look_up_in_task(self, i: int) -> object:
        """`_look_up`'s second half for a backend read in a thread: `_HIT`, `_FAILED`, `_MISS`."""
        cache = self.cache
        assert cache is not None
        key = self.cache_keys.pop(i)
        try:
            entry = await trio.to_thread.run_sync(cache.get, key)
        except Exception as error:
            found = self._unreachable(i, key, error)
        else:
            found = self._found(i, key, entry)
        if found is _HIT:
            self.settle(i)
        return found

    def _found(self, d: int, key: str, entry: CacheEntry | None) -> object:
        """What ``entry`` means for step ``d``: a hit (value set, journaled) or a miss."""
        cache = self.cache
        assert cache is not None
        hit = cache.read(self.plan, d, key, entry)
        if hit is None:
            self.cache_keys[d] = key  # kept when the step has its output
            return _MISS
        return self._hit(d, hit.value)

    def _hit(self, d: int, value: object) -> object:
        """Step ``d``'s output came from the cache: journal it, set it, say so."""
        if not self.journaled(d, value, trio.current_time(), 0):
            return _FAILED
        self.values[d] = value
        if self.emitter is not None:
            self.emit("finish", d, attempt=0, digest=digest(value), cached=True)
        return _HIT

    def _unreachable(self, d: int, key: str, error: Exception) -> object:
        """The cache could not be read for step ``d``: fail it, or run it uncached."""
        cache = self.cache
        assert cache is not None
        if cache.required:
            self.fail(d, CacheUnavailable(self.plan.paths[d], error))
            return _FAILED
        self.emit("uncached", d, error=error)
        return _MISS

    def _keep(self, i: int, value: object) -> None:
        """Cached step ``i`` missed and now has ``value``: put it in the cache."""
        cache = self.cache
        key = self.cache_keys.pop(i)
        options = self.plan.options[i]
        assert cache is not None and options is not None and options.cache is not None
        try:
            cache.backend.cache_put(cache.entry(self.plan, i, key, value, options.cache.ttl))
            cache.kept = True
        except Exception as error:  # not JSON, or the backend is gone: the run goes on
            self.emit("uncached", i, error=error)

    def _queue(self, d: int) -> None:
        """Give step ``d`` a task: now, or through the dispatcher when the run has limits."""
        lane, dispatcher = self.lane, self.dispatcher
        # A loop or an each takes no slot: its body's steps do, in the same dispatcher.
        if lane is not None and dispatcher is not None and self.plan.kinds[d] not in NESTED:
            # Started by the dispatch after the settle that made it ready, so
            # that every step made ready at once competes by priority.
            dispatcher.push(lane, d)
            if not lane.kept:  # queued steps start no task: keep the nursery open
                lane.kept = True
                self.nursery.start_soon(keep_open, lane, dispatcher)
        else:
            self.nursery.start_soon(self.step_task, d)

    def _start_task(self, i: int) -> None:
        """The dispatcher starts step ``i`` (raises RuntimeError if the nursery closed)."""
        self.nursery.start_soon(self.step_task, i)

    def call_here(self, d: int) -> bool:
        """A plain function with at most a breaker or events: called inline, no task."""
        plan = self.plan
        args = [self.values[j] for j in plan.deps[d]]
        options = plan.options[d]
        if self.emitter is not None:
            self.emit("start", d, attempt=1, digest=digest(args))
        fn: Callable[..., Any] = plan.fns[d]  # type: ignore[assignment]
        outcome = call_inline(fn, args, plan.paths[d], options.breaker if options else None)
        if isinstance(outcome, Failed):
            self.fail(d, outcome.error)
            return False
        if not self.journaled(d, outcome.value, trio.current_time()):
            return False
        self.values[d] = outcome.value
        if self.emitter is not None:
            self.emit("finish", d, attempt=1, digest=digest(outcome.value))
        return True

    def _pause(self, d: int) -> bool:
        """Interrupt step ``d`` is ready: compute its prompt and wait for an answer."""
        plan = self.plan
        try:
            prompt = plan.fns[d](self.values[plan.deps[d][0]])  # type: ignore[misc]
            if self.journal is not None:
                self.journal.paused(d, prompt)
        except Exception as error:
            self.fail(d, error)
            return False
        self.paused.append((plan.paths[d], prompt))
        self.emit("pause", d)
        return False

    async def step_task(self, i: int) -> None:
        """The careful path in a task: step ``i``'s attempts, then what their outcome means.

        With limits, the step holds its slot and budgets from its start until
        it ends; they go back before its dependents are started. If the task
        is cancelled, the run is over: its lane drops what it has queued.
        """
        lane, dispatcher = self.lane, self.dispatcher
        held = lane is not None  # its slot and budget are not given back yet
        try:
            # Started (by any lane's dispatch) after its run was cancelled by a
            # timeout or fail_fast around it: end here, before it starts.
            await trio.lowlevel.checkpoint_if_cancelled()
            if self.plan.region[i] >= 0 and self.regions.step_tripped(i):
                # Queued (limits) or spawned before a step of its region failed.
                self.emit("skip", i)
                held = self._give_back(i)
                return
            cache = self.cache
            if (
                i in self.cache_keys
                and cache is not None
                and not cache.inline
                and await self._look_up_in_task(i) is not _MISS
            ):
                held = self._give_back(i)
                return
            started = trio.current_time() if self.journal is not None else 0.0
            plan = self.plan
            call, awaited = self._call(i)
            args = [self.values[j] for j in plan.deps[i]]
            options = plan.options[i] or NO_OPTIONS
            if plan.plain_first[i]:
                # The first attempt is a plain call (the usual step under limits): made
                # here, without `attempt`'s coroutine; retries, if any, go on in it.
                if self.listening:
                    self.started(i, 1)
                try:
                    out = await call(*args) if awaited else call(*args)
                except Exception as error:
                    outcome: Outcome = Failed(error, 1)
                else:
                    wrapped = out.__class__ in WRAPPED
                    outcome = judged(out, plan.paths[i]) if wrapped else Done(out, 1)
                if options.retry is not None and isinstance(outcome, Failed):
                    outcome = await attempt(
                        self, i, plan.paths[i], call, args, awaited, options, self.seed, outcome
                    )
            else:
                outcome = await attempt(
                    self, i, plan.paths[i], call, args, awaited, options, self.seed
                )
            if isinstance(outcome, Done):
                if not self.journaled(i, outcome.value, started, outcome.attempt):
                    held = self._give_back(i)
                    return
                if self.sync_durable:
                    assert self.journal is not None
                    await trio.to_thread.run_sync(self.journal.flush, abandon_on_cancel=True)
                held = self._done(i, outcome)
            elif isinstance(outcome, Failed):
                held = self._failed(i, outcome)
            else:
                held = self._no_value(i, outcome)
        finally:
            if held and lane is not None and dispatcher is not None:
                # Cancelled (or fail_fast): the run is over. Drop what its lane has
                # queued and give the budget to the other lanes' steps.
                lane.closed = True
                self._release(i)
                dispatcher.dispatch()
            if lane is not None and not lane.queued and not lane.running:
                lane.changed.set()  # the lane is idle: its keep_open may end

    def _call(self, i: int) -> tuple[Callable[..., Any], bool]:
        """What one attempt of step ``i`` calls, and whether that returns an awaitable."""
        plan = self.plan
        kind = plan.kinds[i]
        if kind not in NESTED and self.remote is None and not plan.streams:  # the usual case first
            return plan.fns[i], kind in (ASYNC1, ASYNCN)  # type: ignore[return-value]
        path = plan.paths[i]
        if kind == LOOP:
            spec = plan.loops[i]

            def call(state: Any) -> Coroutine[Any, Any, Any]:
                return self.loop_step(spec, state, path)

            return call, True
        if kind == EACH:
            each = plan.eaches[i]

            def call_each(value: Any) -> Coroutine[Any, Any, Any]:
                return self.each_step(each, value, path)

            return call_each, True
        if i in plan.streams:
            return streaming(plan.streams[i], path, self.chunks), True
        fn: Callable[..., Any] = plan.fns[i]  # type: ignore[assignment]
        where = self.remote[i] if self.remote is not None else None
        if where is not None:
            return remote(where, fn, path), True
        return fn, kind in (ASYNC1, ASYNCN)

    def _done(self, i: int, outcome: Done) -> bool:
        """Step ``i``'s output is journaled: keep it, then start its dependents.

        Returns False: its slot and budget were given back.
        """
        self.values[i] = outcome.value
        if self.emitter is not None:
            self.emit("finish", i, attempt=outcome.attempt, digest=digest(outcome.value))
        dispatcher = self.dispatcher
        if dispatcher is None:
            self.settle(i)
            return False
        held = self._release(i)
        self.settle(i)
        dispatcher.dispatch()
        return held

    def _failed(self, i: int, outcome: Failed) -> bool:
        """Step ``i`` failed: it gives its slot back, then the failure takes effect."""
        held = self._release(i)
        self.fail(i, outcome.error, outcome.attempt)
        if self.dispatcher is not None:
            self.dispatcher.dispatch()
        return held

    def _no_value(self, i: int, outcome: Suspended | Abandoned) -> bool:
        """Step ``i`` paused in a loop body, or was abandoned: it gives its slot back."""
        if isinstance(outcome, Suspended):
            self.paused.extend((p.step, p.prompt) for p in outcome.paused.pending)
        else:
            self.emit("skip", i)  # its region failed meanwhile: no more attempts
        return self._give_back(i)

    def _release(self, i: int) -> bool:
        """Give step ``i``'s slot and budget back to the dispatcher; returns False (not held)."""
        if (
            self.lane is not None
            and self.dispatcher is not None
            and self.plan.kinds[i] not in NESTED
        ):
            self.dispatcher.release(self.lane, i)
        return False

    def _give_back(self, i: int) -> bool:
        """Step ``i`` ends without a value: its slot and budget go to the next ready steps."""
        if self.dispatcher is not None:
            self._release(i)
            self.dispatcher.dispatch()
        return False

    # -- `dagfn._attempt.Hooks`: what attempts tell the run and ask of it ------------

    def started(self, i: int, attempt: int) -> None:
        args = [self.values[j] for j in self.plan.deps[i]]
        self.emit("start", i, attempt=attempt, digest=digest(args))

    def retrying(self, i: int, attempt: int, error: object) -> None:
        self.emit("retry", i, attempt=attempt, error=error)

    def given_up(self, i: int) -> bool:
        return self.regions.step_tripped(i)

    async def wait(self, i: int, seconds: float) -> bool:
        return await self.regions.wait(i, seconds)

    # -- loops ----------------------------------------------------------------------

    async def loop_step(self, spec: LoopSpec, state: Any, path: str) -> Any:
        """Run the loop step at ``path``: its body as one nested run per iteration."""
        done: list[str] = []  # steps of the iterations that finished
        for n in range(1, spec.max_steps + 1):
            body = spec.iteration(n, path)
            inner = self._iteration(body)
            try:
                result = await inner.run(state, self.emitter)
            except BaseException:  # cancelled (a timeout, fail_fast): say what was cut short
                self._cut_short(inner)
                raise
            if isinstance(result, Failure):
                failure = result.failure()
                if isinstance(failure, Paused):
                    raise NestedPause(failure)
                raise NestedFailure(attrs.evolve(failure, completed=(*done, *failure.completed)))
            done.extend(completed(body, inner.values))
            state = result.unwrap()
            if spec.until(state):
                return state
        last = body.paths[last_user_step(body)]
        raise MaxStepsExceeded(path, spec.max_steps, last, state)

    # -- each ------------------------------------------------------------------------

    async def each_step(self, spec: EachSpec, value: Any, path: str) -> Any:
        """Run the each step at ``path``: its body once per element of ``value``, concurrently.

        On the fast path (`dagfn._elements`) when nothing needs the careful one;
        otherwise as one nested run of the body laid out once per element
        (`EachSpec.flattened`), sharing this run's limits, journal and events.
        """
        seq = elements_of(value, path)
        if not seq:
            return combined(spec, [])
        if (
            body_facts(spec.body).simple
            and self.dispatcher is None
            and not self.sync_durable
            and runs_inline(self.executor)
        ):
            journal = self.journal
            if journal is not None:  # the body's journal: rows under the elements' paths
                journal = self._nested_journal(spec.body)
            elements = Elements(spec.body, path, self.fail_fast, journal, self.emitter)
            return combined(spec, await elements.run(seq))
        # The careful path: every element in one nested run of the body laid end to end.
        flat = spec.flattened(len(seq), path)
        inner = self._iteration(flat)
        try:
            with lone_errors():
                result = await inner.run(seq, self.emitter)
        except BaseException:  # cancelled (a timeout, fail_fast): say what was cut short
            self._cut_short(inner)
            raise
        if isinstance(result, Failure):
            failure = result.failure()
            if isinstance(failure, Paused):
                raise NestedPause(failure)
            raise NestedFailure(by_element(failure, path))
        return combined(spec, result.unwrap())

    def _nested_journal(self, body: Plan) -> Journal:
        """A journal for a body's steps, sharing this run's store, rows and pending rows."""
        journal = self.journal
        assert journal is not None
        return Journal(
            journal.store,
            journal.run_id,
            body,
            journal.durability,
            entries=journal.entries,
            pending=journal.pending,  # flushed when the whole run finishes
            token=journal.token,  # its rows are fenced by the run's lease too
        )

    def _iteration(self, body: Plan) -> Execution:
        """The run of one loop iteration's body (or an each element): this run's settings."""
        inner = Execution(body, self.policy, self.limits, self.fail_fast, None, self.rng)
        inner.nested = True
        inner.seed = self.seed
        inner.run_id = self.run_id
        inner.executor = self.executor
        inner.dispatcher = self.dispatcher
        inner.cache = self.cache
        inner.chunks = self.chunks  # also any nested run of a plan: its chunks reach the stream
        journal = self.journal
        if journal is not None:
            inner.journal = self._nested_journal(body)
            inner.reuse = reuse_for(body, journal.entries)
        return inner

    def _cut_short(self, inner: Execution) -> None:
        """A loop iteration was cancelled: send skip for its steps that were under way."""
        if self.emitter is None:
            return
        failed = {i for i, _ in inner.failures} | inner.ended
        # An event that cannot be delivered (the caller's cancel closed an
        # async on_event's channel) must not turn the cancel into a failure.
        with contextlib.suppress(Exception):
            for path in cut_short(inner.plan, inner.values, failed):
                self.emitter(Event("skip", path, trio.current_time()))


def _fast_path(run: Execution) -> Callable[[int], None]:
    """The run's ``settle``, and ``run_async`` behind it: the two hot closures.

    They read the run's lists through local names (one closure cell each)
    instead of attributes: every finished step passes through ``settle``.
    """
    plan, values, remaining, failures = run.plan, run.values, run.remaining, run.failures
    kinds, fns, deps, dependents = plan.kinds, plan.fns, plan.deps, plan.dependents
    careful, fail_fast, journal, nursery = run.careful, run.fail_fast, run.journal, run.nursery
    begin, fail, journaled, paths = run.begin, run.fail, run.journaled, plan.paths

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
                    out = out.unwrap()
                elif cls is Failure or cls is CoroutineType:
                    if fail(d, failure_value(paths[d], out)) and fail_fast:
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
            out = out.unwrap()
        elif cls is Failure:
            fail(i, out.failure())
            return
        if journal is not None and not journaled(i, out, started):
            return
        values[i] = out
        settle(i)

    return settle


def streaming(
    source: tuple[Streamed, str], path: str, send: Send | None
) -> Callable[[Any], Coroutine[Any, Any, Any]]:
    """One call per attempt of the streamed step at ``path``: it knows its attempt's number.

    Made once per step's run (`Execution._call`), so its count is the step's attempts.
    """
    spec = source[0]
    attempts = 0

    def call(x: Any) -> Coroutine[Any, Any, Any]:
        nonlocal attempts
        attempts += 1
        return spec.attempt(x, path, attempts, send, source)

    return call


def executors_of(plan: Plan, default: StepExecutor | None) -> list[StepExecutor]:
    """Every executor a run of ``plan`` may use (loop bodies included), to open for it."""
    found: dict[int, StepExecutor] = {}
    if default is not None and not runs_inline(default):
        found[id(default)] = default
    for p in plan.iter_plans():
        for options in p.options:
            where = options.executor if options is not None else None
            if where is not None and not runs_inline(where):
                found.setdefault(id(where), where)
    return list(found.values())


def remote_executors(plan: Plan, default: StepExecutor | None) -> list[StepExecutor | None] | None:
    """Per step, the executor its plain function runs on; None if all run inline."""
    own = [o.executor if o is not None else None for o in plan.options]
    if runs_inline(default) and all(runs_inline(e) for e in own):
        return None
    where: list[StepExecutor | None] = [None] * len(plan)
    for i in plan.user_steps():
        if plan.kinds[i] in (SYNC1, SYNCN) and i not in plan.pauses:
            chosen = own[i] if own[i] is not None else default
            where[i] = None if runs_inline(chosen) else chosen
    return where
