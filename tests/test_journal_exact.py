"""The exact journal: every value it accepts reads back equal and of the same type;
what it cannot hold exactly fails its step, never the run.

Values go through real runs: a step's output is read back from its row when a
run id is run again (its dependent failed the first time) and from the run's
result row when a finished run id is run a third time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import enum
import io
import math
import re
import typing
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from dagfn import Graph, JournalError, RunFailure, node, run_sync
from dagfn._journal import _PRODUCED
from dagfn.store import Entry, MemoryStore, SqliteStore, Store


@attrs.frozen
class Pair:
    left: object
    right: object


@attrs.define
class Box:
    content: object
    _hidden: object = None  # an attrs field whose init argument is "hidden"
    later: object = attrs.field(init=False, default=0)


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: object
    b: object


@dataclasses.dataclass
class Mutable:
    items: object
    extra: object = dataclasses.field(init=False, default=None)


def _plus_one(n: int) -> int:
    return n + 1


@attrs.frozen(cache_hash=True)
class Converted:
    """Its converter is not idempotent and its __attrs_post_init__ has an effect."""

    n: int = attrs.field(converter=_plus_one)

    def __attrs_post_init__(self) -> None:
        BUILT.append(self.n)


BUILT: list[int] = []


@attrs.frozen
class Legacy:
    n: int
    words: tuple[int, ...]


class Colour(enum.Enum):
    RED = "red"
    BLUE = (1, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Flags(enum.Flag):
    A = 1
    B = 2


class Point(NamedTuple):
    x: object
    y: object


# -- what "the same value" means: equal and of the same type, recursively -----------


def same(a: object, b: object) -> bool:
    """Equal, of the same type at every level; NaN is NaN and -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, complex):
        assert isinstance(b, complex)
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, set | frozenset):
        assert isinstance(b, set | frozenset)
        theirs = {x: x for x in b}
        return a == b and all(same(x, theirs[x]) for x in a)
    cls: Any = type(a)
    if attrs.has(cls):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(cls))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, datetime.datetime | datetime.time):
        assert isinstance(b, datetime.datetime | datetime.time)
        return (
            a == b
            and a.fold == b.fold
            and type(a.tzinfo) is type(b.tzinfo)
            and a.utcoffset() == b.utcoffset()
        )
    return a is b if isinstance(a, enum.Enum) else a == b


# -- values -------------------------------------------------------------------------

zones = st.sampled_from(
    [
        None,
        datetime.UTC,
        datetime.timezone(datetime.timedelta(hours=-3, minutes=-30)),
        zoneinfo.ZoneInfo("Europe/Paris"),
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf]),
    st.text(),
    st.binary(),
    st.sampled_from([*Colour, *Level, Flags.A, Flags.A | Flags.B]),
    st.datetimes(timezones=zones, allow_imaginary=False),
    st.dates(),
    st.times(timezones=st.sampled_from([None, datetime.UTC])),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.complex_numbers(allow_nan=False),
)


def _hashable_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(inner, max_size=3),
        st.builds(Pair, inner, inner),
        st.builds(Frozen, inner, inner),
        st.builds(Point, inner, inner),
    )


hashables = st.recursive(scalars, _hashable_containers, max_leaves=8)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(hashables, inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
        st.builds(Pair, inner, inner),
        st.builds(Box, inner, inner),
        st.builds(Frozen, inner, inner),
        st.builds(Mutable, inner),
        st.builds(Point, inner, inner),
    )


values = st.recursive(st.one_of(scalars, st.just(math.nan), hashables), _containers, max_leaves=20)


_tuple: Any = tuple  # subscripted with types built at run time
_union: Any = typing.Union
_list: Any = list


