"""The shared helpers: one argument check, one converter rule, one annotation reading."""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
import trio
from returns.result import Result

import dagfn
from dagfn import InvalidArgument, Limits, RetryPolicy, _benchmark, _workloads, loop, node
from dagfn._annotations import awaited, produced
from dagfn._checks import in_range, non_negative, positive, positive_int
from dagfn._convert import make_converter
from dagfn.executors import Processes, Threads
from dagfn.store import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import workloads


def _identity(x: int) -> int:
    return x


async def _compare_once(repeats: object) -> None:
    await _benchmark.compare({}, repeats=repeats)  # type: ignore[arg-type]


# Every call site of positive_int, each given True: a bool is never a count.
POSITIVE_INT_SITES: list[tuple[str, Callable[[], object]]] = [
    ("attempts", lambda: RetryPolicy.checked(True, 0.1, 2.0, 10.0, True, (Exception,))),
    ("concurrency", lambda: Limits(concurrency=True)),
    ("failures", lambda: dagfn.Breaker("b", failures=True)),
    ("retry", lambda: node(_identity, retry=True)),
    ("max_steps", lambda: loop(node(_identity), until=bool, max_steps=True)),
    ("limit", lambda: Threads(limit=True)),
    ("workers", lambda: Processes(workers=True)),
    ("steps", lambda: _benchmark.random_dag(True)),
    ("repeats", lambda: trio.run(_compare_once, True)),
    ("n", lambda: workloads.chain(True)),
    ("k", lambda: workloads.lower_bound(workloads.makespan(), True)),
]


@pytest.mark.parametrize(
    ("name", "make"), POSITIVE_INT_SITES, ids=[n for n, _ in POSITIVE_INT_SITES]
)
def test_true_is_not_a_positive_int_anywhere(name: str, make: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgument, match=rf"but got {name}=True \(type=bool\)$") as info:
        make()
    assert info.value.argument == name


@pytest.mark.parametrize("value", [0, -1, 1.0, "1", None, True])
def test_positive_int_names_the_argument_in_the_one_message_shape(value: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        positive_int("size", value, what="an int >= 1")
    assert (
        str(info.value)
        == f"Expected an int >= 1 but got size={value!r} (type={type(value).__name__})"
    )


@pytest.mark.parametrize("value", [True, math.nan, math.inf, -1, 10**400, "1"])
def test_numbers_are_finite_and_never_bools(value: object) -> None:
    for check in (non_negative, positive):
        with pytest.raises(InvalidArgument, match=r"^Expected a"):
            check("x", value)


def test_numbers_come_back_as_floats_within_their_bounds() -> None:
    assert non_negative("x", 0) == 0.0
    assert isinstance(non_negative("x", 3), float)
    assert positive("x", 0.5) == 0.5
    with pytest.raises(InvalidArgument, match="positive number but got x=0 "):
        positive("x", 0)
    assert in_range("x", 1, 0, 1, what="between 0 and 1") == 1.0
    with pytest.raises(InvalidArgument, match=r"^Expected between 0 and 1 but got x=1\.5"):
        in_range("x", 1.5, 0, 1, what="between 0 and 1")


@pytest.mark.parametrize(
    "keywords",
    [{"commit_interval": True}, {"commit_interval": math.nan}, {"busy_timeout": math.inf}],
)
def test_sqlite_store_rejects_bools_and_non_finite_seconds(
    tmp_path: Path, keywords: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument, match=f"got {next(iter(keywords))}="):
        SqliteStore(tmp_path / "j.db", **keywords)
    assert not (tmp_path / "j.db").exists()


# --- converters ------------------------------------------------------------------


@pytest.mark.parametrize("json", [False, True])
def test_strict_converters_share_one_rule_for_scalars(json: bool) -> None:
    strict = make_converter(json=json, strict_scalars=True)
    assert strict.structure(3, float) == 3.0
    assert isinstance(strict.structure(3, float), float)
    assert strict.structure(True, bool) is True
    for value, cls in [(True, int), ("3", int), (3, str), ("yes", bool), (True, float)]:
        with pytest.raises(TypeError, match=rf"expected {cls.__name__}, got"):
            strict.structure(value, cls)


def test_bytes_are_strict_in_python_and_text_in_json() -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        make_converter(strict_scalars=True).structure("abc", bytes)
    json = make_converter(json=True, strict_scalars=True)
    assert json.structure(json.unstructure(b"\x00\xff"), bytes) == b"\x00\xff"


@attrs.frozen
class _Point:
    x: int


def test_forbid_extra_keys_is_an_option() -> None:
    data = {"x": 1, "extra": 2}
    assert make_converter().structure(data, _Point) == _Point(1)
    with pytest.raises(cattrs.ClassValidationError) as info:
        make_converter(forbid_extra_keys=True).structure(data, _Point)
    assert "extra" in "; ".join(cattrs.transform_error(info.value))


# --- annotations -----------------------------------------------------------------


def test_produced_looks_through_awaiting_and_result() -> None:
    assert produced(int) is int
    assert produced(Result[int, str]) is int
    assert produced(Coroutine[Any, Any, Result[str, ValueError]]) is str
    assert produced(Awaitable[bytes]) is bytes
    assert awaited(Result[int, str]) == Result[int, str]  # a selector's key is not unwrapped


# --- workloads -------------------------------------------------------------------


def test_dagfn_bench_and_benchmarks_share_one_makespan_dag() -> None:
    assert _benchmark.random_dag is _workloads.makespan is workloads.makespan
    assert _benchmark.layered_dag is _workloads.layered
    assert workloads.Dag is _workloads.Dag
