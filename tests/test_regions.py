"""Recover regions alone: `Regions` of a plan, tripped and waited in by hand, without a run.

The plan `NESTED` has two regions: ``OUTER`` (``(p >> inner >> q) | fb``) and,
inside it, ``INNER`` (``(x >> y).recover(0)``); ``after`` is in neither. Waits
run in virtual time (trio's `MockClock` with autojump), so their instants are exact.
"""

from __future__ import annotations

import trio
import trio.testing

from dagfn import gather, node
from dagfn._execute import BLOCKED
from dagfn._plan import Plan, plan_of
from dagfn._regions import Regions


def ident(x: int) -> int:
    return x


inner = (node(ident).named("x") >> node(ident).named("y")).recover(0)
outer = (node(ident).named("p") >> inner >> node(ident).named("q")) | node(ident).named("fb")
NESTED = plan_of(outer >> node(ident).named("after"))
OUTER, INNER = 0, 1
CATCH = NESTED.regions[INNER].catch  # INNER's catch step: in OUTER, it completes INNER
assert [r.parent for r in NESTED.regions] == [-1, OUTER]

SIBLINGS = plan_of(gather([node(ident).named("a").recover(0), node(ident).named("b").recover(0)]))


def at(plan: Plan, path: str) -> int:
    """The number of the step at ``path``."""
    return plan.paths.index(path)


def tripped_steps(regions: Regions) -> set[str]:
    """User steps of ``regions``' plan inside a tripped region."""
    plan = regions.plan
    return {plan.paths[i] for i in plan.user_steps() if regions.step_tripped(i)}


def waits_after_trip(
    plan: Plan, paths: list[str], trip: int, seconds: float = 10.0
) -> dict[str, tuple[float, bool]]:
    """Steps at ``paths`` wait ``seconds`` and ``trip`` trips at 1 s: per path, (end, answer)."""
    regions = Regions(plan)
    ended: dict[str, tuple[float, bool]] = {}

    async def wait(path: str) -> None:
        answer = await regions.wait(at(plan, path), seconds)
        ended[path] = (trio.current_time(), answer)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for path in paths:
                nursery.start_soon(wait, path)
            await trio.sleep(1)
            assert regions.trip(trip)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert regions.waits == {}  # every wait, woken or not, is forgotten when it ends
    return ended


# -- tripping -----------------------------------------------------------------------


def test_a_region_trips_once_and_stays_tripped() -> None:
    regions = Regions(NESTED)
    assert regions.trip(INNER) is True
    assert regions.trip(INNER) is False
    assert regions.trip(INNER) is False
    assert tripped_steps(regions) == {"x", "y"}


def test_a_region_inside_a_tripped_one_does_not_trip_again() -> None:
    regions = Regions(NESTED)
    assert regions.trip(OUTER) is True
    assert regions.trip(INNER) is False


def test_tripping_an_inner_region_leaves_the_enclosing_one_to_trip_later() -> None:
    regions = Regions(NESTED)
    assert regions.trip(INNER) is True
    assert not regions.in_tripped(OUTER)
    assert regions.trip(OUTER) is True
    assert tripped_steps(regions) == {"p", "x", "y", "q"}


def test_regions_nested_in_a_tripped_region_count_as_tripped() -> None:
    regions = Regions(NESTED)
    regions.trip(OUTER)
    assert regions.in_tripped(INNER)
    assert tripped_steps(regions) == {"p", "x", "y", "q"}  # not fb, not after


def test_tripping_one_region_leaves_a_sibling_untripped() -> None:
    regions = Regions(SIBLINGS)
    a, b = SIBLINGS.region[at(SIBLINGS, "a")], SIBLINGS.region[at(SIBLINGS, "b")]
    assert regions.trip(a) is True
    assert tripped_steps(regions) == {"a"}
    assert regions.trip(b) is True


# -- waits between attempts ---------------------------------------------------------


def test_tripping_a_region_wakes_the_waits_inside_it_and_not_outside() -> None:
    ended = waits_after_trip(NESTED, ["x", "p", "fb", "after"], INNER)
    assert ended == {
        "x": (1.0, False),
        "p": (10.0, True),  # in the enclosing region, which did not trip
        "fb": (10.0, True),
        "after": (10.0, True),
    }


def test_tripping_an_enclosing_region_wakes_waits_in_regions_nested_in_it() -> None:
    ended = waits_after_trip(NESTED, ["x", "y", "p", "q", "fb"], OUTER)
    assert ended == {
        "x": (1.0, False),
        "y": (1.0, False),
        "p": (1.0, False),
        "q": (1.0, False),
        "fb": (10.0, True),
    }


def test_a_wait_in_a_sibling_region_sleeps_on_and_answers_true() -> None:
    a = SIBLINGS.region[at(SIBLINGS, "a")]
    assert waits_after_trip(SIBLINGS, ["a", "b"], a) == {"a": (1.0, False), "b": (10.0, True)}


def test_a_wait_begun_after_its_region_tripped_answers_false() -> None:
    regions = Regions(NESTED)

    async def main() -> bool:
        regions.trip(OUTER)
        return await regions.wait(at(NESTED, "y"), 3)

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) is False


def test_a_wait_outside_every_region_sleeps_and_answers_true() -> None:
    regions = Regions(NESTED)

    async def main() -> tuple[bool, float]:
        return await regions.wait(at(NESTED, "after"), 2.5), trio.current_time()

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == (True, 2.5)
    assert regions.waits == {}


# -- who still waits for inputs when a region trips ----------------------------------


def remaining(plan: Plan, **counters: int) -> list[int]:
    """Input counters: ``plan.indegree``, with the counters of the named steps set."""
    out = plan.indegree.copy()
    for path, n in counters.items():
        out[at(plan, path)] = n
    return out


def waiting(regions: Regions, r: int, counters: list[int]) -> list[str]:
    return [regions.plan.paths[s] for s in regions.waiting_in(r, counters, BLOCKED)]


def test_waiting_in_yields_steps_of_the_region_and_nested_ones_still_waiting_for_inputs() -> None:
    counters = remaining(NESTED, p=0, x=0, y=1, q=1, fb=1, after=1)
    counters[CATCH] = 1
    regions = Regions(NESTED)
    assert waiting(regions, OUTER, counters) == ["y", NESTED.paths[CATCH], "q"]
    assert waiting(regions, INNER, counters) == ["y"]  # not the steps only OUTER holds


def test_waiting_in_skips_steps_that_are_ready_done_or_never_fire() -> None:
    counters = remaining(NESTED, p=0, x=-1, y=0, q=1)
    counters[CATCH] = -1  # set when INNER tripped: it never fires from its input
    assert waiting(Regions(NESTED), OUTER, counters) == ["q"]


def test_waiting_in_skips_a_blocked_step_even_after_its_inputs_decremented_its_counter() -> None:
    counters = remaining(NESTED, p=BLOCKED, x=BLOCKED - 1, y=BLOCKED - 2, q=1)
    counters[CATCH] = 0
    assert waiting(Regions(NESTED), OUTER, counters) == ["q"]
