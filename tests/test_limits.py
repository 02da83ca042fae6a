"""Limits and priorities: concurrency and budgets are never exceeded, order follows the policy.

Random DAGs from `dagfn.testing` (some steps declare ``.on(resource, cost)``)
run in virtual time; the step bodies record when they start and end, and the
laws are checked against that record.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing
from _support import sleeper, vrun, vrun_graph
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import Graph, InvalidArgument, Limits, RunFailure, gather, loop, node, run
from dagfn._plan import plan_of
from dagfn.store import MemoryStore
from dagfn.testing import DagSpec, Recorder, build_graph, dag_specs

POLICIES = ("critical_path", "fifo", "waves")
RESOURCES = {"llm": 2.0, "tokens": 5.0}
STEP_TIMES = st.sampled_from([0.0, 1.0, 2.0, 3.0])


def vrun_spec(
    spec: DagSpec, *, policy: str, limits: Limits | None
) -> tuple[Result[Any, RunFailure[Any]], Recorder, Graph[int, tuple[int, ...], Any]]:
    """Build ``spec``'s graph with a `Recorder` and run it in virtual time on the input 0."""
    recorder = Recorder()
    graph = build_graph(spec, recorder)
    result = vrun(graph, 0, policy=policy, limits=limits)
    return result, recorder, graph


def takes_a_slot(spec: DagSpec, i: int) -> bool:
    """Async steps and steps with a cost go through the ready queue; plain ones run inline."""
    return spec.is_async[i] or bool(spec.cost(i))


def running_at_each_start(spec: DagSpec, recorder: Recorder) -> list[tuple[int, set[int]]]:
    """For each start, in order: the step, and the slot-taking steps running just after it."""
    running: set[int] = set()
    out: list[tuple[int, set[int]]] = []
    for what, i in recorder.order:
        if what == "start":
            if takes_a_slot(spec, i):
                running.add(i)
            out.append((i, set(running)))
        else:
            running.discard(i)
    return out


def expected_result(spec: DagSpec) -> Result[Any, Any]:
    values = spec.expected_values()
    return Success(tuple(values[i] for i in spec.sinks))


# --- limits are never exceeded ------------------------------------------------


@given(
    dag_specs(resources=RESOURCES, durations=STEP_TIMES),
    st.integers(1, 4),
    st.sampled_from(POLICIES),
)
def test_concurrency_and_every_budget_are_never_exceeded_and_every_step_runs_once(
    spec: DagSpec, k: int, policy: str
) -> None:
    result, recorder, _ = vrun_spec(
        spec, policy=policy, limits=Limits(concurrency=k, resources=RESOURCES)
    )
    assert recorder.calls == dict.fromkeys(range(len(spec)), 1)
    assert result == expected_result(spec)
    for step, running in running_at_each_start(spec, recorder):
        assert len(running) <= k, f"s{step} started with {sorted(running)} running"
        for resource, capacity in RESOURCES.items():
            used = sum(c for i in running for r, c in spec.cost(i) if r == resource)
            assert used <= capacity, f"s{step} took {resource} to {used} > {capacity}"


@given(dag_specs(durations=STEP_TIMES), st.integers(1, 3), st.sampled_from(POLICIES))
def test_under_a_concurrency_limit_results_match_sequential_evaluation(
    spec: DagSpec, k: int, policy: str
) -> None:
    result, recorder, _ = vrun_spec(spec, policy=policy, limits=Limits(concurrency=k))
    assert recorder.calls == dict.fromkeys(range(len(spec)), 1)
    assert result == expected_result(spec)
    assert all(len(r) <= k for _, r in running_at_each_start(spec, recorder))


@given(dag_specs(resources=RESOURCES, durations=STEP_TIMES), st.sampled_from(POLICIES[:2]))
def test_a_step_that_needs_no_budget_starts_the_instant_its_inputs_exist(
    spec: DagSpec, policy: str
) -> None:
    _, recorder, _ = vrun_spec(spec, policy=policy, limits=Limits(resources=RESOURCES))
    for i, ds in enumerate(spec.deps):
        if spec.cost(i):
            continue
        ready = max((recorder.ends[d] for d in ds), default=0.0)
        assert recorder.starts[i] == pytest.approx(ready, abs=1e-9), f"s{i}"


