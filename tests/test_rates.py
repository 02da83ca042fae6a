"""Rate limits: ``Limits(rates={name: Rate(count, per)})`` and steps declared ``.on(name, cost)``.

Steps run in virtual time (trio's MockClock, autojump), record when they start,
and the laws of a token bucket that starts empty are checked against the record:
from the run's start to any time ``t`` at most ``count * t / per`` is admitted,
no window of ``per`` seconds admits more than ``2 * count``, no time is lost
while steps wait (the last start is at ``total cost / rate``), and steps that
do not need the rate are never delayed by those that wait for it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing
from _support import vrun_graph
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Success

from dagfn import Graph, InvalidArgument, Limits, Rate, gather, loop, node

EPS = 1e-6


class Log:
    """Async step bodies that record (name, cost, start time)."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, float, float]] = []

    def step(self, name: str, seconds: float = 0.0, cost: float = 0.0) -> Graph[int, int, Any]:
        async def body(x: int) -> int:
            self.starts.append((name, cost, trio.current_time()))
            await trio.sleep(seconds)
            return x + 1

        g = node(body).named(name)
        return g.on("tokens", cost) if cost else g

    def at(self, name: str) -> float:
        return next(t for n, _, t in self.starts if n == name)


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((0, 1.0), "count=0"),
        ((-5, 1.0), "count=-5"),
        (("many", 1.0), "count='many'"),
        ((True, 1.0), "count=True"),
        ((math.inf, 1.0), "count=inf"),
        ((10, 0), "per=0"),
        ((10, -1.0), "per=-1.0"),
        ((10, math.nan), "per=nan"),
        ((10, "60s"), "per='60s'"),
    ],
)
def test_a_rate_without_a_positive_finite_count_and_period_is_an_error_naming_the_argument(
    args: tuple[Any, Any], named: str
) -> None:
    with pytest.raises(InvalidArgument, match=named):
        Rate(*args)


def test_limits_rates_must_map_names_to_rates() -> None:
    with pytest.raises(InvalidArgument, match=r"rates\['tokens'\]=90000"):
        Limits(rates={"tokens": 90_000})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgument, match="rates key"):
        Limits(rates={"": Rate(1, per=1.0)})
    with pytest.raises(InvalidArgument, match="rates="):
        Limits(rates=[Rate(1, per=1.0)])  # type: ignore[arg-type]


def test_a_cost_above_the_bucket_is_an_error_before_the_run_naming_the_step_and_rate() -> None:
    log = Log()
    g = log.step("ok", cost=10) >> log.step("huge", cost=11)
    with pytest.raises(
        InvalidArgument, match=r"step 'huge' needs 11 of 'tokens'.*rates\['tokens'\]"
    ):
        vrun_graph(g, limits=Limits(rates={"tokens": Rate(10, per=1.0)}))
    assert log.starts == []  # nothing ran
    body = loop(log.step("inner", cost=11), until=lambda s: True, max_steps=2).named("L")
    with pytest.raises(InvalidArgument, match="inner"):
        vrun_graph(body, limits=Limits(rates={"tokens": Rate(10, per=1.0)}))


# --- the laws of the bucket -------------------------------------------------------


RATES = st.builds(
    Rate,
    st.sampled_from([1, 3, 10, 100.5, 90_000]),
    per=st.sampled_from([0.5, 1.0, 60.0]),
)


@st.composite
def rated_runs(draw: st.DrawFn) -> tuple[Rate, list[float], str]:
    rate = draw(RATES)
    fractions = st.sampled_from([0.01, 0.1, 0.25, 1 / 3, 0.5, 1.0])
    costs = draw(st.lists(fractions.map(lambda f: f * rate.count), min_size=1, max_size=25))
    return rate, costs, draw(st.sampled_from(["critical_path", "fifo"]))


