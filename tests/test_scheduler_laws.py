"""Scheduling laws over random DAGs (hypothesis, virtual time).

Time is trio's `MockClock` with autojump, so sleeps cost nothing and start
times are exact: a step must start at the very instant its last input
finished (no waves, no supersteps).
"""

from __future__ import annotations

from typing import Any

import pytest
from _support import vrun
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from dagfn import RunFailure
from dagfn.testing import DagSpec, InjectedFailure, Recorder, build_graph, dag_specs


def _run(spec: DagSpec, *, fail_fast: bool = False) -> tuple[Any, Recorder]:
    recorder = Recorder()
    graph = build_graph(spec, recorder)
    result = vrun(graph, 0, fail_fast=fail_fast)
    return result, recorder


@given(dag_specs())
def test_every_step_runs_exactly_once_and_results_match_sequential_evaluation(
    spec: DagSpec,
) -> None:
    result, recorder = _run(spec)
    assert recorder.calls == dict.fromkeys(range(len(spec)), 1)
    expected = spec.expected_values()
    assert result == Success(tuple(expected[i] for i in spec.sinks))


@given(dag_specs())
def test_a_step_starts_the_instant_its_last_input_finished(spec: DagSpec) -> None:
    _, recorder = _run(spec)
    for i, ds in enumerate(spec.deps):
        ready = max((recorder.ends[d] for d in ds), default=0.0)
        assert recorder.starts[i] == pytest.approx(ready, abs=1e-9), f"step s{i}"
        assert all(recorder.ends[d] <= recorder.starts[i] for d in ds)


@given(dag_specs(failures=True))
def test_a_failure_skips_exactly_its_dependents(spec: DagSpec) -> None:
    result, recorder = _run(spec)
    expected = spec.expected_values()
    ran = set(recorder.calls)
    # Steps run exactly when all their ancestors succeeded (failing steps do run, then fail).
    should_run = {i for i, ds in enumerate(spec.deps) if all(expected[d] is not None for d in ds)}
    assert ran == should_run
    assert all(n == 1 for n in recorder.calls.values())
    failed = sorted(i for i in should_run if i in spec.failing)
    if not failed:
        assert isinstance(result, Success)
        return
    assert isinstance(result, Failure)
    failure: RunFailure[Any] = result.failure()
    assert sorted(int(f.step[1:]) for f in failure.failures) == failed
    for f in failure.failures:
        i = int(f.step[1:])
        assert isinstance(f.error, InjectedFailure)
        assert f.error.step == i
        assert set(f.not_run) == {f"s{d}" for d in spec.descendants(i)}
    completed = {i for i in should_run if i not in spec.failing}
    assert set(failure.completed) == {f"s{i}" for i in completed}


@given(dag_specs(failures=True, durations=st.sampled_from([0.001, 0.003])))
def test_fail_fast_cancels_running_steps_and_starts_nothing_after_the_failure(
    spec: DagSpec,
) -> None:
    result, recorder = _run(spec, fail_fast=True)
    expected = spec.expected_values()
    failing_ran = [i for i in spec.failing if i in recorder.calls]
    if not failing_ran:
        assert result == Success(tuple(expected[i] for i in spec.sinks))
        return
    assert isinstance(result, Failure)
    failure: RunFailure[Any] = result.failure()
    failed = {int(f.step[1:]) for f in failure.failures}
    first = min(recorder.order.index(("end", i)) for i in failed)
    # Nothing starts after the first failure, and nothing that was cut short is "completed".
    assert [e for e in recorder.order[first:] if e[0] == "start"] == []
    for path in failure.completed:
        assert int(path[1:]) in recorder.ends
    assert all(n == 1 for n in recorder.calls.values())
