"""The ready queue alone: `Dispatcher` and `Lane` without a run.

Like trio's tests of `ParkingLot`, these drive the container by hand: a lane's
``start`` callback only records which steps the dispatcher started, and the
test pushes, dispatches and releases steps itself. No trio run is needed.
"""

from __future__ import annotations

from typing import Any

from dagfn import Graph, Limits, gather, node
from dagfn._plan import Plan, plan_of
from dagfn._schedule import MAX_OVERTAKES, Dispatcher


def ident(x: int) -> int:
    return x


def steps(*costs: dict[str, float] | None) -> Plan:
    """Independent steps ``s1, s2, ...``, numbered 1, 2, ...: ``sk`` costs ``costs[k - 1]``."""
    graphs: list[Graph[int, int, Any]] = []
    for k, cost in enumerate(costs, 1):
        g: Graph[int, int, Any] = node(ident).named(f"s{k}")
        for resource, amount in (cost or {}).items():
            g = g.on(resource, amount)
        graphs.append(g)
    plan = plan_of(gather(graphs))
    assert [plan.paths[k] for k in range(1, len(costs) + 1)] == [
        f"s{k}" for k in range(1, len(costs) + 1)
    ]
    return plan


def chain_and_lone() -> tuple[Plan, int, int]:
    """A plan with a chain ``a1 >> a2 >> a3`` and a lone step ``b``: (plan, a1, b)."""
    chain = node(ident).named("a1") >> node(ident).named("a2") >> node(ident).named("a3")
    plan = plan_of(gather([node(ident).named("b"), chain]))
    return plan, plan.paths.index("a1"), plan.paths.index("b")


# -- order: the policies ------------------------------------------------------------


def test_fifo_starts_ready_steps_in_the_order_they_were_pushed() -> None:
    d = Dispatcher(Limits(concurrency=3), "fifo")
    started: list[int] = []
    lane = d.lane(steps(None, None, None), started.append)
    for i in (3, 1, 2):
        d.push(lane, i)
    d.dispatch()
    assert started == [3, 1, 2]


def test_critical_path_starts_the_step_with_the_longest_path_to_the_end_first() -> None:
    plan, a1, b = chain_and_lone()
    d = Dispatcher(Limits(concurrency=2), "critical_path")
    started: list[int] = []
    lane = d.lane(plan, started.append)
    d.push(lane, b)
    d.push(lane, a1)
    d.dispatch()
    assert started == [a1, b]


def test_critical_path_weighs_steps_by_known_durations_when_given() -> None:
    plan, a1, b = chain_and_lone()
    durations = [10.0 if path == "b" else 1.0 for path in plan.paths]
    d = Dispatcher(Limits(concurrency=2), "critical_path")
    started: list[int] = []
    lane = d.lane(plan, started.append, durations)
    d.push(lane, a1)
    d.push(lane, b)
    d.dispatch()
    assert started == [b, a1]  # one 10 s step outweighs a chain of three 1 s steps


def test_critical_path_starts_steps_of_equal_rank_in_arrival_order() -> None:
    d = Dispatcher(Limits(concurrency=3), "critical_path")
    started: list[int] = []
    lane = d.lane(steps(None, None, None), started.append)
    for i in (2, 3, 1):
        d.push(lane, i)
    d.dispatch()
    assert started == [2, 3, 1]


def test_waves_hold_a_deeper_step_until_every_step_of_the_current_wave_is_released() -> None:
    plan = plan_of(
        gather([node(ident).named("a"), node(ident).named("c") >> node(ident).named("b")])
    )
    a, b, c = (plan.paths.index(p) for p in "abc")
    d = Dispatcher(None, "waves")
    started: list[int] = []
    lane = d.lane(plan, started.append)
    d.push(lane, b)  # level 2, pushed first
    d.push(lane, a)  # level 1
    d.dispatch()
    assert started == [a]
    d.push(lane, c)  # level 1 again: same wave, it starts though b was queued before it
    d.dispatch()
    assert started == [a, c]
    d.release(lane, a)
    d.dispatch()
    assert started == [a, c]  # c (level 1) still runs
    d.release(lane, c)
    d.dispatch()
    assert started == [a, c, b]


# -- slots and budgets --------------------------------------------------------------


def test_concurrency_bounds_running_steps_and_a_release_frees_a_slot() -> None:
    d = Dispatcher(Limits(concurrency=2), "fifo")
    started: list[int] = []
    lane = d.lane(steps(None, None, None), started.append)
    for i in (1, 2, 3):
        d.push(lane, i)
    d.dispatch()
    assert started == [1, 2]
    assert (d.running, lane.running, lane.queued) == (2, 2, 1)
    d.release(lane, 1)
    assert (d.running, lane.running) == (1, 1)
    d.dispatch()
    assert started == [1, 2, 3]
    assert (d.running, lane.running, lane.queued) == (2, 2, 0)