class Log:
    """Async step bodies that record (name, start time)."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, float]] = []

    def step(self, name: str, seconds: float) -> Graph[int, int, Any]:
        async def body(x: int) -> int:
            self.starts.append((name, trio.current_time()))
            await trio.sleep(seconds)
            return x + 1

        return node(body).named(name)

    def at(self, name: str) -> float:
        return dict(self.starts)[name]


@pytest.mark.parametrize("policy", POLICIES[:2])
def test_a_step_waiting_for_a_budget_holds_no_slot_and_blocks_no_other_step(policy: str) -> None:
    log = Log()
    hog = log.step("hog", 10).on("llm") >> log.step("h2", 1) >> log.step("h3", 1)
    # "waiting" has a longer path than the free steps: critical_path ranks it before them.
    waiting = log.step("waiting", 1).on("llm") >> log.step("w2", 1)
    other_resource = log.step("other_resource", 1).on("db")
    free = log.step("free", 1)
    g = gather([hog, waiting, other_resource, free])
    limits = Limits(concurrency=3, resources={"llm": 1, "db": 1})
    assert vrun_graph(g, policy=policy, limits=limits) == Success((3, 2, 1, 1))
    assert log.at("hog") == 0
    assert log.at("other_resource") == 0
    assert log.at("free") == 0
    assert log.at("waiting") == 10


def test_a_budget_is_taken_by_cost_not_by_count() -> None:
    log = Log()
    g = gather([log.step(f"t{i}", 1).on("tokens", c) for i, c in enumerate([600, 500, 400, 300])])
    assert isinstance(vrun_graph(g, limits=Limits(resources={"tokens": 1000})), Success)
    times = dict(log.starts)
    # at most 1000 tokens at once: 600+400 then 500+300, or similar, never three at once
    by_time: dict[float, int] = {}
    for i, c in enumerate([600, 500, 400, 300]):
        by_time[times[f"t{i}"]] = by_time.get(times[f"t{i}"], 0) + c
    assert max(by_time.values()) <= 1000
    assert max(times.values()) == 1.0  # and the budget was shared, not serialised


def test_a_step_s_own_cost_wins_over_its_composite_s() -> None:
    log = Log()
    g = gather([log.step("a", 1).on("gpu", 2), log.step("b", 1).on("gpu", 2)]).on("gpu", 1)
    vrun_graph(g, policy="fifo", limits=Limits(resources={"gpu": 3}))
    assert sorted(t for _, t in log.starts) == [0, 1]


def test_plain_functions_without_a_resource_run_inline_and_take_no_slot() -> None:
    log = Log()
    ran: list[float] = []

    @node
    def plain(x: int) -> int:
        ran.append(trio.current_time())
        return x

    g = gather([log.step("busy", 5), plain])
    assert vrun_graph(g, limits=Limits(concurrency=1)) == Success((1, 0))
    assert ran == [0.0]


def test_the_budgets_of_a_cancelled_step_are_given_back() -> None:
    log = Log()

    @node
    async def slow(x: int) -> int:
        await trio.sleep(100)
        return x

    limits = Limits(concurrency=1, resources={"llm": 1})
    g_slow = slow.on("llm")

    async def main() -> Result[Any, RunFailure[Any]]:
        with trio.move_on_after(1):
            await run(g_slow, 0, limits=limits)
        return await run(log.step("after", 1).on("llm"), 0, limits=limits)

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == Success(1)


def test_a_region_step_that_stops_retrying_gives_its_slot_back() -> None:
    log = Log()
    flaky = sleeper("flaky", 0, fail=True).retry(3, backoff=10, jitter=False)
    region = gather([sleeper("boom", 1, fail=True), flaky]).recover((-1, -1))
    g = gather([region, *[log.step(f"o{k}", 1) for k in range(4)]])
    result = vrun_graph(g, policy="fifo", limits=Limits(concurrency=2))
    assert result == Success(((-1, -1), 1, 1, 1, 1))


# --- priority order ----------------------------------------------------------


def test_critical_path_starts_the_step_with_the_longest_remaining_path_first() -> None:
    log = Log()
    src = log.step("src", 1)
    short = src >> log.step("short", 1)
    long = src >> log.step("long1", 1) >> log.step("long2", 1) >> log.step("long3", 1)
    g = gather([short, long])
    assert vrun_graph(g, limits=Limits(concurrency=1)) == Success((2, 4))
    assert [n for n, _ in log.starts] == ["src", "long1", "long2", "short", "long3"]


def test_fifo_starts_ready_steps_in_the_order_they_became_ready() -> None:
    log = Log()
    src = log.step("src", 1)
    short = src >> log.step("short", 1)
    long = src >> log.step("long1", 1) >> log.step("long2", 1) >> log.step("long3", 1)
    g = gather([short, long])
    vrun_graph(g, limits=Limits(concurrency=1), policy="fifo")
    assert [n for n, _ in log.starts] == ["src", "short", "long1", "long2", "long3"]


def test_waves_waits_for_a_whole_level_before_the_next() -> None:
    log = Log()
    a = log.step("a", 1)
    b = log.step("b", 5)
    g = gather([a >> log.step("a2", 1), b])
    vrun_graph(g, policy="waves")
    assert log.at("a2") == 5  # dataflow would start it at 1
    log.starts.clear()
    vrun_graph(g)
    assert log.at("a2") == 1


def all_async(spec: DagSpec) -> DagSpec:
    return attrs.evolve(spec, is_async=(True,) * len(spec))


def ranks_and_levels(graph: Graph[Any, Any, Any], n: int) -> tuple[list[int], list[int]]:
    plan = plan_of(graph)
    index = {plan.paths[i]: i for i in plan.user_steps()}
    steps = [index[f"s{i}"] for i in range(n)]
    return [plan.rank[i] for i in steps], [plan.level[i] for i in steps]


def ready_at_each_start(spec: DagSpec, recorder: Recorder) -> list[tuple[int, list[int]]]:
    """For each start: the step, and the steps ready then (not started, inputs all ended)."""
    ended: set[int] = set()
    started: set[int] = set()
    out: list[tuple[int, list[int]]] = []
    for what, i in recorder.order:
        if what == "end":
            ended.add(i)
            continue
        ready = [
            j for j, ds in enumerate(spec.deps) if j not in started and all(d in ended for d in ds)
        ]
        out.append((i, ready))
        started.add(i)
    return out


@given(dag_specs(durations=STEP_TIMES))
def test_critical_path_under_a_limit_always_starts_a_ready_step_of_highest_rank(
    spec: DagSpec,
) -> None:
    spec = all_async(spec)
    result, recorder, graph = vrun_spec(spec, policy="critical_path", limits=Limits(concurrency=1))
    assert result == expected_result(spec)
    rank, _ = ranks_and_levels(graph, len(spec))
    for step, ready in ready_at_each_start(spec, recorder):
        assert step in ready
        assert rank[step] == max(rank[j] for j in ready), f"s{step} among {ready}"


@given(dag_specs(durations=STEP_TIMES))
def test_fifo_under_a_limit_starts_steps_in_the_order_they_became_ready(spec: DagSpec) -> None:
    spec = all_async(spec)
    result, recorder, _ = vrun_spec(spec, policy="fifo", limits=Limits(concurrency=1))
    assert result == expected_result(spec)
    position = {("end", i): n for n, (what, i) in enumerate(recorder.order) if what == "end"}

    def became_ready(j: int) -> int:
        """Where in the record the last input of ``j`` ended (-1 for a root)."""
        return max((position[("end", d)] for d in spec.deps[j]), default=-1)

    for step, ready in ready_at_each_start(spec, recorder):
        assert became_ready(step) == min(became_ready(j) for j in ready), f"s{step}"


@given(dag_specs(durations=STEP_TIMES), st.sampled_from([None, 1, 2, 3]))
def test_waves_never_starts_a_deeper_level_while_a_shallower_one_runs(
    spec: DagSpec, k: int | None
) -> None:
    spec = all_async(spec)
    result, recorder, graph = vrun_spec(spec, policy="waves", limits=Limits(concurrency=k))
    assert result == expected_result(spec)
    _, level = ranks_and_levels(graph, len(spec))
    for step, running in running_at_each_start(spec, recorder):
        shallower = [j for j in running if level[j] < level[step]]
        assert not shallower, f"s{step} (level {level[step]}) started while {shallower} ran"


def test_critical_path_ranks_by_durations_seen_in_earlier_runs_in_the_store() -> None:
    log = Log()
    src = log.step("src", 1)
    # "long" has more steps but "heavy" more seconds on its path.
    long = src >> log.step("l1", 1) >> log.step("l2", 1) >> log.step("l3", 1)
    heavy = src >> log.step("heavy", 10)
    g = gather([long, heavy])
    limits = Limits(concurrency=1)
    store = MemoryStore()
    vrun_graph(g, limits=limits, store=store, run_id="first")
    assert [n for n, _ in log.starts][:2] == ["src", "l1"]  # step counts: 3 > 1
    log.starts.clear()
    vrun_graph(g, limits=limits, store=store, run_id="second")
    assert [n for n, _ in log.starts][:2] == ["src", "heavy"]  # seconds seen: 10 > 3
    log.starts.clear()
    vrun_graph(g, limits=limits)  # no store, no history: step counts again
    assert [n for n, _ in log.starts][:2] == ["src", "l1"]
    plan = plan_of(g)
    weighted = plan.weighted_rank([1.0] * len(plan))
    assert weighted == [float(r) for r in plan.rank]  # unit durations: step counts


def test_weighted_rank_is_the_longest_sum_of_durations_to_the_end() -> None:
    @node
    def a(x: int) -> int:
        return x

    @node
    def b(x: int) -> int:
        return x

    plan = plan_of(a >> b)
    index = {plan.paths[i]: i for i in plan.user_steps()}
    durations = [0.0] * len(plan)
    durations[index["a"]], durations[index["b"]] = 2.0, 3.0
    rank = plan.weighted_rank(durations)
    assert (rank[index["a"]], rank[index["b"]]) == (5.0, 3.0)
    with pytest.raises(ValueError, match="one per step"):
        plan.weighted_rank([1.0])


def test_steps_without_a_seen_duration_get_the_mean_and_plumbing_gets_none() -> None:
    def ident(x: int) -> int:
        return x

    plan = plan_of(gather([node(ident).named(name) for name in "abc"]))
    durations = plan.durations_from({"a": 2.0, "b": 4.0})
    by_path = dict(zip(plan.paths, durations, strict=True))
    assert (by_path["a"], by_path["b"], by_path["c"]) == (2.0, 4.0, 3.0)
    assert all(durations[i] == 0.0 for i in range(len(plan)) if plan.internal[i])


# --- budgets: waiting steps, overtaking, float costs --------------------------


@pytest.mark.parametrize("policy", POLICIES[:2])
def test_a_costly_step_is_not_starved_by_a_stream_of_cheap_ones(policy: str) -> None:
    log = Log()

    def cheap_chain(k: int) -> Graph[int, int, Any]:
        chain = log.step(f"offset{k}", 0.3 * k)  # the chains release their budget one at a time
        for n in range(20):
            chain = chain >> log.step(f"c{k}_{n}", 1).on("tokens", 3)
        return chain

    costly = log.step("before", 0.5) >> log.step("costly", 1).on("tokens", 10)
    for n in range(25):  # a long tail: critical_path ranks the costly step first too
        costly = costly >> log.step(f"tail{n}", 0)
    g = gather([cheap_chain(0), cheap_chain(1), cheap_chain(2), costly])
    limits = Limits(resources={"tokens": 10})
    assert isinstance(vrun_graph(g, policy=policy, limits=limits), Success)
    assert len(log.starts) == 3 * 21 + 2 + 25  # every step ran once
    # Without a bound on overtaking it would wait for all three chains (about 20 s).
    assert log.at("costly") < 5


def test_a_waiting_step_holds_back_only_the_budget_it_lacks() -> None:
    log = Log()
    chains = []
    for k in range(10):
        chain = log.step(f"c{k}_0", 1).on("A")
        for n in range(1, 10):
            chain = chain >> log.step(f"c{k}_{n}", 1).on("A")
        chains.append(chain)
    # "both" waits 100 s for B; holding A for it too would stall the chains for nothing.
    both = log.step("wait", 0.5) >> log.step("both", 1).on("A").on("B")
    g = gather([log.step("long", 100).on("B"), both, *chains])
    limits = Limits(resources={"A": 5, "B": 1})
    assert isinstance(vrun_graph(g, policy="fifo", limits=limits), Success)
    assert log.at("both") == 100
    assert max(t for name, t in log.starts if name.startswith("c")) < 25


def test_only_steps_needing_a_waiting_step_s_budget_count_as_overtaking_it() -> None:
    log = Log()
    chains = []
    for k in range(10):
        chain = log.step(f"a{k}_0", 1).on("A")
        for n in range(1, 6):
            chain = chain >> log.step(f"a{k}_{n}", 1).on("A")
        chains.append(log.step(f"off{k}", 1) >> chain)
    waiting = log.step("wpre", 0.5) >> log.step("W", 1).on("B", 2)
    later = log.step("ypre", 5) >> log.step("y", 1).on("B", 1)
    g = gather([log.step("x", 100).on("B", 1), waiting, later, *chains])
    vrun_graph(g, policy="fifo", limits=Limits(resources={"A": 100, "B": 2}))
    assert log.at("y") == 5  # the A-only chains did not make W hold B back


def test_a_waiting_step_is_overtaken_at_most_8_times() -> None:
    log = Log()

    def chain(k: int, offset: float) -> Graph[int, int, Any]:
        steps = log.step(f"off{k}", offset)
        for n in range(20):
            steps = steps >> log.step(f"c{k}_{n}", 1).on("B", 1)
        return steps

    waiting = log.step("wpre", 0.5) >> log.step("W", 1).on("B", 2)
    g = gather([chain(0, 0), chain(1, 0.25), waiting])
    vrun_graph(g, policy="fifo", limits=Limits(resources={"B": 2}))
    assert log.at("W") == 5.25  # README: after 8 overtakes its budget is held for it


def test_float_costs_given_back_in_another_order_still_fill_the_budget() -> None:
    log = Log()
    small = [log.step("a", 3).on("r", 0.1), log.step("b", 1).on("r", 0.2)]
    g = gather([*small, log.step("c", 2).on("r", 0.3), log.step("pre", 4) >> log.step("full", 1)])
    full = gather([g, log.step("pre2", 4) >> log.step("whole", 1).on("r", 1.0)])

    async def main() -> Result[Any, RunFailure[Any]]:
        with trio.fail_after(100):  # 0.1 + 0.2 + 0.3 given back as 0.9999999999999999
            return await run(full, 0, policy="fifo", limits=Limits(resources={"r": 1.0}))

    assert isinstance(trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)), Success)
    assert log.at("whole") == 4


def test_a_budget_drifted_by_float_costs_is_recounted_while_steps_still_hold_it() -> None:
    log = Log()
    g = gather(
        [
            log.step("a", 10).on("r", 0.3),
            log.step("b", 10).on("r", 0.2),
            log.step("pre", 1) >> log.step("c", 1).on("r", 0.5),  # 1 - 0.3 - 0.2 < 0.5
        ]
    )
    vrun_graph(g, policy="fifo", limits=Limits(resources={"r": 1.0}))
    assert log.at("c") == 1


def test_a_tiny_cost_never_squeezes_into_a_full_large_budget() -> None:
    log = Log()
    g = gather([log.step("big", 1).on("tokens", 1e10), log.step("small", 1).on("tokens", 5)])
    assert isinstance(vrun_graph(g, limits=Limits(resources={"tokens": 1e10})), Success)
    assert sorted(t for _, t in log.starts) == [0, 1]


# --- loops under limits -------------------------------------------------------


def test_a_loop_body_step_costing_more_than_its_budget_is_an_error_naming_it() -> None:
    body = Log().step("costly", 1).on("r", 5)
    g = loop(body, until=lambda s: True, max_steps=2).named("L")
    with pytest.raises(InvalidArgument, match="costly"):
        vrun_graph(g, limits=Limits(resources={"r": 1}))


def test_a_loop_timing_out_under_waves_and_a_budget_never_starts_into_its_closed_run() -> None:
    def timed_out_loop() -> Graph[int, tuple[int, ...], Any]:
        log = Log()
        inner = loop(log.step("B", 1).on("r"), until=lambda s: True, max_steps=1).named("L")
        return gather(
            [
                log.step("H", 1).on("r") >> log.step("H2", 1).on("r"),
                inner.timeout(1).recover(-1),
                log.step("X", 1) >> log.step("Y", 1).on("r"),
            ]
        )

    for _ in range(20):  # the race depended on trio's random task order
        result = vrun_graph(timed_out_loop(), policy="waves", limits=Limits(resources={"r": 1}))
        assert isinstance(result, Success)


def test_a_step_after_a_nested_loop_waits_for_a_slot_the_rest_of_the_run_holds() -> None:
    log = Log()
    nested = loop(log.step("Y", 1), until=lambda s: True, max_steps=1).named("M")
    body = loop(nested >> log.step("X", 1), until=lambda s: True, max_steps=1).named("L")
    g = gather([log.step("long", 10) >> log.step("long2", 10), body])
    # X is queued when M ends, while long2 holds the only slot: its run must wait for it.
    result = vrun_graph(g, policy="fifo", limits=Limits(concurrency=1))
    assert result == Success((2, 2))
    assert log.at("X") == 21


def test_a_lane_whose_keep_open_ended_gets_a_new_one() -> None:
    log = Log()
    nested = loop(log.step("Y", 1).on("r"), until=lambda s: True, max_steps=1).named("M")
    steps = log.step("pre", 1).on("r") >> nested >> log.step("X", 1).on("r")
    body = loop(steps, until=lambda s: True, max_steps=1).named("L")
    first = log.step("w", 0.5) >> log.step("long", 10).on("r") >> log.step("long2", 10).on("r")
    result = vrun_graph(gather([first, body]), policy="fifo", limits=Limits(resources={"r": 1}))
    assert result == Success((3, 3))
    assert log.at("X") == 22


def test_a_loop_s_resource_is_taken_by_each_step_of_its_body() -> None:
    log = Log()
    refine = loop(log.step("B", 1), until=lambda s: s >= 3, max_steps=5).named("L")
    g = gather([log.step("other", 5).on("gpu"), refine.on("gpu")])
    assert vrun_graph(g, limits=Limits(resources={"gpu": 1})) == Success((1, 3))
    assert [t for name, t in log.starts if name == "B"] == [5, 6, 7]  # after "other"
    with pytest.raises(InvalidArgument, match="needs 2 of 'gpu'"):
        vrun_graph(refine.on("gpu", 2), limits=Limits(resources={"gpu": 1}))


def test_a_loop_is_not_charged_its_composite_cost_only_its_body_steps_are() -> None:
    log = Log()
    body = log.step("B", 1).on("gpu", 1)
    g = loop(body, until=lambda s: True, max_steps=1).named("L").on("gpu", 5)
    assert vrun_graph(g, limits=Limits(resources={"gpu": 2})) == Success(1)


def test_a_timed_out_loop_starts_nothing_more_and_its_cut_short_steps_are_skipped() -> None:
    calls: list[tuple[str, float]] = []
    events: list[tuple[str, str, float]] = []

    async def cleanup_slowly(x: int) -> int:  # cancelled at 1 s, cleans up until 3 s
        try:
            await trio.sleep(10)
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(2)
        return x

    def queued(x: int) -> int:
        calls.append(("queued", trio.current_time()))
        return x

    def total(a: int, b: int) -> int:
        return a + b

    body = (node(cleanup_slowly).named("A") & node(queued).named("B").on("r")).join(total)
    timed = loop(body, until=lambda s: True, max_steps=1).named("L").timeout(1).recover(-1)
    g = gather([Log().step("hog", 2).on("r"), timed])
    result = vrun_graph(
        g,
        limits=Limits(resources={"r": 1}),
        on_event=lambda e: events.append((e.kind, e.step, e.at)),
    )
    assert result == Success((1, -1))
    assert calls == []  # B was queued behind "hog" when the loop timed out
    ends = {(kind, step) for kind, step, _ in events if kind != "start"}
    assert ("skip", "L/A#1") in ends and ("skip", "L/B#1") in ends
    assert ("finish", "L/B#1") not in ends


def test_fail_fast_starts_no_queued_step_of_a_loop_body() -> None:
    calls: list[str] = []

    async def boom(x: int) -> int:
        await trio.sleep(1)
        raise ValueError("boom")

    def b(x: int) -> int:
        calls.append("B")
        return x

    async def c(x: int) -> int:
        calls.append("C")
        return x

    body = node(b).named("B").on("r") >> node(c).named("C")
    g = gather([node(boom).named("X"), loop(body, until=lambda s: True, max_steps=1).named("L")])
    limits = Limits(concurrency=1, resources={"r": 1})
    assert isinstance(vrun_graph(g, limits=limits, fail_fast=True), Failure)
    assert calls == []
