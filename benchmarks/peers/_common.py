"""What every peer shares: the workloads (imported by path), a probe that checks each run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

BENCHMARKS = Path(__file__).resolve().parents[1]
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from workloads import ROOT_INPUT, Dag, reference_values  # noqa: E402

__all__ = ["ROOT_INPUT", "Case", "Dag", "Probe", "Skip", "reference_values"]

# How a case's run is called: a coroutine function under asyncio or trio, or a plain call.
Runner = Literal["asyncio", "trio", "sync"]


class Skip(Exception):
    """A case this peer cannot express; the message says why (reported, never a crash)."""


@dataclass
class Probe:
    """Counts each step body's runs and the runs that started before all inputs were done.

    Every peer's step body calls `start(i)` first and `finish(i)` last: a peer that
    runs a node twice, or before its inputs exist, shows it here.
    """

    deps: tuple[tuple[int, ...], ...]
    runs: list[int] = field(default_factory=list)
    early: list[int] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        n = len(self.deps)
        self.runs = [0] * n
        self.early = [0] * n
        self.done = [False] * n

    def start(self, i: int) -> None:
        self.runs[i] += 1
        done = self.done
        for j in self.deps[i]:
            if not done[j]:
                self.early[i] += 1
                break

    def finish(self, i: int) -> None:
        self.done[i] = True

    def verdict(self, dag: Dag, values: tuple[int, ...] | None) -> tuple[bool, str]:
        """(correct, detail): every body ran once, none early, values equal the reference."""
        problems: list[str] = []
        twice = sum(1 for r in self.runs if r > 1)
        never = sum(1 for r in self.runs if r == 0)
        early = sum(1 for e in self.early if e)
        if twice:
            extra = sum(r - 1 for r in self.runs if r > 1)
            problems.append(f"{twice} steps ran more than once ({extra} extra runs)")
        if never:
            problems.append(f"{never} steps never ran")
        if early:
            problems.append(f"{early} steps started before all their inputs existed")
        if values is None:
            problems.append("no values returned")
        else:
            ref = reference_values(dag)
            wrong = sum(1 for a, b in zip(values, ref, strict=False) if a != b)
            wrong += abs(len(values) - len(ref))
            if wrong:
                problems.append(f"{wrong} step values differ from reference_values")
        return (not problems, "; ".join(problems) or "ok")


@dataclass
class Case:
    """One peer on one workload, built (outside the timing) and ready to run."""

    peer: str
    workload: str
    dag: Dag
    runner: Runner
    # run() returns every step's value by step number (or None if the peer cannot say).
    run: Callable[[], Any]
    probe: Probe
    # Workers that bound the makespan (None: unbounded), for the lower bound.
    workers: int | None = None
    note: str = ""
