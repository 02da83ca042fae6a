"""Monoids: the laws of every built-in and of records, and their fixed semantics."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_monoid import LAWFUL, SampleState, sample_states

import dagfn.monoid
from dagfn._errors import DagfnError, InvalidArgument
from dagfn.monoid import (
    All,
    AnyOf,
    Concat,
    Extend,
    First,
    Last,
    LawViolation,
    Max,
    Merge,
    Min,
    Monoid,
    NoReducer,
    Product,
    SetUnion,
    Sum,
    check_laws,
    fold,
    record,
    reduced,
    reducer_of,
)
from dagfn.testing import check_monoid_laws

# --- laws ------------------------------------------------------------------


@pytest.mark.parametrize(("monoid", "values"), LAWFUL, ids=[repr(m) for m, _ in LAWFUL])
def test_identity_associativity_and_purity_hold(
    monoid: Monoid[Any], values: st.SearchStrategy[Any]
) -> None:
    check_monoid_laws(monoid, values)


def test_every_builtin_has_a_law_test() -> None:
    tested = {type(m).__name__ for m, _ in LAWFUL}
    builtins = {"Sum", "Product", "Max", "Min", "Concat", "Extend", "Merge", "SetUnion"}
    builtins |= {"All", "AnyOf", "First", "Last", "_Record"}
    assert tested == builtins


@pytest.mark.parametrize(("monoid", "values"), LAWFUL, ids=[repr(m) for m, _ in LAWFUL])
def test_builtins_satisfy_the_runtime_protocol(
    monoid: Monoid[Any], values: st.SearchStrategy[Any]
) -> None:
    assert isinstance(monoid, Monoid)


@given(st.lists(st.lists(st.integers()).map(tuple)), st.lists(st.lists(st.integers()).map(tuple)))
def test_fold_of_a_concatenation_is_the_combine_of_the_folds(
    xs: list[tuple[int, ...]], ys: list[tuple[int, ...]]
) -> None:
    m = Concat[int]()
    assert fold(m, xs + ys) == m.combine(fold(m, xs), fold(m, ys))


def test_fold_of_nothing_is_the_identity() -> None:
    assert fold(Max(-1), []) == -1
    assert fold(record(SampleState), iter(())) == SampleState()


def test_check_laws_reports_a_broken_identity() -> None:
    with pytest.raises(LawViolation, match=r"left identity fails for Max\(bottom=10\)") as info:
        check_laws(Max(10), 1, 2, 3)
    assert info.value.law == "left identity"
    assert isinstance(info.value, AssertionError)


@attrs.frozen
class _Subtract:
    def empty(self) -> int:
        return 0

    def combine(self, a: int, b: int, /) -> int:
        return a - b


@attrs.frozen
class _AppendInPlace:
    def empty(self) -> list[int]:
        return []

    def combine(self, a: list[int], b: list[int], /) -> list[int]:
        a.extend(b)
        return a


def test_check_laws_reports_a_non_associative_combine() -> None:
    # 0 is a right identity of subtraction, but not a left one.
    with pytest.raises(LawViolation, match="left identity") as info:
        check_laws(_Subtract(), 1, 2, 3)
    assert info.value.monoid == _Subtract()
    with pytest.raises(LawViolation, match=r"associativity fails .*on 0, 2, 3") as info:
        check_laws(_Subtract(), 0, 2, 3)
    assert info.value.law == "associativity"


def test_check_laws_reports_a_combine_that_mutates_its_arguments() -> None:
    with pytest.raises(LawViolation, match="purity fails") as info:
        check_laws(_AppendInPlace(), [1], [2], [3])
    assert info.value.law == "purity"


def test_the_hypothesis_law_check_finds_a_counterexample() -> None:
    with pytest.raises(LawViolation, match=r"(identity|associativity) fails for _Subtract\(\)"):
        check_monoid_laws(_Subtract(), st.integers())


# --- semantics of the built-ins --------------------------------------------


def test_merge_is_right_biased_and_keeps_both_inputs() -> None:
    a, b = {"k": 1, "a": 0}, {"k": 2, "b": 0}
    assert Merge[str, int]().combine(a, b) == {"k": 2, "a": 0, "b": 0}
    assert a == {"k": 1, "a": 0}
    assert b == {"k": 2, "b": 0}


def test_merge_returns_a_new_dict_even_when_one_side_is_empty() -> None:
    a: dict[str, int] = {"k": 1}
    m = Merge[str, int]()
    assert m.combine(a, m.empty()) is not a
    assert m.combine(m.empty(), a) is not a


def test_extend_does_not_mutate_or_alias_its_inputs() -> None:
    a, b = [1, 2], [3]
    m = Extend[int]()
    out = m.combine(a, b)
    assert out == [1, 2, 3]
    assert (a, b) == ([1, 2], [3])
    out.append(4)
    assert (a, b) == ([1, 2], [3])
    assert m.combine(a, m.empty()) is not a
    assert m.combine(m.empty(), a) is not a


def test_extend_gives_a_fresh_identity_each_time() -> None:
    m = Extend[int]()
    assert m.empty() is not m.empty()


def test_first_keeps_the_first_value_that_is_not_the_default() -> None:
    m = First[int | None](None)
    assert m.combine(None, 1) == 1
    assert m.combine(1, 2) == 1
    assert m.combine(1, None) == 1
    assert fold(m, [None, None, 3, 4, None]) == 3
    assert fold(m, [None, None]) is None


def test_last_keeps_the_last_value_that_is_not_the_default() -> None:
    m = Last[int | None](None)
    assert m.combine(1, 2) == 2
    assert m.combine(1, None) == 1
    assert m.combine(None, 2) == 2
    assert fold(m, [1, 2, None, None]) == 2
    assert fold(m, []) is None


def test_a_value_equal_to_the_default_counts_as_unset() -> None:
    assert Last(0).combine(5, 0) == 5
    assert First("").combine("", "x") == "x"


def test_max_and_min_keep_the_left_value_on_ties() -> None:
    assert type(Max[float](0).combine(1, 1.0)) is int
    assert type(Min[float](2).combine(1, 1.0)) is int
    assert Max(0).combine(1, 2) == 2
    assert Min(9).combine(1, 2) == 1


def test_sum_and_product_have_numeric_identities() -> None:
    assert (Sum[int]().empty(), Product[int]().empty()) == (0, 1)
    assert Sum[float]().combine(0.5, 0.25) == 0.75
    assert fold(Product[int](), [2, 3, 7]) == 42


def test_all_and_anyof_identities() -> None:
    assert (All().empty(), AnyOf().empty()) == (True, False)
    assert All().combine(True, False) is False
    assert AnyOf().combine(False, True) is True


def test_set_union() -> None:
    m = SetUnion[int]()
    assert m.combine(frozenset({1, 2}), frozenset({2, 3})) == frozenset({1, 2, 3})
    assert m.empty() == frozenset()


def test_builtins_are_values() -> None:
    assert Max(0) == Max(0)
    assert Max(0) != Max(1)
    assert len({Concat[int](), Concat[str](), Sum[int]()}) == 2  # Concat[X] is one class
    assert repr(First(None)) == "First(default=None)"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Max(0).bottom = 1  # type: ignore[misc]


# --- reduced ---------------------------------------------------------------


def test_a_reduced_fields_default_is_its_identity() -> None:
    for field in attrs.fields(SampleState):
        monoid = reducer_of(field)
        assert monoid is not None
        assert getattr(SampleState(), field.name) == monoid.empty()


def test_an_immutable_identity_is_a_plain_default() -> None:
    fields = attrs.fields(SampleState)
    assert fields.chunks.default == ()
    assert fields.question.default == ""
    assert fields.tags.default == frozenset()


def test_a_mutable_identity_is_made_fresh_for_each_instance() -> None:
    fields = attrs.fields(SampleState)
    assert isinstance(fields.log.default, attrs.Factory)  # type: ignore[arg-type]
    assert isinstance(fields.scores.default, attrs.Factory)  # type: ignore[arg-type]
    assert SampleState().log is not SampleState().log
    assert SampleState().scores is not SampleState().scores


def test_a_delta_names_only_the_fields_it_changes() -> None:
    delta = SampleState(chunks=("a",))
    assert delta == attrs.evolve(SampleState(), chunks=("a",))


def test_reducer_of_returns_the_declared_monoid() -> None:
    fields = attrs.fields(SampleState)
    assert reducer_of(fields.best) == Max(0.0)
    assert reducer_of(fields.intent) == First(None)


def test_reducer_of_a_plain_field_is_none() -> None:
    @attrs.frozen
    class Plain:
        x: int = 0

    assert reducer_of(attrs.fields(Plain).x) is None


# --- record ----------------------------------------------------------------


def test_record_combines_field_by_field() -> None:
    a = SampleState(question="q", chunks=("a",), log=["x"], scores={"s": 1}, tokens=2, best=1.0)
    b = SampleState(intent="search", chunks=("b",), log=["y"], scores={"s": 2}, ok=False)
    assert record(SampleState).combine(a, b) == SampleState(
        question="q",
        intent="search",
        chunks=("a", "b"),
        log=["x", "y"],
        scores={"s": 2},
        tokens=2,
        best=1.0,
        ok=False,
    )


@given(sample_states, sample_states)
def test_record_combine_matches_each_fields_monoid(a: SampleState, b: SampleState) -> None:
    combined = record(SampleState).combine(a, b)
    for field in attrs.fields(SampleState):
        monoid = reducer_of(field)
        assert monoid is not None
        expected = monoid.combine(getattr(a, field.name), getattr(b, field.name))
        assert getattr(combined, field.name) == expected


def test_record_empty_is_the_all_default_instance() -> None:
    assert record(SampleState).empty() == SampleState()
    assert record(SampleState).empty().log is not record(SampleState).empty().log


def test_record_is_cached_per_class() -> None:
    assert record(SampleState) is record(SampleState)
    assert repr(record(SampleState)) == "record(SampleState)"


def test_record_handles_private_and_keyword_only_fields() -> None:
    @attrs.frozen(kw_only=True)
    class Kw:
        _hidden: int = reduced(Sum())
        shown: tuple[int, ...] = reduced(Concat())

    m = record(Kw)
    assert m.combine(Kw(hidden=1, shown=(1,)), Kw(hidden=2, shown=(2,))) == Kw(
        hidden=3, shown=(1, 2)
    )


def test_record_fields_may_have_the_generated_codes_names() -> None:
    @attrs.frozen
    class Clash:
        a: int = reduced(Sum())
        b: int = reduced(Product())
        cls: tuple[int, ...] = reduced(Concat())
        c0: bool = reduced(AnyOf())

    merged = record(Clash).combine(Clash(1, 2, (3,), False), Clash(4, 5, (6,), True))
    assert merged == Clash(5, 10, (3, 6), True)


def test_record_includes_inherited_fields() -> None:
    @attrs.frozen
    class Base:
        n: int = reduced(Sum())

    @attrs.frozen
    class Child(Base):
        names: tuple[str, ...] = reduced(Concat())

    assert record(Child).combine(Child(1, ("a",)), Child(2, ("b",))) == Child(3, ("a", "b"))


def test_record_builds_through_init_so_the_classes_checks_apply() -> None:
    @attrs.frozen
    class Bounded:
        n: int = reduced(Sum())

        def __attrs_post_init__(self) -> None:
            if self.n > 10:
                raise ValueError("too many")

    with pytest.raises(ValueError, match="too many"):
        record(Bounded).combine(Bounded(6), Bounded(6))


def test_a_field_without_a_reducer_is_an_error_naming_it() -> None:
    @attrs.frozen
    class Half:
        chunks: tuple[str, ...] = reduced(Concat())
        question: str = ""

    with pytest.raises(NoReducer) as info:
        record(Half)
    assert str(info.value) == (
        f"{Half.__qualname__}.question has no reducer, and record() needs one for every field;"
        " declare it with reduced(...), e.g. `question: T = reduced(Last(None))`"
    )
    assert info.value.record is Half
    assert info.value.field == "question"
    assert isinstance(info.value, DagfnError)
    assert isinstance(info.value, TypeError)


def test_a_reduced_field_with_init_false_is_an_error_naming_it() -> None:
    # What reduced(Sum()) would write, on a field that __init__ cannot set.
    sum_metadata = attrs.fields(SampleState).tokens.metadata

    @attrs.frozen
    class Hidden:
        n: int = attrs.field(init=False, default=0, metadata=sum_metadata)

    with pytest.raises(
        NoReducer, match=re.escape(f"{Hidden.__qualname__}.n has init=False")
    ) as info:
        record(Hidden)
    assert info.value.field == "n"


def test_record_of_a_class_that_is_not_attrs_is_an_argument_error() -> None:
    with pytest.raises(
        InvalidArgument, match=r"^Expected an attrs class but got cls=<class 'int'>"
    ):
        record(int)  # type: ignore[type-var]
    with pytest.raises(
        InvalidArgument, match=r"^Expected an attrs class but got cls=\[\] \(type=list\)"
    ):
        record([])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"got cls=SampleState\("):
        record(SampleState())  # type: ignore[arg-type]


# --- the module's surface --------------------------------------------------


def test_every_name_in_all_exists_once() -> None:
    assert len(dagfn.monoid.__all__) == len(set(dagfn.monoid.__all__))
    for name in dagfn.monoid.__all__:
        assert hasattr(dagfn.monoid, name), name
