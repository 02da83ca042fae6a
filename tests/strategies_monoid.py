"""Hypothesis strategies for monoid values, and the law check driven by them.

`check_monoid_laws` is the hypothesis front of `dagfn.monoid.check_laws`;
`dagfn.testing` (issue 6) is meant to take it over.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from dagfn.monoid import (
    All,
    AnyOf,
    Concat,
    Extend,
    First,
    Last,
    Max,
    Merge,
    Min,
    Monoid,
    Product,
    SetUnion,
    Sum,
    check_laws,
    record,
    reduced,
)

T = TypeVar("T")


def check_monoid_laws(
    monoid: Monoid[T],
    values: st.SearchStrategy[T],
    *,
    eq: Callable[[T, T], bool] = operator.eq,
) -> None:
    """Check identity, associativity and purity of ``monoid`` on drawn values.

    Raises `dagfn.monoid.LawViolation` (an AssertionError) with the falsifying
    values, as hypothesis shrank them (one failure, not a group of them).
    """

    @settings(report_multiple_bugs=False)
    @given(values, values, values)
    def laws(a: T, b: T, c: T) -> None:
        check_laws(monoid, a, b, c, eq=eq)

    laws()


@attrs.frozen
class SampleState:
    """A state record with one field per kind of built-in monoid."""

    question: str = reduced(Last(""))
    intent: str | None = reduced(First(None))
    chunks: tuple[str, ...] = reduced(Concat())
    # RUF009 cannot know that reduced() makes a mutable identity per instance.
    log: list[str] = reduced(Extend())  # noqa: RUF009
    scores: dict[str, int] = reduced(Merge())  # noqa: RUF009
    tags: frozenset[str] = reduced(SetUnion())
    tokens: int = reduced(Sum())
    best: float = reduced(Max(0.0))
    ok: bool = reduced(All())
    retried: bool = reduced(AnyOf())
    _private: int = reduced(Min(100))


short_text = st.text(alphabet="abc", max_size=3)
# Floats that add and multiply exactly: float sums are associative only up to
# rounding, which is a property of floats, not of `Sum`.
exact_floats = st.integers(-(2**40), 2**40).map(float)
small_exact_floats = st.integers(-1000, 1000).map(float)

sample_states: st.SearchStrategy[SampleState] = st.builds(
    SampleState,
    question=short_text,
    intent=st.none() | short_text,
    chunks=st.lists(short_text, max_size=3).map(tuple),
    log=st.lists(short_text, max_size=3),
    scores=st.dictionaries(short_text, st.integers(), max_size=3),
    tags=st.frozensets(short_text, max_size=3),
    tokens=st.integers(),
    best=st.floats(min_value=0.0, allow_nan=False),
    ok=st.booleans(),
    retried=st.booleans(),
    private=st.integers(max_value=100),
)

# Every built-in (and a record), each with values on which it must be lawful.
# A Max/Min value must not pass its identity: that is the contract of `bottom`/`top`.
LAWFUL: list[tuple[Monoid[Any], st.SearchStrategy[Any]]] = [
    (Sum[int](), st.integers()),
    (Sum[float](), exact_floats),
    (Product[int](), st.integers()),
    (Product[float](), small_exact_floats),
    (Max(0), st.integers(min_value=0)),
    (Max(float("-inf")), st.floats(allow_nan=False)),
    (Max(""), st.text()),
    (Min(float("inf")), st.floats(allow_nan=False)),
    (Min(0), st.integers(max_value=0)),
    (Concat[int](), st.lists(st.integers()).map(tuple)),
    (Extend[int](), st.lists(st.integers())),
    (Merge[str, int](), st.dictionaries(short_text, st.integers())),
    (SetUnion[int](), st.frozensets(st.integers())),
    (All(), st.booleans()),
    (AnyOf(), st.booleans()),
    (First(None), st.none() | st.integers()),
    (First(""), short_text),
    (Last(None), st.none() | st.integers()),
    (Last(0), st.integers(-2, 2)),
    (record(SampleState), sample_states),
]