@given(rated_runs())
def test_admitted_cost_never_outruns_the_rate_and_no_time_is_lost(
    case: tuple[Rate, list[float], str],
) -> None:
    rate, costs, policy = case
    log = Log()
    g = gather([log.step(f"s{k}", cost=c) for k, c in enumerate(costs)])
    result = vrun_graph(g, policy=policy, limits=Limits(rates={"tokens": rate}))
    assert result == Success((1,) * len(costs))
    starts = sorted((t, c) for _, c, t in log.starts)
    slack = rate.count * 1e-6
    admitted = 0.0
    for t, c in starts:  # from the start (an empty bucket) to t: at most rate * t
        admitted += c
        assert admitted <= rate.per_second * t + slack
    for t0, _ in starts:  # any window of `per` seconds: at most twice the bucket
        window = sum(c for t, c in starts if t0 <= t < t0 + rate.per)
        assert window <= 2 * rate.count + slack
    # Every step was ready at 0 and the bucket never sat full: no time is lost.
    assert starts[-1][0] == pytest.approx(sum(costs) / rate.per_second, rel=1e-9, abs=EPS)


@given(rated_runs())
def test_rated_runs_are_deterministic_under_the_mock_clock(
    case: tuple[Rate, list[float], str],
) -> None:
    rate, costs, policy = case

    def once() -> list[tuple[str, float, float]]:
        log = Log()
        g = gather([log.step(f"s{k}", cost=c) for k, c in enumerate(costs)])
        vrun_graph(g, policy=policy, limits=Limits(rates={"tokens": rate}))
        return sorted(log.starts)

    assert once() == once()


@given(rated_runs(), st.integers(1, 4), st.sampled_from([None, 1, 3]))
def test_steps_that_need_no_rate_are_never_delayed_by_steps_waiting_for_it(
    case: tuple[Rate, list[float], str], free: int, concurrency: int | None
) -> None:
    rate, costs, policy = case
    log = Log()
    rated = [log.step(f"s{k}", cost=c) for k, c in enumerate(costs)]
    # Free steps take a slot (async) and a budget of their own, ready at once and later.
    frees = [log.step(f"f{k}", 0.0).on("llm", 1) >> log.step(f"g{k}", 0.0) for k in range(free)]
    limits = Limits(concurrency=concurrency, resources={"llm": 1}, rates={"tokens": rate})
    result = vrun_graph(gather([*rated, *frees]), policy=policy, limits=limits)
    assert isinstance(result, Success)
    assert all(log.at(f"f{k}") == 0 and log.at(f"g{k}") == 0 for k in range(free))


def test_a_name_with_a_budget_and_a_rate_obeys_both() -> None:
    log = Log()
    g = gather([log.step(f"s{k}", 10.0, cost=1) for k in range(6)])
    limits = Limits(resources={"tokens": 2}, rates={"tokens": Rate(4, per=1.0)})
    assert vrun_graph(g, limits=limits) == Success((1,) * 6)
    # The rate alone would start them at 0.25 s apart; the budget holds two at a time.
    assert sorted(t for _, _, t in log.starts) == [0.25, 0.5, 10.25, 10.5, 20.25, 20.5]


def test_a_costly_step_is_not_starved_by_a_stream_of_cheap_ones() -> None:
    log = Log()
    cheap = [log.step(f"c{k}", cost=1) for k in range(40)]
    g = gather([log.step("big", cost=10), *cheap])
    # fifo: "big" arrives first but cheap ones fit sooner; it is overtaken only so often.
    assert isinstance(
        vrun_graph(g, policy="fifo", limits=Limits(rates={"tokens": Rate(10, per=1.0)})), Success
    )
    before = [n for n, _, t in log.starts if t < log.at("big")]
    assert len(before) <= 8


def test_loop_iterations_draw_from_the_run_s_one_bucket() -> None:
    log = Log()
    body = log.step("B", cost=5)
    g = gather([loop(body, until=lambda s: s >= 3, max_steps=5).named("L"), log.step("X", cost=5)])
    assert vrun_graph(g, limits=Limits(rates={"tokens": Rate(10, per=1.0)})) == Success((3, 1))
    assert sorted(t for _, _, t in log.starts) == [0.5, 1.0, 1.5, 2.0]


def test_a_step_with_a_cost_for_a_name_without_limits_is_not_held() -> None:
    log = Log()
    g = gather([log.step("a", cost=1e9), log.step("b", cost=1)])
    assert vrun_graph(g, limits=Limits(rates={"other": Rate(1, per=1.0)})) == Success((1, 1))
    assert [t for _, _, t in log.starts] == [0, 0]
