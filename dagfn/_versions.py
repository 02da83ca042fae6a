"""Before deploying a changed graph: can the runs a store holds go on with it?

`check_against` reads every run that has not succeeded (running, paused or
failed) and classifies it the way `resume` would treat it with the new graph:

- ``"resumable"``: the plan is the one journaled, and every journaled output
  and the input still read as their types: `resume` goes on as is;
- ``"reuse"``: the plan changed (`GraphChanged` without ``on_change="reuse"``);
  with it, the steps in ``rerun`` run again (changed, or downstream of a
  change) and the others' outputs are reused;
- ``"incompatible"``: a journaled output that would be reused no longer reads
  as its step's output type, or the input no longer reads as the input type;
  ``problems`` says which. Start a new run id, or `replay` from that step.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs

from dagfn._errors import expected
from dagfn._graph import Graph
from dagfn._journal import (
    JournalError,
    read_input,
    read_output,
    step_fingerprints,
    unchanged_closure,
)
from dagfn._plan import Plan, plan_of
from dagfn._storage import Entry, RunInfo, Store

Verdict = Literal["resumable", "reuse", "incompatible"]


@attrs.frozen
class RunCheck:
    """One stored run against the new graph (see the module docstring for ``verdict``)."""

    run_id: str
    status: str
    verdict: Verdict
    rerun: tuple[str, ...] = ()  # steps journaled that would run again (verdict "reuse")
    problems: tuple[str, ...] = ()  # why it is incompatible, naming the steps

    def __str__(self) -> str:
        head = f"{self.run_id} ({self.status}): "
        if self.verdict == "resumable":
            return head + "resumable as is"
        if self.verdict == "reuse":
            again = ", ".join(self.rerun) or "none"
            return head + f"resumable with on_change='reuse'; would run again: {again}"
        return head + "incompatible: " + "; ".join(self.problems)


@attrs.frozen
class Compatibility:
    """Every unfinished run of a store against a graph; ``ok`` when all can resume."""

    runs: tuple[RunCheck, ...]

    @property
    def ok(self) -> bool:
        """True when no run is incompatible."""
        return all(r.verdict != "incompatible" for r in self.runs)

    def __str__(self) -> str:
        if not self.runs:
            return "no unfinished runs"
        return "\n".join(map(str, self.runs))


def check_against(graph: Graph[Any, Any, Any], store: Store) -> Compatibility:
    """Classify every run in ``store`` that has not succeeded against ``graph``.

    Reads only (blocking: from async code, call it in a worker thread). Raises
    `InvalidArgument` for a non-graph; store errors propagate.
    """
    if not isinstance(graph, Graph):
        raise expected("a Graph", "graph", graph)
    plan = plan_of(graph)
    checks = [
        _check_run(plan, info, store.entries(info.run_id))
        for info in store.list_runs()
        if info.status != "succeeded"
    ]
    return Compatibility(tuple(sorted(checks, key=lambda c: c.run_id)))


def _check_run(plan: Plan, info: RunInfo, entries: dict[str, Entry]) -> RunCheck:
    problems: list[str] = []
    try:
        read_input(plan, info)
    except Exception as error:
        problems.append(f"the input no longer reads as the graph's input type ({_first(error)})")
    index = {plan.paths[i]: i for i in plan.user_steps()}
    rerun: list[str] = []
    same = info.fingerprint == plan.fingerprint
    if not same:
        rerun = _rerun(plan, info, entries)
    for path, entry in entries.items():
        i = index.get(path)
        if i is None or entry.status != "done" or entry.output_json is None or path in rerun:
            continue
        try:
            read_output(plan, i, entry.output_json)
        except JournalError as error:
            problems.append(f"step {path!r}: {_first(error)}")
    if problems:
        return RunCheck(info.run_id, info.status, "incompatible", tuple(rerun), tuple(problems))
    return RunCheck(info.run_id, info.status, "resumable" if same else "reuse", tuple(rerun))


def _rerun(plan: Plan, info: RunInfo, entries: dict[str, Entry]) -> list[str]:
    """Journaled steps that a resume with ``on_change="reuse"`` would compute again."""
    new = step_fingerprints(plan)
    old = json.loads(info.meta_json).get("steps", {})
    dirty = {p for p in new if p not in old or old[p] != new[p]}
    kept = unchanged_closure(plan, dirty)
    return sorted(
        path
        for path, e in entries.items()
        if path in new and path not in kept and e.status == "done"
    )


def _first(error: BaseException) -> str:
    return str(error).split("; start a new run id")[0]
