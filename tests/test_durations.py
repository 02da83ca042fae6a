"""Duration summaries: one per plan in every store, kept up to date as runs finish.

`critical_path` under `Limits` weighs its ranks by the seconds steps took in
earlier runs of the same plan; it reads them as one summary per plan
(`Store.durations`), never by reading every run in the store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from _stores import Opener
from _support import vrun_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from dagfn import InvalidArgument, Limits, gather, node
from dagfn._plan import plan_of
from dagfn._storage import DURATION_RUNS, RunInfo, fold_duration
from dagfn.store import MemoryStore, SqliteStore


def folded(samples: list[float]) -> float:
    mean, runs = 0.0, 0
    for seconds in samples:
        mean, runs = fold_duration(mean, runs, seconds)
    return mean


def test_the_summary_is_the_mean_of_the_first_runs_then_weighs_the_latest_more() -> None:
    assert folded([3.0]) == 3.0
    assert folded([1.0, 4.0]) == 2.5
    assert folded([1.0, 4.0, 7.0]) == 4.0
    assert DURATION_RUNS == 3
    assert folded([1.0, 4.0, 7.0, 10.0]) == 6.0  # 4 + (10 - 4) / 3


def test_every_store_keeps_one_summary_per_plan_across_store_objects(open_store: Opener) -> None:
    store = open_store()
    store.add_durations("plan-a", {"x": 1.0, "y": 2.0})
    store.add_durations("plan-a", {"x": 4.0})
    store.add_durations("plan-b", {"x": 100.0})
    store.flush()
    again = open_store()  # a new store object on the same data, as a new process
    assert again.durations("plan-a") == {"x": 2.5, "y": 2.0}
    assert again.durations("plan-b") == {"x": 100.0}
    assert again.durations("plan-c") == {}


def test_a_summary_added_is_seen_by_the_next_read_without_flush(open_store: Opener) -> None:
    store = open_store()
    store.add_durations("p", {"a/b[3]": 0.5})
    assert store.durations("p") == {"a/b[3]": 0.5}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=8))
def test_the_stores_fold_a_path_s_samples_like_fold_duration(samples: list[float]) -> None:
    store = MemoryStore()
    for seconds in samples:
        store.add_durations("p", {"s": seconds})
    assert store.durations("p")["s"] == pytest.approx(folded(samples), rel=1e-12, abs=1e-12)


def test_sqlite_and_redis_fold_like_fold_duration(open_store: Opener) -> None:
    store = open_store()
    samples = [0.25, 3.0, 1e-9, 12.5, 0.0, 7.75]
    for seconds in samples:
        store.add_durations("p", {"s": seconds})
    assert store.durations("p")["s"] == pytest.approx(folded(samples), rel=1e-12)


@pytest.mark.parametrize(
    "bad", [{"a": -1.0}, {"a": float("nan")}, {"a": float("inf")}, {"a": "1"}, {1: 1.0}, [1.0]]
)
def test_bad_durations_are_refused_naming_the_argument(open_store: Opener, bad: Any) -> None:
    store = open_store()
    with pytest.raises(InvalidArgument, match="seconds="):
        store.add_durations("p", bad)
    with pytest.raises(InvalidArgument, match="fingerprint="):
        store.durations(5)  # type: ignore[arg-type]


class CountingStore(MemoryStore):
    """A MemoryStore that counts the reads that grow with the number of runs."""

    def __init__(self) -> None:
        super().__init__()
        self.listed = 0
        self.read: list[str] = []

    def list_runs(self) -> list[RunInfo]:
        self.listed += 1
        return super().list_runs()

    def entries(self, run_id: str) -> dict[str, Any]:
        self.read.append(run_id)
        return super().entries(run_id)


def slow_and_fast() -> Any:
    async def heavy(x: int) -> int:
        await trio.sleep(10)
        return x

    async def light(x: int) -> int:
        await trio.sleep(1)
        return x

    long = node(light).named("l1") >> node(light).named("l2") >> node(light).named("l3")
    return gather([long, node(heavy).named("heavy")])


def test_critical_path_reads_one_summary_not_the_runs_in_the_store() -> None:
    g = slow_and_fast()
    store = CountingStore()
    limits = Limits(concurrency=1)
    for k in range(5):
        assert vrun_graph(g, limits=limits, store=store, run_id=f"r{k}") == Success((0, 0))
    assert store.listed == 0
    assert all(run_id == f"r{k}" for k, run_id in enumerate(store.read))  # its own run only
    summary = store.durations(plan_of(g).fingerprint)
    assert summary == {"l1": 1.0, "l2": 1.0, "l3": 1.0, "heavy": 10.0}


def test_a_failed_run_leaves_the_summary_as_it_was() -> None:
    fail = [False]

    async def step(x: int) -> int:
        await trio.sleep(5 if fail[0] else 1)
        if fail[0]:
            raise ValueError("down")
        return x

    g = node(step).named("s")
    store = MemoryStore()
    assert vrun_graph(g, limits=Limits(concurrency=1), store=store, run_id="ok") == Success(0)
    fail[0] = True
    assert isinstance(vrun_graph(g, limits=Limits(concurrency=1), store=store), Failure)
    assert store.durations(plan_of(g).fingerprint) == {"s": 1.0}


def test_a_sqlite_file_written_before_summaries_existed_gets_its_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE durations")
    with SqliteStore(path) as store:
        assert store.durations("p") == {}
        store.add_durations("p", {"s": 2.0})
        assert store.durations("p") == {"s": 2.0}
