"""The benchmark workloads have the shapes of BENCHMARKS.md, and the trio floor engine is right."""

from __future__ import annotations

import doctest
import itertools
import sys
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _timing
import trio_engine
import workloads
from trio_engine import BodyKind, prepare, run_trio_engine
from workloads import (
    Dag,
    chain,
    critical_path,
    fanout,
    lattice,
    lower_bound,
    makespan,
    reference_values,
    strong_lower_bound,
)


def _is_topological(dag: Dag) -> bool:
    return all(
        all(0 <= j < i for j in ds) and list(ds) == sorted(set(ds)) for i, ds in enumerate(dag.deps)
    )


def test_chain_is_2000_steps_each_on_its_predecessor() -> None:
    dag = chain()
    assert len(dag) == 2000
    assert dag.deps[0] == ()
    assert all(dag.deps[i] == (i - 1,) for i in range(1, 2000))
    assert dag.durations is None


def test_fanout_is_source_then_n_independent_steps_then_one_sink() -> None:
    dag = fanout()
    assert len(dag) == 1002
    assert dag.roots == (0,)
    assert all(dag.deps[i] == (0,) for i in range(1, 1001))
    assert dag.deps[1001] == tuple(range(1, 1001))
    assert dag.sinks == (1001,)


def test_lattice_steps_join_3_distinct_steps_of_the_previous_layer() -> None:
    dag = lattice()
    assert len(dag) == 20 * 50
    assert dag.roots == tuple(range(50))
    for i in range(50, 1000):
        layer = i // 50
        ds = dag.deps[i]
        assert len(set(ds)) == 3
        assert all((layer - 1) * 50 <= j < layer * 50 for j in ds)


def test_lattice_is_drawn_with_the_seed() -> None:
    assert lattice() == lattice(seed=0)
    assert lattice() != lattice(seed=1)


def test_makespan_steps_join_1_to_3_of_the_previous_20_and_sleep_1_to_20_ms() -> None:
    dag = makespan()
    assert len(dag) == 200
    assert dag.roots == (0,)
    for i in range(1, 200):
        assert 1 <= len(dag.deps[i]) <= 3
        assert all(i - 20 <= j < i for j in dag.deps[i])
    assert dag.durations is not None
    assert all(0.001 <= d <= 0.020 for d in dag.durations)
    assert makespan() == makespan(seed=1)


def test_every_workload_is_in_topological_order() -> None:
    assert all(_is_topological(dag) for dag in workloads.standard())


def test_reference_values_follow_sum_of_inputs_plus_one() -> None:
    assert reference_values(chain())[-1] == 2000
    assert reference_values(fanout(1000))[-1] == 2 * 1000 + 1
    dag = lattice()
    values = reference_values(dag)
    assert values[:50] == (1,) * 50
    assert all(values[i] == sum(values[j] for j in dag.deps[i]) + 1 for i in range(50, 1000))


def test_critical_path_is_the_longest_sum_of_durations() -> None:
    diamond = Dag("diamond", ((), (0,), (0,), (1, 2)), (1.0, 5.0, 2.0, 1.0))
    assert critical_path(diamond) == 7.0
    assert lower_bound(diamond, 1) == 9.0
    assert lower_bound(diamond, 4) == 7.0
    dag = makespan()
    assert dag.durations is not None
    assert max(dag.durations) <= critical_path(dag) <= sum(dag.durations)


def test_critical_path_without_durations_names_the_dag() -> None:
    with pytest.raises(ValueError, match="dag='chain' with durations=None"):
        critical_path(chain())


def test_lower_bound_rejects_no_workers() -> None:
    with pytest.raises(ValueError, match="k=0"):
        lower_bound(makespan(), 0)


def _optimum(dag: Dag, k: int) -> float:
    """The least makespan with `k` workers of a DAG with whole-number durations, by exhaustion.

    Placing the steps one by one, each at the earliest whole time its inputs are
    done and a worker is free for its whole duration (the serial schedule
    generation scheme), over every topological order, yields every active
    schedule, and some active schedule is optimal.
    """
    durations = [round(d) for d in dag.durations or ()]
    best = float(sum(durations))
    for order in itertools.permutations(range(len(dag))):
        position = {step: place for place, step in enumerate(order)}
        if any(position[j] > position[i] for i, ds in enumerate(dag.deps) for j in ds):
            continue
        busy = [0] * (sum(durations) + 1)
        finish = [0] * len(dag)
        for step in order:
            start = max((finish[j] for j in dag.deps[step]), default=0)
            while any(busy[t] >= k for t in range(start, start + durations[step])):
                start += 1
            for t in range(start, start + durations[step]):
                busy[t] += 1
            finish[step] = start + durations[step]
        best = min(best, float(max(finish, default=0)))
    return best


@st.composite
def _small_dags(draw: st.DrawFn) -> Dag:
    n = draw(st.integers(1, 6))
    earlier = [
        st.sets(st.integers(0, i - 1), max_size=3) if i else st.just(set[int]()) for i in range(n)
    ]
    deps = tuple(tuple(sorted(draw(choices))) for choices in earlier)
    durations = tuple(float(draw(st.integers(1, 4))) for _ in range(n))
    return Dag("small", deps, durations)


@settings(max_examples=150, deadline=None)
@given(dag=_small_dags(), k=st.integers(1, 3))
def test_strong_lower_bound_is_a_bound_and_at_least_the_loose_one(dag: Dag, k: int) -> None:
    strong = strong_lower_bound(dag, k)
    assert lower_bound(dag, k) - 1e-9 <= strong <= _optimum(dag, k) + 1e-9


def test_strong_lower_bound_sees_a_start_that_cannot_use_every_worker() -> None:
    # 0 -> 1 -> {2, 3, 4, 5}, one unit each, 2 workers: the loose bound is 3, the optimum 4.
    dag = Dag("opening", ((), (0,), (1,), (1,), (1,), (1,)), (1.0,) * 6)
    assert lower_bound(dag, 2) == 3.0
    assert strong_lower_bound(dag, 2) == _optimum(dag, 2) == 4.0


@pytest.mark.parametrize(
    ("dag", "body"),
    [
        (chain(), "async"),
        (chain(), "sync"),
        (fanout(), "async"),
        (lattice(), "async"),
        (makespan().scaled(0), "sleep"),
    ],
    ids=["chain", "sync", "fanout", "lattice", "makespan"],
)
def test_trio_engine_computes_the_reference_values(dag: Dag, body: BodyKind) -> None:
    assert trio.run(run_trio_engine, prepare(dag), body) == reference_values(dag)


def test_trio_engine_respects_a_concurrency_limit() -> None:
    dag = makespan(40).scaled(0.01)
    running = 0
    peak = 0
    real_sleep = trio.sleep

    async def counting_sleep(seconds: float) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await real_sleep(seconds)
        running -= 1

    async def main() -> tuple[int, ...]:
        return await run_trio_engine(prepare(dag), "sleep", concurrency=2)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trio, "sleep", counting_sleep)
        assert trio.run(main) == reference_values(dag)
    assert peak == 2


def test_the_modules_doctests_pass() -> None:
    for module in (workloads, trio_engine, _timing):
        failed, _ = doctest.testmod(module)
        assert failed == 0, module.__name__


def test_median_time_times_each_run() -> None:
    async def nothing() -> None:
        await trio.lowlevel.checkpoint()

    assert 0 <= _timing.median_time(nothing, repeats=3) < 0.1
    assert 0 <= _timing.median_time_sync(lambda: None, repeats=3) < 0.1
