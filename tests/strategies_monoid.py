"""Hypothesis strategies for monoid values: each built-in with values on which it must be lawful.

The law check itself is `dagfn.testing.check_monoid_laws` and records come from
`dagfn.testing.records`: one copy of each, the one users get.
"""

from __future__ import annotations

from typing import Any

import attrs
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
    record,
    reduced,
)
from dagfn.testing import records

__all__ = ["LAWFUL", "SampleState", "sample_states"]


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

# From the field types; reduced(...) keeps `best` >= 0.0 and `_private` <= 100 (their
# identities). Short texts keep the examples small.
sample_states: st.SearchStrategy[SampleState] = records(
    SampleState,
    question=short_text,
    intent=st.none() | short_text,
    chunks=st.lists(short_text, max_size=3).map(tuple),
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
