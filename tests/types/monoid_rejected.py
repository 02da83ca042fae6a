"""What mypy must reject for monoids: each line below is an error (checked, never run)."""

from __future__ import annotations

import attrs

from dagfn.monoid import (
    Concat,
    Extend,
    First,
    Max,
    Monoid,
    SetUnion,
    Sum,
    check_laws,
    fold,
    record,
    reduced,
)


@attrs.frozen
class State:
    chunks: tuple[str, ...] = reduced(Concat())
    tokens: int = reduced(Sum())


@attrs.frozen
class WrongReducers:
    chunks: int = reduced(Concat())  # type: ignore[assignment]  # a tuple monoid on an int
    label: str = reduced(Sum())  # type: ignore[assignment]  # Sum is for int and float
    # SetUnion takes frozensets only: state is frozen and shared between deltas.
    names: set[str] = reduced(SetUnion())  # type: ignore[arg-type]  # noqa: RUF009
    items: tuple[int, ...] = reduced(Extend())  # type: ignore[arg-type]  # Extend is lists
    maybe: int = reduced(First(None))  # type: ignore[assignment]  # the default is a value


class NotAMonoid:
    def empty(self) -> int:
        return 0


def checks(s: State) -> None:
    State(chunks=(1,))  # type: ignore[arg-type]  # a delta is checked field by field
    State(tokens="3")  # type: ignore[arg-type]
    State(unknown=1)  # type: ignore[call-arg]  # no unknown fields in a delta
    s.chunks = ()  # type: ignore[misc]  # state is frozen
    wrong: Monoid[tuple[str, ...]] = Concat[int]()  # type: ignore[assignment]
    not_one: Monoid[int] = NotAMonoid()  # type: ignore[assignment]  # no combine
    Sum[str]()  # type: ignore[type-var]
    Max(0).combine(1, "a")  # type: ignore[arg-type]
    Max(object())  # type: ignore[type-var]  # Max needs a type with <
    # mypy words a mismatch of monoid and items as "Cannot infer value of type parameter".
    fold(Sum[int](), ["a"])  # type: ignore[misc]
    fold(record(State), [1])  # type: ignore[misc]
    check_laws(Sum[int](), 1, 2, "3")  # type: ignore[misc]