def test_a_running_step_holds_its_costs_until_it_is_released() -> None:
    d = Dispatcher(Limits(resources={"llm": 4, "tokens": 10}), "fifo")
    lane = d.lane(steps({"llm": 3, "tokens": 2.5}), lambda i: None)
    d.push(lane, 1)
    d.dispatch()
    assert d.available == {"llm": 1.0, "tokens": 7.5}
    d.release(lane, 1)
    assert d.available == {"llm": 4.0, "tokens": 10.0}


def test_a_step_that_does_not_fit_its_budget_never_blocks_later_steps() -> None:
    d = Dispatcher(Limits(concurrency=3, resources={"llm": 1}), "fifo")
    started: list[int] = []
    lane = d.lane(steps({"llm": 1}, {"llm": 1}, None), started.append)
    for i in (1, 2, 3):
        d.push(lane, i)
    d.dispatch()
    assert started == [1, 3]  # 2 waits for llm, and takes no slot while it waits
    assert (d.running, lane.queued) == (2, 1)
    d.release(lane, 1)
    d.dispatch()
    assert started == [1, 3, 2]


def test_a_cost_in_a_budget_the_run_does_not_have_is_not_taken() -> None:
    d = Dispatcher(Limits(resources={"llm": 1}), "fifo")
    started: list[int] = []
    lane = d.lane(steps({"gpu": 5}, {"gpu": 5}), started.append)
    d.push(lane, 1)
    d.push(lane, 2)
    d.dispatch()
    assert started == [1, 2]
    assert d.available == {"llm": 1.0}


def test_slots_and_budgets_are_shared_by_every_lane_of_a_dispatcher() -> None:
    plan = steps({"llm": 1})
    d = Dispatcher(Limits(resources={"llm": 1}), "fifo")
    started: list[tuple[str, int]] = []
    outer = d.lane(plan, lambda i: started.append(("outer", i)))
    body = d.lane(plan, lambda i: started.append(("body", i)))
    d.push(outer, 1)
    d.push(body, 1)
    d.dispatch()
    assert started == [("outer", 1)]
    d.release(outer, 1)
    d.dispatch()
    assert started == [("outer", 1), ("body", 1)]


def test_a_float_budget_drifted_below_its_true_value_is_recounted_so_an_exact_fit_starts() -> None:
    d = Dispatcher(Limits(resources={"llm": 1.0}), "fifo")
    started: list[int] = []
    lane = d.lane(steps({"llm": 0.1}, {"llm": 0.2}, {"llm": 0.7}, {"llm": 1.0}), started.append)
    for i in (1, 2, 3):
        d.push(lane, i)
    d.dispatch()
    for i in (2, 3, 1):  # handed back in another order than taken
        d.release(lane, i)
    assert d.available["llm"] < 1.0  # the drift this test is about
    d.push(lane, 4)
    d.dispatch()
    assert started == [1, 2, 3, 4]
    assert d.available["llm"] == 0.0


def test_a_step_short_of_its_budget_by_more_than_rounding_waits() -> None:
    d = Dispatcher(Limits(resources={"llm": 1.0}), "fifo")
    started: list[int] = []
    lane = d.lane(steps({"llm": 1e-6}, {"llm": 1.0}), started.append)
    d.push(lane, 1)
    d.push(lane, 2)
    d.dispatch()
    assert started == [1]
    d.release(lane, 1)
    d.dispatch()
    assert started == [1, 2]


# -- overtaking ---------------------------------------------------------------------


class Starved:
    """Step 1 costs ``big`` and cannot start yet, for step 2 (``{"llm": 1}``) runs.

    Steps 3 to ``smalls + 2`` cost ``{"llm": 1}`` too; then come ``tokens_only``
    (``{"tokens": 1}``) and ``free`` (no cost).
    """

    def __init__(self, big: dict[str, float], budgets: dict[str, float], smalls: int) -> None:
        costs: list[dict[str, float] | None] = [big, *[{"llm": 1.0}] * (smalls + 1)]
        self.tokens_only, self.free = smalls + 3, smalls + 4
        plan = steps(*costs, {"tokens": 1}, None)
        self.d = Dispatcher(Limits(resources=budgets), "fifo")
        self.started: list[int] = []
        self.lane = self.d.lane(plan, self.started.append)
        self.d.push(self.lane, 2)
        self.d.dispatch()
        self.d.push(self.lane, 1)
        self.d.dispatch()
        assert self.started == [2]

    def overtake(self, times: int) -> None:
        """Steps 3, 4, ... are pushed in turn, each while the one before it holds an llm unit."""
        d, lane = self.d, self.lane
        for k in range(times):
            d.push(lane, 3 + k)
            d.dispatch()
            d.release(lane, 2 + k)


