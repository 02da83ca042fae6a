"""Drawing a graph as a mermaid ``flowchart``, optionally coloured by a run's trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagfn._expr import callable_name
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
    keys, a loop is a subgraph holding its body (with an edge back for the next
    iteration), and with a `Trace` (or a mapping of step path to status) each
    step is classed ``completed``, ``failed``, ``recovered``, ``skipped`` or
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
    lines = ["flowchart TD", '    n0(["input"])']
    edges: list[str] = []
    classes: list[str] = []
    _draw(plan, "n", 1, lines, edges, classes, statuses)
    lines += edges
    if classes:
        lines += [f"    classDef {name} {style}" for name, style in _CLASSES.items()]
        lines += classes
    return "\n".join(lines) + "\n"


def _draw(
    plan: Plan,
    ids: str,
    depth: int,
    lines: list[str],
    edges: list[str],
    classes: list[str],
    statuses: Mapping[str, str],
) -> None:
    """Draw ``plan``'s user steps as nodes ``{ids}{i}`` (its input is ``{ids}0``)."""
    steps = plan.user_steps()
    # Group steps into nested subgraphs by their path prefixes.
    tree: dict[str, list[int]] = {}
    for i in steps:
        prefix = plan.paths[i].rpartition("/")[0]
        tree.setdefault(prefix, []).append(i)
    all_prefixes: set[str] = set()
    for p in tree:
        parts = p.split("/") if p else []
        for k in range(1, len(parts) + 1):
            all_prefixes.add("/".join(parts[:k]))
    sub_ids = {p: f"{ids}sg{k}" for k, p in enumerate(sorted(all_prefixes))}

    def emit(prefix: str, depth: int) -> None:
        pad = "    " * depth
        for i in tree.get(prefix, []):
            name = plan.paths[i].rpartition("/")[2]
            if i in plan.loops:
                _draw_loop(plan, i, f"{ids}{i}", name, depth, lines, edges, classes)
                continue
            shape = ("{{", "}}") if i in plan.pauses else ("[", "]")
            lines.append(f"{pad}{ids}{i}{shape[0]}{_label(name)}{shape[1]}")
        children = sorted(p for p in all_prefixes if p.rpartition("/")[0] == prefix and p)
        for child in children:
            lines.append(f"{pad}subgraph {sub_ids[child]}[{_label(child.rpartition('/')[2])}]")
            emit(child, depth + 1)
            lines.append(f"{pad}end")

    emit("", depth)
    for i in steps:
        for d, label in _inputs(plan, i):
            arrow = f"-->|{_label(label)}|" if label is not None else "-->"
            edges.append(f"    {ids}{d} {arrow} {ids}{i}")
    for i in steps:
        status = statuses.get(plan.paths[i])
        if status in _CLASSES:
            classes.append(f"    class {ids}{i} {status}")


def _draw_loop(
    plan: Plan,
    i: int,
    node: str,
    name: str,
    depth: int,
    lines: list[str],
    edges: list[str],
    classes: list[str],
) -> None:
    """A loop step as a subgraph holding its body; the body's output feeds its input again."""
    spec = plan.loops[i]
    body = spec.body
    pad = "    " * depth
    title = f"{name} (loop, at most {spec.max_steps} times)"
    lines.append(f"{pad}subgraph {node}[{_label(title)}]")
    lines.append(f"{pad}    {node}_0([{_label('state')}])")
    _draw(body, f"{node}_", depth + 1, lines, edges, classes, {})
    lines.append(f"{pad}end")
    until = _label(f"until {callable_name(spec.until)}, else again")
    out = body.output
    ends = [d for d, _ in _inputs(body, out)] if body.internal[out] else [out]
    edges.extend(f"    {node}_{end} -.->|{until}| {node}_0" for end in ends)


# -- gantt: a run's step attempts over time -------------------------------------------

_TAGS = {"finish": "done", "fail": "crit", "retry": "crit", "skip": "", "running": "active"}


def _gantt(title: str, tasks: list[tuple[str, str, str, float, float]]) -> str:
    """Mermaid ``gantt`` text: tasks (section, label, tag, start, end) in seconds."""
    lines = [
        "gantt",
        f"    title {_gantt_text(title)}",
        "    dateFormat x",
        "    axisFormat %S.%L s",
    ]
    if not tasks:
        return "\n".join(lines) + "\n"
    zero = min(t[3] for t in tasks)
    section = None
    for k, (where, label, tag, start, end) in enumerate(tasks):
        if where != section:
            section = where
            lines.append(f"    section {_gantt_text(where)}")
        begin = round((start - zero) * 1000)
        finish = max(round((end - zero) * 1000), begin)
        tags = f"{tag}, " if tag else ""
        lines.append(f"    {_gantt_text(label)} :{tags}t{k}, {begin}, {finish}")
    return "\n".join(lines) + "\n"


def _gantt_text(text: str) -> str:
    """Text mermaid's gantt parser reads as text: no ``:`` (it separates a task's data)."""
    return text.replace(":", "\uff1a").replace(";", ",").replace("\n", " ") or " "


def to_gantt(trace: Trace, *, title: str = "run") -> str:
    """A mermaid ``gantt`` of a run's step attempts over time, from its `Trace`.

    One section per step (in the order they started), one bar per attempt,
    from its start to its end: ``done`` when it finished, ``crit`` when it
    failed (a retry follows a failed attempt), ``active`` if the trace ends
    while it runs; a pause is a milestone. Times are trio's clock, in
    milliseconds from the first start.
    """
    opened: dict[str, tuple[int, float]] = {}
    order: dict[str, list[tuple[str, str, str, float, float]]] = {}
    last = max((e.at for e in trace.events), default=0.0)
    for event in trace.events:
        bars = order.setdefault(event.step, [])
        if event.kind == "start":
            opened[event.step] = (event.attempt or 1, event.at)
        elif event.kind == "pause":
            bars.append((event.step, "paused", "milestone", event.at, event.at))
        elif event.step in opened:
            attempt, since = opened.pop(event.step)
            what = {"retry": "failed", "fail": "failed", "skip": "cancelled"}
            outcome = what.get(event.kind, "done")
            if event.kind == "fail" and event.recovered:
                outcome = "failed, recovered"
            label = f"attempt {attempt} {outcome}"
            bars.append((event.step, label, _TAGS[event.kind], since, event.at))
    for step, (attempt, since) in opened.items():
        order[step].append((step, f"attempt {attempt} running", "active", since, last))
    tasks = [bar for bars in order.values() for bar in bars]
    return _gantt(title, tasks)


def gantt_of_rows(run_id: str, rows: list[Any], *, all_steps: bool = False) -> str:
    """A mermaid ``gantt`` of a journaled run's steps (`dagfn.history` rows), by wall clock."""
    tags = {"done": "done", "failed": "crit", "paused": "milestone"}
    tasks = [
        (r.step, r.status, tags.get(r.status, ""), r.started_at, r.finished_at)
        for r in sorted(rows, key=lambda r: (r.started_at, r.step))
        if all_steps or "<" not in r.step.rpartition("/")[2]
    ]
    return _gantt(f"run {run_id}", tasks)
