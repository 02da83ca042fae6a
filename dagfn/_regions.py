"""Recover regions while a run goes: which have tripped, and who waits to retry in them.

A region is the steps under one ``.recover(...)`` or ``a | b``; regions nest
(`Region.parent`). Invariants: a region trips at most once, when the first
step inside it (or inside a region nested in it) fails, and stays tripped;
once a region has tripped, no step inside it starts an attempt, and a step
inside it that waits between attempts is woken and makes no more. What a
tripped region means for the run (its fallback, its skips) is the
interpreter's: this module only keeps the state and answers questions on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

from dagfn._plan import Plan


class Regions:
    """The recover regions of one run of a plan."""

    __slots__ = ("plan", "region_of", "tripped", "waits")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.region_of = plan.region  # step -> its innermost region, or -1
        self.tripped = [False] * len(plan.regions)  # region -> has tripped (never reset)
        self.waits: dict[int, trio.CancelScope] = {}  # step -> its wait between attempts

    def in_tripped(self, r: int) -> bool:
        """Is region ``r``, or a region it is nested in, tripped?"""
        regions, tripped = self.plan.regions, self.tripped
        while r >= 0:
            if tripped[r]:
                return True
            r = regions[r].parent
        return False

    def step_tripped(self, i: int) -> bool:
        """Is step ``i`` inside a tripped region (so it must not run)?"""
        r = self.region_of[i]
        return r >= 0 and self.in_tripped(r)

    def inside(self, inner: int, r: int) -> bool:
        """Is region ``inner`` region ``r`` or nested in it?"""
        regions = self.plan.regions
        while inner >= 0 and inner != r:
            inner = regions[inner].parent
        return inner == r

    def trip(self, r: int) -> bool:
        """A step of region ``r`` failed: True if that trips it now (False: it already was).

        Steps of the region waiting between attempts are woken: they make no more.
        """
        if self.in_tripped(r):
            return False
        self.tripped[r] = True
        region_of = self.region_of
        for s, wait in self.waits.items():
            if self.inside(region_of[s], r):
                wait.cancel()
        return True

    def waiting_in(self, r: int, remaining: list[int], blocked: int) -> Iterator[int]:
        """Steps of region ``r`` still waiting for inputs (``remaining[s] > 0``), not blocked.

        A counter set to ``blocked`` is still decremented as the step's inputs
        arrive, at most once per input: anything above ``blocked // 2`` is blocked.
        """
        for s, inner in enumerate(self.region_of):
            if inner >= 0 and 0 < remaining[s] < blocked // 2 and self.inside(inner, r):
                yield s

    async def wait(self, i: int, seconds: float) -> bool:
        """Sleep before step ``i``'s next attempt; False if its region tripped meanwhile."""
        if self.region_of[i] < 0:
            await trio.sleep(seconds)
            return True
        with trio.CancelScope() as self.waits[i]:
            await trio.sleep(seconds)
        del self.waits[i]
        return not self.step_tripped(i)
