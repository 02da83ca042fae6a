"""dagfn.testing for users: records and deltas from field types, and the README example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from dagfn import reduced
from dagfn._errors import InvalidArgument
from dagfn.monoid import Concat, First, Max, Min, Sum, record
from dagfn.testing import check_monoid_laws, deltas, records

README = Path(__file__).parent.parent / "README.md"


@attrs.frozen
class Inner:
    label: str
    weight: int = reduced(Min(10))


@attrs.frozen
class Outer:
    name: str
    inner: Inner
    tags: frozenset[str]
    best: int = reduced(Max(5))
    first: str | None = reduced(First(None))
    _secret: int = reduced(Sum())


@attrs.frozen
class Delta:
    items: tuple[str, ...] = reduced(Concat())
    cents: int = reduced(Sum())


@given(records(Outer))
def test_records_draw_every_field_from_its_type_and_respect_reduced_identities(o: Outer) -> None:
    assert isinstance(o.name, str)
    assert isinstance(o.inner, Inner)  # nested records are drawn with records() too
    assert isinstance(o.tags, frozenset)
    assert o.best >= 5  # Max(5): 5 is the identity, so nothing below it
    assert o.inner.weight <= 10  # Min(10)
    assert o.first is None or isinstance(o.first, str)


def test_records_draw_private_fields_by_their_init_name() -> None:
    found = find(records(Outer), lambda o: o._secret != 0)
    assert found._secret != 0


@given(records(Outer, name=st.just("fixed"), secret=st.just(7)))
def test_records_take_a_strategy_per_field_by_name(o: Outer) -> None:
    assert (o.name, o._secret) == ("fixed", 7)


def test_records_reject_an_unknown_field_name_and_a_non_attrs_class() -> None:
    with pytest.raises(InvalidArgument, match=r"Expected fields of Outer \(best, first, "):
        records(Outer, nmae=st.just("x"))
    with pytest.raises(
        InvalidArgument, match=r"Expected an attrs class .* but got cls=<class 'int'>"
    ):
        records(int)


def test_records_name_a_field_whose_type_hint_does_not_resolve() -> None:
    @attrs.frozen
    class Broken:
        x: Undefined  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(InvalidArgument, match="Expected resolvable type hints on Broken"):
        records(Broken)


def test_deltas_draw_both_identities_and_changes() -> None:
    empty = find(deltas(Delta), lambda d: d == Delta())
    assert empty == Delta()
    changed = find(deltas(Delta), lambda d: d.items != () and d.cents == 0)
    assert changed.items


@attrs.frozen
class Tally:
    best: int = reduced(Max(5))
    least: float = reduced(Min(10.0))
    first: str | None = reduced(First(None))
    count: int = reduced(Sum())
    seen: tuple[str, ...] = reduced(Concat())


def test_drawn_records_are_lawful_elements_of_their_record_monoid() -> None:
    # Without the identity filter, best=3 or least=11.0 would break left identity.
    check_monoid_laws(record(Tally), records(Tally))


def _readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None, f"no python block in README section {title!r}"
    return block.group(1)


def test_the_property_testing_example_of_the_readme_runs_and_its_tests_pass() -> None:
    namespace: dict[str, Any] = {"__name__": "readme_property_testing"}
    exec(compile(_readme_section("Property-testing your pipeline"), str(README), "exec"), namespace)
    tests = {name: fn for name, fn in namespace.items() if name.startswith("test_")}
    assert len(tests) == 3
    for fn in tests.values():
        fn()
