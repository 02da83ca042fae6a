"""The ready queue of a run with limits: priorities, concurrency slots and budgets.

Used only when a run has `Limits` or the ``waves`` policy; otherwise a step
starts the moment its inputs exist and there is no queue at all. One
`Dispatcher` serves a whole run: each run of a plan in it (the run itself, and
every loop iteration's body) is a `Lane`, so limits hold across loop bodies.
The dispatcher never touches trio itself: a lane's ``start`` callback starts
a step's task, and `keep_open` is the one task that waits.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Final

import trio

from dagfn._plan import Plan
from dagfn._policy import Limits

MAX_OVERTAKES: Final = 8  # how often a step waiting for a budget may be overtaken for it


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

    def lane(
        self, plan: Plan, start: Callable[[int], None], durations: list[float] | None = None
    ) -> Lane:
        """Register one run's plan and how to start its steps."""
        return Lane(plan, self.policy, self.available, start, durations)

    def push(self, lane: Lane, i: int) -> None:
        key = lane.priority[i] if lane.priority is not None else 0.0
        heapq.heappush(self.heap, (key, self.seq, lane, i))
        self.seq += 1
        lane.queued += 1

    def dispatch(self) -> None:
        heap, available, capacity, held_by = self.heap, self.available, self.capacity, self.held
        blocked: list[tuple[float, int, Lane, int]] = []
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
                    if self.overtaken.get(entry[1], 0) >= MAX_OVERTAKES:
                        kept.update(r for r, c in costs if available[r] < c)
                    continue
                if blocked:
                    self._overtake(blocked, costs, kept)
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
        self,
        blocked: list[tuple[float, int, Lane, int]],
        costs: tuple[tuple[str, float], ...],
        kept: set[str],
    ) -> None:
        """A step needing ``costs`` starts ahead of the ``blocked`` ones: count what it overtook.

        A step overtaken `MAX_OVERTAKES` times gets the budgets it lacks kept for
        it at once (in ``kept``), also against steps later in this same dispatch.
        """
        overtaken, available = self.overtaken, self.available
        for _, seq, lane, i in blocked:
            theirs = lane.costs[i]
            if any(r == mine for r, _ in theirs for mine, _ in costs):
                count = overtaken[seq] = overtaken.get(seq, 0) + 1
                if count >= MAX_OVERTAKES:
                    kept.update(r for r, c in theirs if available[r] < c)

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


async def keep_open(lane: Lane) -> None:
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
