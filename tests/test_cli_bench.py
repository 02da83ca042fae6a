"""``dagfn bench``: the scheduler comparison on built-in workloads and on a user's graph."""

from __future__ import annotations

import io
import sys
import uuid
from pathlib import Path

import pytest

from dagfn import _benchmark
from dagfn.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import workloads


def _bench(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["bench", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def _rows(table: str) -> list[list[str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_builtin_workloads_get_one_row_per_policy_with_the_best_at_ratio_one() -> None:
    code, out, _ = _bench("--virtual", "--repeats", "1")
    assert code == 0
    rows = _rows(out)
    assert [(r[0], r[1]) for r in rows] == [
        (w, p) for w in ("makespan", "layered") for p in ("critical_path", "fifo", "waves")
    ]
    for workload in ("makespan", "layered"):
        ratios = [float(r[3]) for r in rows if r[0] == workload]
        assert min(ratios) == 1.0
        bounds = [float(r[4]) for r in rows if r[0] == workload]
        assert min(bounds) >= 1.0  # no schedule beats the lower bound


def test_in_virtual_time_waves_lose_to_dataflow_on_the_makespan_workload() -> None:
    # Not exactly repeatable even in virtual time: trio shuffles the order in
    # which tasks woken together run, and that changes which ready step goes first.
    out = _bench("--virtual", "--workload", "makespan", "--repeats", "1")[1]
    ms = {r[1]: float(r[2]) for r in _rows(out)}
    assert ms["critical_path"] < ms["waves"]
    assert ms["fifo"] < ms["waves"]


def test_concurrency_is_reported_and_changes_the_makespan() -> None:
    one = _bench("--virtual", "--workload", "layered", "--concurrency", "1", "--repeats", "1")
    assert "Limits(concurrency=1)" in one[1]
    eight = _bench("--virtual", "--workload", "layered", "--concurrency", "8", "--repeats", "1")
    serial = {r[1]: float(r[2]) for r in _rows(one[1])}
    wide = {r[1]: float(r[2]) for r in _rows(eight[1])}
    total_ms = sum(_benchmark.layered_dag().durations) * 1000
    assert serial["critical_path"] == pytest.approx(total_ms)
    assert wide["critical_path"] < serial["critical_path"]


def test_real_time_with_tiny_durations() -> None:
    code, out, _ = _bench("--workload", "makespan", "--scale", "0.01", "--repeats", "1")
    assert code == 0
    assert "virtual" not in out
    assert all(float(r[2]) > 0 for r in _rows(out))


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module in the current directory with a working graph and a failing one."""
    name = f"userbench_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "import attrs, trio\n"
        "from dagfn import node\n"
        "@attrs.frozen\n"
        "class Order:\n"
        "    items: int\n"
        "@node\n"
        "async def pack(o: Order) -> int:\n"
        "    await trio.sleep(0.001)\n"
        "    return o.items\n"
        "@node\n"
        "async def ship(n: int) -> str:\n"
        "    await trio.sleep(0.001)\n"
        "    return f'{n} items'\n"
        "@node\n"
        "def refuse(n: int) -> str:\n"
        "    raise RuntimeError('closed')\n"
        "pipeline = pack >> ship\n"
        "broken = pack >> refuse\n"
    )
    monkeypatch.chdir(tmp_path)
    return name


def test_a_users_graph_given_as_module_graph_with_its_input(user_module: str) -> None:
    code, out, _ = _bench(f"{user_module}:pipeline", "--input", '{"items": 3}', "--virtual")
    assert code == 0
    rows = _rows(out)
    assert [r[1] for r in rows] == ["critical_path", "fifo", "waves"]
    assert all(r[0] == f"{user_module}:pipeline" for r in rows)
    assert all(float(r[2]) == pytest.approx(2.0) for r in rows)  # two 1 ms steps in sequence
    assert all(r[4] == "-" for r in rows)  # no known bound for a user's graph


def test_a_failing_user_graph_is_reported_per_policy_with_exit_1(user_module: str) -> None:
    code, out, _ = _bench(f"{user_module}:broken", "--input", '{"items": 3}', "--virtual")
    assert code == 1
    assert all("RunFailure" in r[5] for r in _rows(out))


def test_a_users_graph_needs_an_input_that_fits(user_module: str) -> None:
    code, _, err = _bench(f"{user_module}:pipeline")
    assert code == 2
    assert "--input JSON is required" in err
    code, _, err = _bench(f"{user_module}:pipeline", "--input", '{"items": "many"}')
    assert code == 2
    assert "does not fit the graph's input type" in err


def test_bad_concurrency_is_a_usage_error() -> None:
    code, _, err = _bench("--concurrency", "0")
    assert code == 2
    assert "--concurrency must be >= 1" in err


def test_the_builtin_makespan_workload_is_the_benchmarks_one() -> None:
    ours = _benchmark.random_dag()
    theirs = workloads.makespan()
    assert ours.deps == theirs.deps
    assert ours.durations == theirs.durations
    assert ours.critical_path() == workloads.critical_path(theirs)
    assert ours.lower_bound(4) == workloads.lower_bound(theirs, 4)


def test_generators_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="Expected an int >= 1 but got steps=0"):
        _benchmark.random_dag(0)
    with pytest.raises(ValueError, match="Expected one of 'makespan', 'layered'"):
        _benchmark.workloads(["chain"])