def test_a_step_short_of_a_budget_is_overtaken_max_overtakes_times_then_the_budget_is_held() -> (
    None
):
    s = Starved({"llm": 2}, {"llm": 2}, MAX_OVERTAKES + 1)
    s.overtake(MAX_OVERTAKES)
    assert s.started == list(range(2, 3 + MAX_OVERTAKES))  # each overtook step 1
    assert s.d.available["llm"] == 1.0
    held = 3 + MAX_OVERTAKES
    s.d.push(s.lane, held)
    s.d.dispatch()
    assert held not in s.started  # llm is free, but kept for step 1
    s.d.release(s.lane, 2 + MAX_OVERTAKES)
    s.d.dispatch()
    assert s.started[-1] == 1
    s.d.release(s.lane, 1)
    s.d.dispatch()
    assert s.started[-2:] == [1, held]


def test_only_the_budgets_a_starved_step_lacks_are_held_back_for_it() -> None:
    s = Starved({"llm": 2, "tokens": 1}, {"llm": 2, "tokens": 5}, MAX_OVERTAKES + 1)
    s.overtake(MAX_OVERTAKES)
    held = 3 + MAX_OVERTAKES
    for i in (held, s.tokens_only, s.free):
        s.d.push(s.lane, i)
    s.d.dispatch()
    # step 1 needs tokens too, but has enough of them: only llm is kept for it
    assert s.started[-2:] == [s.tokens_only, s.free]
    assert held not in s.started


def test_steps_needing_none_of_a_waiting_step_s_budgets_do_not_count_as_overtaking_it() -> None:
    s = Starved({"llm": 2}, {"llm": 2, "tokens": 1}, 1)
    for _ in range(3 * MAX_OVERTAKES):
        s.d.push(s.lane, s.tokens_only)
        s.d.push(s.lane, s.free)
        s.d.dispatch()
        s.d.release(s.lane, s.tokens_only)
        s.d.release(s.lane, s.free)
    assert s.started.count(s.tokens_only) == 3 * MAX_OVERTAKES
    s.d.push(s.lane, 3)
    s.d.dispatch()
    assert s.started[-1] == 3  # step 1 was never overtaken for llm: nothing is kept for it


def test_a_step_short_of_a_budget_is_overtaken_at_most_max_overtakes_times() -> None:
    smalls, budget = 2 * MAX_OVERTAKES, 3.0 * MAX_OVERTAKES
    d = Dispatcher(Limits(resources={"llm": budget}), "fifo")
    started: list[int] = []
    lane = d.lane(steps({"llm": 1.0}, {"llm": budget}, *[{"llm": 1.0}] * smalls), started.append)
    d.push(lane, 1)
    d.dispatch()  # step 1 holds one unit: step 2, wanting the whole budget, must wait
    d.push(lane, 2)
    for i in range(3, 3 + smalls):  # e.g. a fan-out that became ready at once
        d.push(lane, i)
    d.dispatch()
    assert len(started) - 1 <= MAX_OVERTAKES


# -- lanes whose run is over --------------------------------------------------------


def test_a_closed_lane_s_queued_steps_are_dropped_and_other_lanes_go_on() -> None:
    plan = steps(None, None)
    d = Dispatcher(Limits(concurrency=1), "fifo")
    started: list[tuple[str, int]] = []
    over = d.lane(plan, lambda i: started.append(("over", i)))
    going = d.lane(plan, lambda i: started.append(("going", i)))
    d.push(over, 1)
    d.push(over, 2)
    d.push(going, 1)
    over.closed = True
    d.dispatch()
    assert started == [("going", 1)]
    d.release(going, 1)
    d.dispatch()
    assert started == [("going", 1)]
    assert d.heap == []
    assert d.running == 0


def test_a_lane_whose_start_raises_runtime_error_is_closed_and_its_slot_and_budget_freed() -> None:
    plan = steps({"llm": 1}, {"llm": 1})
    d = Dispatcher(Limits(concurrency=1, resources={"llm": 1}), "fifo")
    tried: list[int] = []

    def start_after_nursery_closed(i: int) -> None:
        tried.append(i)
        raise RuntimeError("Nursery is closed to new arrivals")

    started: list[int] = []
    over = d.lane(plan, start_after_nursery_closed)
    going = d.lane(plan, started.append)
    d.push(over, 1)
    d.push(over, 2)
    d.push(going, 2)
    d.dispatch()
    assert over.closed
    assert tried == [1]  # its other queued step is dropped, never tried
    assert started == [2]  # the freed slot and budget went on in the same dispatch
    assert (d.running, over.running, going.running) == (1, 0, 1)
    assert d.available == {"llm": 0.0}
