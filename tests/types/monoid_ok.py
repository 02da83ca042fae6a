"""What mypy must infer for monoids, reduced fields and records (checked, never run)."""

from __future__ import annotations

from typing import assert_type

import attrs

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
    fold,
    record,
    reduced,
)


@attrs.frozen
class RAGState:
    question: str = reduced(Last(""))
    intent: str | None = reduced(First(None))
    chunks: tuple[str, ...] = reduced(Concat())
    log: list[str] = reduced(Extend())  # noqa: RUF009
    scores: dict[str, float] = reduced(Merge())  # noqa: RUF009
    tags: frozenset[str] = reduced(SetUnion())
    tokens: int = reduced(Sum())
    cost: float = reduced(Sum())  # Sum() is Sum[float] here
    odds: float = reduced(Product())
    best: float = reduced(Max(0))  # an int bottom is fine for a float field
    worst: float = reduced(Min(float("inf")))
    ok: bool = reduced(All())
    retried: bool = reduced(AnyOf())


class Count:
    """A user monoid: structural, no base class needed."""

    def empty(self) -> int:
        return 0

    def combine(self, a: int, b: int, /) -> int:
        return a + b


def checks() -> None:
    # A delta: only the fields that change; the others default to identities.
    delta = RAGState(chunks=("a",))
    assert_type(delta.chunks, tuple[str, ...])
    assert_type(delta.scores, dict[str, float])

    # reduced(m) is typed as m's element type.
    assert_type(reduced(Concat[str]()), tuple[str, ...])
    assert_type(reduced(Merge[str, int]()), dict[str, int])
    assert_type(reduced(Max(0)), int)
    assert_type(reduced(Count()), int)

    # Built-ins are generic where the element type varies.
    assert_type(Concat[str](), Concat[str])
    strings: Monoid[tuple[str, ...]] = Concat[str]()
    assert_type(Sum(), Sum[int])
    ints: Monoid[int] = Sum()
    floats: Monoid[float] = Sum()
    assert_type(Max(0), Max[int])
    assert_type(Max(0.0).empty(), float)
    assert_type(Min("zzz").combine("a", "b"), str)
    assert_type(First[str | None](None).combine(None, "a"), str | None)
    assert_type(Last(0).empty(), int)
    assert_type(SetUnion[int]().combine(frozenset(), frozenset({1})), frozenset[int])
    assert_type(Extend[int]().empty(), list[int])
    assert_type(All().combine(True, False), bool)
    counts: Monoid[int] = Count()

    # record(S) is a Monoid[S].
    assert_type(record(RAGState), Monoid[RAGState])
    assert_type(record(RAGState).combine(delta, RAGState(tokens=3)), RAGState)

    # fold: give generic monoids their type argument; mypy does not infer it from items.
    assert_type(fold(Sum(), [1, 2]), int)
    assert_type(fold(Sum[float](), [1.0, 2]), float)
    assert_type(fold(Concat[str](), [("a",), ("b", "c")]), tuple[str, ...])
    assert_type(fold(record(RAGState), [delta, delta]), RAGState)

    check_laws(Concat[str](), ("a",), (), ("b",))
    check_laws(Sum[float](), 0.1, 0.2, 0.3, eq=lambda x, y: abs(x - y) < 1e-9)