def annotation_of(value: object) -> Any:
    """A precise annotation for ``value`` (what a careful author would write)."""
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return _tuple[tuple(map(annotation_of, value))] if value else tuple[()]
    if isinstance(value, list):
        return _list[_union[tuple(map(annotation_of, value))]] if value else list[int]
    if isinstance(value, dict):
        return dict[Any, Any]
    if isinstance(value, frozenset):
        return frozenset[Any]
    if isinstance(value, set):
        return set[Any]
    if value is None:
        return None
    return type(value)


# -- the round trip through real runs ------------------------------------------------


def graph_of(value: object, fail_first: list[bool], annotate: bool) -> Graph[int, Any, Any]:
    """``make >> check``: make returns ``value``; check passes it on, failing while
    ``fail_first[0]`` (once)."""

    def make(x: int) -> Any:
        return value

    def check(v: Any) -> Any:
        if fail_first[0]:
            fail_first[0] = False
            raise RuntimeError("fails once, so the second run reads make's row")
        return v

    if annotate:
        t = annotation_of(value)
        make.__annotations__ = {"x": int, "return": t}
        check.__annotations__ = {"v": t, "return": t}
    else:
        make.__annotations__ = {}
        check.__annotations__ = {}
    return node(make) >> node(check)


def round_trip(value: object, store: Store, run_id: str, annotate: bool) -> tuple[object, object]:
    """(the step's output read from its row, the run's result read from its result row)."""
    graph = graph_of(value, [True], annotate)
    assert isinstance(run_sync(graph, 0, store=store, run_id=run_id), Failure)
    from_row = run_sync(graph, 0, store=store, run_id=run_id).unwrap()
    from_result = run_sync(graph, 0, store=store, run_id=run_id).unwrap()
    return from_row, from_result


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(value=values, annotate=st.booleans())
def test_every_value_reads_back_equal_and_of_the_same_type(value: object, annotate: bool) -> None:
    store = MemoryStore()
    from_row, from_result = round_trip(value, store, "r", annotate)
    assert same(from_row, value), (from_row, value)
    assert same(from_result, value), (from_result, value)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_values_read_back_exactly_from_a_sqlite_file_opened_again(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    path = tmp_path_factory.mktemp("exact") / "journal.db"
    with SqliteStore(path) as store:
        round_trip(value, store, "r", annotate=False)
    _PRODUCED.clear()  # as in a new process: the classes come from this module
    with SqliteStore(path) as again:
        rows = again.entries("r")
        assert rows["make"].output_json == rows["check"].output_json
        from_result = run_sync(graph_of(value, [False], False), 0, store=again, run_id="r")
    assert same(from_result.unwrap(), value)


def test_the_cases_of_the_issue_read_back_exactly_without_annotations() -> None:
    value = (
        [Pair(1, (2, 3)), (4, 5)],
        {1: "int key", (1, 2): "tuple key", Colour.RED: Box([1])},
        {(1, 2), (3, 4)},
        frozenset({Point(1, 2)}),
        {"!": "a key that looks like a tag"},
    )
    from_row, from_result = round_trip(value, MemoryStore(), "issue", annotate=False)
    assert same(from_row, value)
    assert same(from_result, value)


def test_records_read_back_field_by_field_running_no_code_of_theirs() -> None:
    value = (Converted(1), frozenset({Converted(5)}))
    BUILT.clear()  # the two built just now
    from_row, from_result = round_trip(value, MemoryStore(), "conv", annotate=False)
    assert same(from_row, value) and same(from_result, value)
    assert isinstance(from_row, tuple) and isinstance(from_row[0], Converted)
    assert from_row[0].n == 2  # once converted, when the step built it
    assert hash(from_row[0]) == hash(value[0])
    assert BUILT == []


def test_an_encoded_value_has_one_text_whatever_the_set_order() -> None:
    store = MemoryStore()
    one = frozenset(f"item{i}" for i in range(50))
    other = frozenset(sorted(one, reverse=True))
    for run_id, value in (("a", one), ("b", other)):
        assert isinstance(
            run_sync(graph_of(value, [False], True), 0, store=store, run_id=run_id), Success
        )
    assert store.entries("a")["make"].output_json == store.entries("b")["make"].output_json


# -- tampered rows build nothing outside the graph ------------------------------------


def test_a_tampered_row_naming_a_class_the_graph_does_not_know_builds_nothing(
    tmp_path: Path,
) -> None:
    built: list[object] = []

    @attrs.define
    class Elsewhere:  # defined here, never produced: not a class rows may build
        x: int

        def __attrs_post_init__(self) -> None:
            built.append(self)

    @node
    def make(x: int):  # type: ignore[no-untyped-def]
        return 1

    @node
    def use(v):  # type: ignore[no-untyped-def]
        raise RuntimeError("stop")

    with SqliteStore(tmp_path / "j.db") as store:
        run_sync(make >> use, 0, store=store, run_id="t")
        for name in (f"{Elsewhere.__module__}.{Elsewhere.__qualname__}", "subprocess.Popen"):
            row = '{"!":"rec","c":"' + name + '","v":{"x":1}}'
            store.record("t", Entry("make", "done", row, 1.0, 2.0))
            store.flush()
            with pytest.raises(JournalError, match=f"'make' no longer reads.*{name}") as caught:
                run_sync(make >> use, 0, store=store, run_id="t")
            assert caught.value.step == "make"
    assert built == []


def test_a_row_with_an_unknown_tag_is_a_journal_error_naming_the_step() -> None:
    store = MemoryStore()

    @node
    def make(x: int) -> int:
        return 1

    @node
    def use(v: int) -> int:
        raise RuntimeError("stop")

    run_sync(make >> use, 0, store=store, run_id="t")
    store.record("t", Entry("make", "done", '{"!":"pickle","v":"gASV"}', 1.0, 2.0))
    with pytest.raises(JournalError, match=r"'make'.*unknown tag 'pickle'"):
        run_sync(make >> use, 0, store=store, run_id="t")


# -- what the journal cannot hold fails that step ------------------------------------


class Opaque:
    """A class with no exact JSON form."""


class Text(str):
    """A subclass of str: journaled as a str, it would read back changed."""


def _cyclic() -> object:
    cycle: list[object] = []
    cycle.append(cycle)
    return cycle


def _deep() -> object:
    value: object = 0
    for _ in range(100_000):
        value = [value]
    return value


@dataclasses.dataclass
class Unset:
    """A dataclass whose init=False field was never set."""

    late: int = dataclasses.field(init=False)


UNENCODABLE: dict[str, tuple[Callable[[], object], str]] = {
    "a dataclass with a field never set": (Unset, "Unset"),
    "5,000-digit int": (lambda: 10**5000, "int"),
    "cyclic list": (_cyclic, "list"),
    "very deep list": (_deep, "list"),
    "object of an unknown class": (Opaque, "Opaque"),
    "str subclass": (lambda: Text("x"), "Text"),
    "unknown class inside a tuple": (lambda: (1, [Opaque()]), "Opaque"),
    "datetime with a tzinfo of its own": (
        lambda: datetime.datetime(2026, 1, 1, tzinfo=_OddZone()),
        "datetime",
    ),
}


class _OddZone(datetime.tzinfo):
    def utcoffset(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=1)

    def dst(self, dt: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)

    def tzname(self, dt: datetime.datetime | None) -> str:
        return "ODD"


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_an_output_the_journal_cannot_hold_fails_that_step_and_the_run_resumes(
    case: str, tmp_path: Path
) -> None:
    produce, type_name = UNENCODABLE[case]
    calls: Counter[str] = Counter()
    fixed = [False]

    @node
    def bad(x: int):  # type: ignore[no-untyped-def]
        calls["bad"] += 1
        return "fine now" if fixed[0] else produce()

    @node
    def good(x: int) -> int:
        calls["good"] += 1
        return x + 1

    @node
    def after(v: object) -> str:
        return "after"

    graph = (bad >> after & good).join(lambda a, b: (a, b))
    with SqliteStore(tmp_path / "j.db") as store:
        result = run_sync(graph, 1, store=store, run_id="u")
        assert isinstance(result, Failure)
        failure = result.failure()
        assert isinstance(failure, RunFailure)
        assert [f.step for f in failure.failures] == ["bad"]
        error = failure.failures[0].error
        assert isinstance(error, JournalError)
        assert error.step == "bad"
        assert "'bad'" in str(error) and type_name in str(error)
        assert error.type_name == type_name
        assert "after" in failure.not_run
        assert "good" in failure.completed
        assert store.get_run("u").status == "failed"
        assert store.entries("u")["good"].output_json == "2"

        fixed[0] = True
        assert run_sync(graph, 1, store=store, run_id="u") == Success(("after", 2))
    assert calls == Counter(bad=2, good=1)


class BadRepr(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_a_failure_whose_repr_raises_fails_its_step_only(tmp_path: Path) -> None:
    @node
    def bad(x: int) -> int:
        raise BadRepr

    @node
    def good(x: int) -> int:
        return x + 1

    def add(a: int, b: int) -> int:
        return a + b

    graph = (bad & good).join(add)
    with SqliteStore(tmp_path / "j.db") as store:
        result = run_sync(graph, 1, store=store, run_id="r")
        failure = result.failure()
        assert isinstance(failure, RunFailure)
        assert isinstance(failure.error, BadRepr)
        assert failure.step == "bad"
        assert "good" in failure.completed
        row = store.entries("r")["bad"]
        assert row.status == "failed"
        assert row.error == "<BadRepr whose repr raised RuntimeError>"
        assert store.get_run("r").status == "failed"


def test_the_same_graph_without_a_store_still_succeeds() -> None:
    assert isinstance(run_sync(graph_of(_cyclic(), [False], False), 0), Success)


def test_identity_of_decimal_and_uuid_and_nan_dicts() -> None:
    value = {
        decimal.Decimal("-0.00"): uuid.UUID(int=5),
        "nan": math.nan,
        "neg zero": -0.0,
        "dt": datetime.datetime(
            2026, 11, 1, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")
        ),
    }
    from_row, from_result = round_trip(value, MemoryStore(), "d", annotate=True)
    assert same(from_row, value) and same(from_result, value)


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_blocks_on_the_exact_journal_run_and_print_what_they_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text()
    section = text[text.index("### What the journal holds") :]
    section = section[: section.index("`history(store, run_id)`")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        claimed = re.findall(r"print\(.*\)  # (.*)", code)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README block {i}", "exec"), {"__name__": f"readme{i}"})
        assert out.getvalue().splitlines() == claimed


def test_rows_written_before_the_exact_encoding_read_back_as_they_did(tmp_path: Path) -> None:
    @node
    def typed(x: int) -> Legacy:
        return Legacy(1, (2,))

    @node
    def untyped(x):  # type: ignore[no-untyped-def]
        return Legacy(3, (4,))

    def join(a: Legacy, b: object) -> tuple[Legacy, object]:
        return a, b

    graph = (typed & untyped).join(join)
    with SqliteStore(tmp_path / "old.db") as store:
        run_sync(graph, 0, store=store, run_id="old")
        # As an earlier version wrote them: cattrs JSON, and the class tag of an
        # unannotated step; no result row, so the steps' rows are read.
        name = f"{Legacy.__module__}.{Legacy.__qualname__}"
        legacy = '{"__dagfn_type__": "%s", "value": {"n": 3, "words": [4]}}' % name  # noqa: UP031
        store.record("old", Entry("typed", "done", '{"n": 1, "words": [2]}', 1.0, 2.0))
        store.record("old", Entry("untyped", "done", legacy, 1.0, 2.0))
        store.finish_run("old", "failed", None)
        result = run_sync(graph, 0, store=store, run_id="old")
    assert result == Success((Legacy(1, (2,)), Legacy(3, (4,))))
