"""examples/state_rag.py runs, and gives the same state under any completion order."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _support import vrun
from hypothesis import given
from hypothesis import strategies as st

PATH = Path(__file__).parent.parent / "examples" / "state_rag.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("state_rag_example", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load()
QUESTIONS = (
    "What does a nursery wait for?",
    "hello there",
    "write about cancellation at checkpoints",
)


def run_virtual(question: str) -> Any:
    return vrun(example.pipeline, example.RAGState(question=question)).unwrap()


BASELINE = {q: run_virtual(q) for q in QUESTIONS}


@given(st.permutations(sorted(example.LATENCY)), st.sampled_from(QUESTIONS))
def test_the_state_is_the_same_whatever_order_the_nodes_finish(
    names: list[str], question: str
) -> None:
    latency = dict(example.LATENCY)
    try:
        for rank, name in enumerate(names):
            example.LATENCY[name] = rank / 100  # a new finishing order
        state = run_virtual(question)
    finally:
        example.LATENCY.update(latency)
    assert state == BASELINE[question]


def test_parallel_deltas_are_folded_in_argument_order() -> None:
    state = BASELINE[QUESTIONS[0]]
    # classify finishes before chunk (0.02 s against 0.03 s), yet chunk's delta comes first.
    assert state.trail == ("ingest", "chunk", "classify", "retrieve", "generate")
    assert state.intent == "factual"
    assert state.answer.startswith("Structured concurrency")


@pytest.mark.parametrize(
    ("question", "route_taken"),
    [(QUESTIONS[1], "no_retrieval"), (QUESTIONS[2], "brainstorm")],
)
def test_the_route_follows_the_intent(question: str, route_taken: str) -> None:
    assert BASELINE[question].trail[3] == route_taken


def test_main_prints_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert example.main(["What", "does", "a", "nursery", "wait", "for?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Structured concurrency means every task lives in a nursery.")
    assert "steps: ingest -> chunk -> classify -> retrieve -> generate" in out
    assert sys.modules.get("state_rag_example") is None  # loaded by path, not installed
