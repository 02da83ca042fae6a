"""Step paths users expect: anonymous joins, steps scoped by route keys, and what stays an error."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from returns.result import Failure, Success

from dagfn import DuplicatePath, GraphChanged, gather, loop, node, route, run_sync
from dagfn._plan import plan_of
from dagfn.store import MemoryStore


@node
def inc(x: int) -> int:
    return x + 1


@node
def double(x: int) -> int:
    return x * 2


@node
def negate(x: int) -> int:
    return -x


def add(a: int, b: int) -> int:
    return a + b


def user_paths(g: object) -> list[str]:
    plan = plan_of(g)  # type: ignore[arg-type]
    return [plan.paths[i] for i in plan.user_steps()]


def test_two_anonymous_joins_in_one_graph_get_paths_from_where_they_stand() -> None:
    first = (inc & double).join(lambda a, b: a + b)
    g = (first & negate).join(lambda s, n: s * n)
    assert user_paths(g) == [
        "inc",
        "double",
        "join(inc,double)",
        "negate",
        "join(join(inc,double),negate)",
    ]
    assert run_sync(g, 3) == Success((4 + 6) * -3)


def test_anonymous_joins_of_the_same_branches_are_numbered_in_the_order_met() -> None:
    g = ((inc & double).join(lambda a, b: a + b) & (inc & double).join(lambda a, b: a * b)).join(
        add
    )
    assert user_paths(g) == ["inc", "double", "join(inc,double)", "join(inc,double)~2", "add"]
    assert run_sync(g, 1) == Success(2 + 2 + 2 * 2)
    assert plan_of(g).paths == plan_of(g).paths  # stable: one plan per graph, same each build


def test_an_anonymous_join_is_scoped_like_any_step() -> None:
    g = (inc & double).join(lambda a, b: a - b).named("diff")
    assert user_paths(g) == ["diff/inc", "diff/double", "diff/join(inc,double)"]


def test_one_node_serves_several_route_keys_as_one_step_per_branch() -> None:
    calls: list[int] = []

    @node
    def handle(x: int) -> int:
        calls.append(x)
        return x * 10

    def desk(x: int) -> Literal["billing", "refund", "other"]:
        return "billing" if x == 1 else "refund" if x == 2 else "other"

    g = route(desk).cases({"billing": handle, "refund": handle, "other": inc >> handle})
    assert sorted(user_paths(g)) == [
        "billing/handle",
        "desk",
        "other/handle",
        "other/inc",
        "refund/handle",
    ]
    assert [run_sync(g, x) for x in (1, 2, 3)] == [Success(10), Success(20), Success(40)]
    assert calls == [1, 2, 4]


class Desk(enum.Enum):
    BILLING = "b"
    TECH = "t"


def test_an_enum_key_scopes_by_its_name_and_nested_routes_nest() -> None:
    def desk(x: int) -> Desk:
        return Desk.BILLING if x > 0 else Desk.TECH

    def big(x: int) -> bool:
        return abs(x) > 10

    inner = route(big).cases({True: double, False: inc})
    g = route(desk).cases({Desk.BILLING: inner, Desk.TECH: inner})
    paths = user_paths(g)
    assert "BILLING/big" in paths and "TECH/True/double" in paths and "BILLING/False/inc" in paths
    assert run_sync(g, 20) == Success(40)
    assert run_sync(g, -3) == Success(-2)


def test_a_failure_in_a_branch_names_the_scoped_path() -> None:
    @node
    def boom(x: int) -> int:
        raise ValueError(x)

    def pick(x: int) -> Literal["a", "b"]:
        return "a"

    result = run_sync(route(pick).cases({"a": boom, "b": boom}), 1)
    assert isinstance(result, Failure) and result.failure().step == "a/boom"


def test_two_different_steps_the_user_named_alike_are_still_rejected_naming_both() -> None:
    other = node(lambda x: x).named("inc")  # another function, named like `inc`
    with pytest.raises(DuplicatePath, match="'inc'") as info:
        plan_of(inc >> double >> other)
    assert "test_paths.py" in info.value.places[0] and "test_paths.py" in info.value.places[1]
    join_named = (inc & double).join(add, name="double")  # a join named like a step
    with pytest.raises(DuplicatePath, match="'double'"):
        plan_of(join_named)


def test_graphs_without_routes_or_anonymous_joins_keep_their_plan_fingerprints() -> None:
    # Values computed by the lowering before branch scopes and anonymous joins' paths:
    # runs journaled with such graphs resume as they did.
    g = (inc & double).join(add) >> gather([inc.named("i2"), double.named("d2")]).named("sub")
    h = loop(inc.named("body"), until=lambda x: x > 5, max_steps=10)
    assert plan_of(g).fingerprint == "55d03d6118aed72082cc5793e5dc838b"
    assert plan_of(h).fingerprint == "177461bca4259237cb8956c714da9e87"


def test_a_run_journaled_under_an_old_path_resumes_with_on_change_reuse() -> None:
    store = MemoryStore()
    calls: list[str] = []

    @node
    def a(x: int) -> int:
        calls.append("a")
        return x + 1

    @node
    def flaky(x: int) -> int:
        calls.append("flaky")
        raise RuntimeError("down")

    def lam(p: int, q: int) -> int:
        return p + q

    old = (a & double).join(lam, name="lam") >> flaky  # as an anonymous join's path once was
    assert isinstance(run_sync(old, 1, store=store, run_id="r"), Failure)

    @node
    def fixed(x: int) -> int:
        return x

    new = (a & double).join(lambda p, q: p + q) >> fixed.named("flaky")
    with pytest.raises(GraphChanged, match="join"):
        run_sync(new, 1, store=store, run_id="r")
    assert run_sync(new, 1, store=store, run_id="r", on_change="reuse") == Success(4)
    assert calls == ["a", "flaky"]  # `a` was reused, not called again
