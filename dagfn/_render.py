"""Drawing a graph as a mermaid ``flowchart``, optionally coloured by a run's trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagfn._graph import Graph
from dagfn._plan import Plan, Role, plan_of
from dagfn._trace import Trace

_CLASSES = {
    "completed": "fill:#d8f5d8,stroke:#2e7d32",
    "failed": "fill:#fde0e0,stroke:#c62828",
    "recovered": "fill:#fff3d6,stroke:#ef6c00",
    "skipped": "fill:#eeeeee,stroke:#9e9e9e,stroke-dasharray:4 3",
    "paused": "fill:#e3ecfd,stroke:#1565c0",
    "running": "fill:#fffde0,stroke:#f9a825",
}


def _label(text: str) -> str:
    """A mermaid label: quoted, with the characters mermaid would parse escaped."""
    escaped = (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
    )
    return f'"{escaped}"'


def _inputs(plan: Plan, i: int) -> list[tuple[int, str | None]]:
    """User steps (or 0, the input) feeding step ``i``, with edge labels, through plumbing."""
    gate_keys = plan.gate_keys
    found: dict[int, str | None] = {}
    stack: list[tuple[int, str | None]] = [(d, None) for d in plan.deps[i]]
    seen: set[tuple[int, str | None]] = set()
    while stack:
        d, label = stack.pop()
        if (d, label) in seen:
            continue
        seen.add((d, label))
        if d == 0 or not plan.internal[d]:
            if d not in found or found[d] is None:
                found[d] = label
        elif d in gate_keys:  # a route gate: the edge comes from the selector
            stack.append((plan.deps[d][1], str(gate_keys[d])))
        elif plan.roles[d] is Role.UNLESS:  # a fallback graph's gate
            stack.append((plan.deps[d][0], "on failure"))
        else:
            stack.extend((dd, label) for dd in plan.deps[d])
    return sorted(found.items())


def to_mermaid(graph: Graph[Any, Any, Any], trace: Trace | Mapping[str, str] | None = None) -> str:
    """A mermaid ``flowchart`` of ``graph``'s steps.

    Named subgraphs become mermaid subgraphs, a route's edges carry their case
    keys, and with a `Trace` (or a mapping of step path to status) each step
    is classed ``completed``, ``failed``, ``recovered``, ``skipped`` or
    ``paused``. Raises what building the plan raises (e.g. `DuplicatePath`).
    """
    plan = plan_of(graph)
    statuses: Mapping[str, str]
    if trace is None:
        statuses = {}
    elif isinstance(trace, Trace):
        statuses = {path: record.status for path, record in trace.steps.items()}
    else:
        statuses = trace
    steps = plan.user_steps()
    lines = ["flowchart TD", '    n0(["input"])']
    # Group steps into nested subgraphs by their path prefixes.
    tree: dict[str, list[int]] = {}
    for i in steps:
        prefix = plan.paths[i].rpartition("/")[0]
        tree.setdefault(prefix, []).append(i)
    prefixes = sorted(tree, key=lambda p: (p.count("/"), p))
    all_prefixes: set[str] = set()
    for p in prefixes:
        parts = p.split("/") if p else []
        for k in range(1, len(parts) + 1):
            all_prefixes.add("/".join(parts[:k]))
    ids = {p: f"sg{k}" for k, p in enumerate(sorted(all_prefixes))}

    def emit(prefix: str, depth: int) -> None:
        pad = "    " * depth
        for i in tree.get(prefix, []):
            name = plan.paths[i].rpartition("/")[2]
            shape = ("{{", "}}") if i in plan.pauses else ("[", "]")
            lines.append(f"{pad}n{i}{shape[0]}{_label(name)}{shape[1]}")
        children = sorted(p for p in all_prefixes if p.rpartition("/")[0] == prefix and p)
        for child in children:
            lines.append(f"{pad}subgraph {ids[child]}[{_label(child.rpartition('/')[2])}]")
            emit(child, depth + 1)
            lines.append(f"{pad}end")

    emit("", 1)
    for i in steps:
        for d, label in _inputs(plan, i):
            arrow = f"-->|{_label(label)}|" if label is not None else "-->"
            lines.append(f"    n{d} {arrow} n{i}")
    if statuses:
        for name, style in _CLASSES.items():
            lines.append(f"    classDef {name} {style}")
        for i in steps:
            status = statuses.get(plan.paths[i])
            if status in _CLASSES:
                lines.append(f"    class n{i} {status}")
    return "\n".join(lines) + "\n"
