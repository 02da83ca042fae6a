"""The ready queue of a run with limits: priorities, concurrency slots and budgets.

Used only when a run has `Limits` or the ``waves`` policy; otherwise a step
starts the moment its inputs exist and there is no queue at all. One
`Dispatcher` serves a whole run: each run of a plan in it (the run itself, and
every loop iteration's body) is a `Lane`, so limits hold across loop bodies.
The dispatcher starts no task itself: a lane's ``start`` callback starts a
step's task, and `keep_open` is the one task that waits (for the lane's
steps to end, or for a rate's bucket to hold what a queued step costs).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Final

import trio

from dagfn._plan import Plan
from dagfn._policy import Limits, Rate

MAX_OVERTAKES: Final = 8  # how often a step waiting for a budget may be overtaken for it
NEVER: Final = math.inf  # a wake-up time: none


class Bucket:
    """The token bucket of one `Rate` in one run.

    Invariant: ``level`` is what the bucket held at trio time ``stamp``
    (``0 <= level <= capacity``, less a rounding error); it gains ``per_second``
    units a second up to ``capacity``. It starts empty when the run starts.
    """

    __slots__ = ("capacity", "level", "per_second", "slack", "stamp")

    def __init__(self, rate: Rate, now: float) -> None:
        self.capacity = rate.count
        self.per_second = rate.per_second
        self.level = 0.0
        self.stamp = now
        # A cost this much above the level counts as available: refilling to an
        # exact wake-up time can fall short of the cost by a rounding error.
        self.slack = rate.count * 1e-9

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_second)
            self.stamp = now

    def wait(self, cost: float) -> float:
        """Seconds from ``stamp`` until ``cost`` is available (0.0: now)."""
        short = cost - self.level
        return 0.0 if short <= self.slack else short / self.per_second


class Lane:
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
        "rated",
        "running",
        "start",
        "timer",
        "wake_at",
    )

    def __init__(
        self,
        plan: Plan,
        policy: str,
        budgets: dict[str, float],
        rates: dict[str, Bucket],
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
        # rated[i]: what step i draws, for good, from the rates' buckets when it starts
        self.rated: list[tuple[tuple[str, float], ...]] = [
            tuple((r, c) for r, c in options.resources if r in rates) if options else ()
            for options in plan.options
        ]
        # When a step of this lane queued for a rate may start (trio time; NEVER:
        # none waits); `keep_open` sleeps until then in ``timer``, if it runs.
        self.wake_at = NEVER
        self.timer: trio.CancelScope | None = None
        if policy == "critical_path":
            # step counts, or seconds per step when durations of earlier runs are known
            rank = plan.rank if durations is None else plan.weighted_rank(durations)
            self.priority: list[float] | None = [-r for r in rank]
        elif policy == "waves":
            self.priority = [float(v) for v in plan.level]
        else:
            self.priority = None  # fifo: arrival order only


class Dispatcher:
    """The ready queue of a run with limits (or the ``waves`` policy).

    Invariants: ``heap`` holds ready steps not yet started, keyed by priority
    then arrival; ``running`` counts started steps not yet released, and
    ``available[r]`` is the budget of ``r`` minus the cost of those steps. A
    step that does not fit the budgets is skipped over, never blocking others,
    but not forever: once steps after it in the queue that need one of its
    budgets have overtaken it `MAX_OVERTAKES` times, those budgets are held
    back for it (``overtaken`` counts, by arrival number), so a costly step is
    not starved by a stream of cheap ones. Only the budgets it lacks are held;
    steps that need none of those are never held back.

    Float costs handed back in another order than they were taken can leave
    ``available[r]`` a rounding error below its true value, which must not
    keep a step that fits exactly from ever starting: when a step misses by
    less than ``slack[r]``, ``available[r]`` is recomputed exactly from the
    costs held (``held[r]``: cost -> how many running steps hold it).

    Rates: ``buckets[r]`` is the token bucket of rate ``r``. A step that needs
    a rate starts only when every bucket it draws from holds its cost (and its
    budgets fit); it is skipped over like a step short of a budget, and the
    same `MAX_OVERTAKES` rule keeps the buckets it waits for from steps behind
    it. ``timed`` holds the lanes with a step queued for a rate: such a lane's
    ``wake_at`` is the earliest time one of them may start, when its
    `keep_open` task calls `dispatch` (no step may end before then).
    """

    __slots__ = (
        "available",
        "buckets",
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
        "timed",
        "waves",
    )

    def __init__(self, limits: Limits | None, policy: str) -> None:
        self.heap: list[tuple[float, int, Lane, int]] = []
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
        rates = limits.rates if limits is not None else {}
        now = trio.current_time() if rates else 0.0
        self.buckets = {r: Bucket(rate, now) for r, rate in rates.items()}
        self.timed: set[Lane] = set()

    def lane(
        self, plan: Plan, start: Callable[[int], None], durations: list[float] | None = None
    ) -> Lane:
        """Register one run's plan and how to start its steps."""
        return Lane(plan, self.policy, self.available, self.buckets, start, durations)

    def push(self, lane: Lane, i: int) -> None:
        key = lane.priority[i] if lane.priority is not None else 0.0
        heapq.heappush(self.heap, (key, self.seq, lane, i))
        self.seq += 1
        lane.queued += 1

    def dispatch(self) -> None:
        heap, available, capacity, held_by = self.heap, self.available, self.capacity, self.held
        blocked: list[tuple[float, int, Lane, int]] = []
        kept: set[str] = set()  # budgets kept for a step overtaken too often
        kept_rates: set[str] = set()  # rates' buckets kept likewise
        wakes: dict[Lane, float] | None = None  # lanes with steps waiting for a rate
        now = 0.0
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
            rated = lane.rated[i]
            if rated:
                if wakes is None:
                    wakes, now = {}, trio.current_time()
                wait = self._rate_wait(rated, kept_rates, now)
                if wait or (costs and self._short(costs, kept)):
                    blocked.append(entry)
                    if self.overtaken.get(entry[1], 0) >= MAX_OVERTAKES:
                        kept.update(r for r, c in costs if available[r] < c)
                        kept_rates.update(r for r, c in rated if self.buckets[r].wait(c))
                    # No wait: short of a budget, a step's end dispatches again. NEVER:
                    # a bucket kept for another step, which wakes first.
                    if 0.0 < wait < NEVER:
                        # A wait below the clock's resolution must still move the clock on.
                        at = max(now + wait, math.nextafter(now, NEVER))
                        wakes[lane] = min(wakes.get(lane, NEVER), at)
                    continue
                if blocked:
                    self._overtake(blocked, costs, kept, rated, kept_rates)
                for r, c in rated:
                    self.buckets[r].level -= c
            elif costs:
                if self._short(costs, kept):
                    blocked.append(entry)
                    if self.overtaken.get(entry[1], 0) >= MAX_OVERTAKES:
                        kept.update(r for r, c in costs if available[r] < c)
                    continue
                if blocked:
                    self._overtake(blocked, costs, kept, rated, kept_rates)
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
        if wakes is not None or self.timed:
            self._set_timers(wakes or {})

    def _short(self, costs: tuple[tuple[str, float], ...], kept: set[str]) -> bool:
        """Does some cost not fit its budget (or need a budget kept for another step)?"""
        available = self.available
        return any((available[r] < c and not self._fits(r, c)) or r in kept for r, c in costs)

    def _rate_wait(self, rated: tuple[tuple[str, float], ...], kept: set[str], now: float) -> float:
        """Seconds until every bucket in ``rated`` holds its cost (0.0: now; NEVER: kept)."""
        wait = 0.0
        for r, c in rated:
            if r in kept:
                return NEVER
            bucket = self.buckets[r]
            bucket.refill(now)
            wait = max(wait, bucket.wait(c))
        return wait

    def _set_timers(self, wakes: dict[Lane, float]) -> None:
        """Point each lane's wake-up at the earliest start of its steps waiting for a rate."""
        for lane in self.timed - wakes.keys():
            lane.wake_at = NEVER
            if lane.timer is not None:
                lane.timer.deadline = NEVER
        for lane, at in wakes.items():
            lane.wake_at = at
            if lane.timer is not None:
                lane.timer.deadline = at
        self.timed = set(wakes)

    def _fits(self, r: str, c: float) -> bool:
        """Does cost ``c`` fit budget ``r``, once rounding errors are taken out?"""
        if c - self.available[r] > self.slack[r]:
            return False  # short by more than rounding: no need to recompute
        held = self.held[r]
        exact = math.fsum([self.budgets[r], *(-h for h, n in held.items() for _ in range(n))])
        self.available[r] = exact
        return exact >= c

    def _overtake(
        self,
        blocked: list[tuple[float, int, Lane, int]],
        costs: tuple[tuple[str, float], ...],
        kept: set[str],
        rated: tuple[tuple[str, float], ...] = (),
        kept_rates: set[str] | None = None,
    ) -> None:
        """A step needing ``costs`` and ``rated`` starts ahead of the ``blocked`` ones:
        count what it overtook.

        A step overtaken `MAX_OVERTAKES` times gets the budgets (and buckets) it
        lacks kept for it at once (in ``kept`` and ``kept_rates``), also against
        steps later in this same dispatch.
        """
        overtaken, available, buckets = self.overtaken, self.available, self.buckets
        for _, seq, lane, i in blocked:
            theirs, their_rates = lane.costs[i], lane.rated[i]
            if any(r == mine for r, _ in theirs for mine, _ in costs) or any(
                r == mine for r, _ in their_rates for mine, _ in rated
            ):
                count = overtaken[seq] = overtaken.get(seq, 0) + 1
                if count >= MAX_OVERTAKES:
                    kept.update(r for r, c in theirs if available[r] < c)
                    if kept_rates is not None:
                        kept_rates.update(r for r, c in their_rates if buckets[r].wait(c))

    def release(self, lane: Lane, i: int) -> None:
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


async def keep_open(lane: Lane, dispatcher: Dispatcher) -> None:
    """Keep a run's nursery open while steps of its lane wait in a shared dispatcher.

    Queued steps have no task yet, and the slots they wait for may be held by
    other lanes (the rest of the run, for a loop body); without this task the
    nursery could close with them still queued. It is started by the first push
    while none runs, and woken only when a step of the lane ends leaving none
    queued or running, so a busy lane pays no wake-up per step; or at the lane's
    ``wake_at``, when a step it queued for a rate may start: then it dispatches.
    """
    try:
        while lane.queued or lane.running:
            lane.changed = trio.Event()
            with trio.CancelScope(deadline=lane.wake_at) as timer:
                lane.timer = timer
                await lane.changed.wait()
            lane.timer = None
            if timer.cancelled_caught:  # a rate's bucket holds what a queued step costs
                lane.wake_at = NEVER
                dispatcher.dispatch()
    finally:
        lane.kept = False
        lane.timer = None
