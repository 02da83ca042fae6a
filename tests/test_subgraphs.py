"""Named subgraphs: one step of a larger graph, with sharing across the boundary intact."""

from __future__ import annotations

from typing import Literal

import pytest
from returns.result import Success

from dagfn import DuplicatePath, Graph, node, route, run_sync
from dagfn._plan import plan_of

calls: list[str] = []


@node
def fetch(x: int) -> int:
    calls.append("fetch")
    return x + 1


@node
def semantic(x: int) -> int:
    return x * 10


@node
def keyword(x: int) -> int:
    return x * 100


def rerank(a: int, b: int) -> int:
    return a + b


def pair(a: object, b: object) -> tuple[object, object]:
    return (a, b)


@node
def generate(x: int) -> str:
    return f"answer {x}"


retrieval = (semantic & keyword).join(rerank).named("retrieval")


def test_a_named_subgraph_is_one_step_of_a_larger_graph_with_prefixed_paths() -> None:
    g = fetch >> retrieval >> generate
    assert plan_of(g).paths[1:] == [
        "fetch",
        "retrieval/semantic",
        "retrieval/keyword",
        "retrieval/rerank",
        "generate",
    ]
    assert run_sync(g, 1) == Success("answer 220")


def test_a_step_shared_inside_and_outside_runs_once_with_the_path_of_its_first_use() -> None:
    inner = (fetch >> semantic).named("sub")
    calls.clear()
    outside_first = (fetch & inner).join(pair)
    assert run_sync(outside_first, 1) == Success((2, 20))
    assert calls == ["fetch"]
    assert plan_of(outside_first).paths[1:] == ["fetch", "sub/semantic", "pair"]

    calls.clear()
    inside_first = (inner & fetch).join(pair)
    assert run_sync(inside_first, 1) == Success((20, 2))
    assert calls == ["fetch"]
    assert plan_of(inside_first).paths[1:] == ["sub/fetch", "sub/semantic", "pair"]


def test_subgraphs_nest_and_share_with_each_other() -> None:
    upper = (fetch >> retrieval).named("upper")
    g = (upper & (fetch >> generate)).join(pair)
    assert plan_of(g).paths[1:] == [
        "upper/fetch",
        "upper/retrieval/semantic",
        "upper/retrieval/keyword",
        "upper/retrieval/rerank",
        "generate",
        "pair",
    ]
    calls.clear()
    assert run_sync(g, 1) == Success((220, "answer 2"))
    assert calls == ["fetch"]


def test_a_subgraph_inside_a_route_branch() -> None:
    def size(x: int) -> Literal["small", "big"]:
        return "small" if x < 10 else "big"

    small: Graph[int, int, object] = retrieval
    g = route(size).cases({"small": small, "big": keyword.named("just_keyword")}) >> generate
    assert "small/retrieval/rerank" in plan_of(g).paths
    assert run_sync(g, 1) == Success("answer 110")
    assert run_sync(g, 10) == Success("answer 1000")


def test_the_same_subgraph_on_two_inputs_is_two_steps_and_clashes_by_path() -> None:
    # Sharing is per input: on another input the subgraph is other steps with
    # the same paths, which the plan rejects; name the second use differently.
    clash = (retrieval & (fetch >> retrieval)).join(pair)
    with pytest.raises(DuplicatePath, match="retrieval/semantic"):
        plan_of(clash)
    g = (retrieval & (fetch >> retrieval.named("again"))).join(pair)
    assert "again/retrieval/rerank" in plan_of(g).paths
    assert run_sync(g, 1) == Success((110, 220))
