"""Drawing a graph as a mermaid ``flowchart``, optionally coloured by a run's trace."""

from __future__ import annotations

import re
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
    iteration), an each step's body is drawn once, in a subgraph marked as mapped
    (``summaries[i]``), and with a `Trace` (or a mapping of step path to status)
    each step is classed ``completed``, ``failed``, ``recovered``, ``skipped`` or
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
    drawn: list[tuple[str, str]] = []  # (mermaid id, step path) of every step drawn
    lines.extend(_draw(plan, "n", "", (["n0"], None), lines, drawn, 1))
    if statuses:
        for name, style in _CLASSES.items():
            lines.append(f"    classDef {name} {style}")
        for node_id, path in drawn:
            status = _status(statuses, path)
            if status in _CLASSES:
                lines.append(f"    class {node_id} {status}")
    return "\n".join(lines) + "\n"


# A drawn each body's step stands for that step of every element: the worst status shows.
_WORST_FIRST = ("failed", "paused", "recovered", "skipped", "running", "completed")


def _status(statuses: Mapping[str, str], path: str) -> str | None:
    """The status of the step at ``path``; ``[i]`` in it matches every element index."""
    if "[i]/" not in path:
        return statuses.get(path)
    pattern = re.compile(re.escape(path).replace(re.escape("[i]/"), r"\[\d+\]/") + "$")
    found = {status for p, status in statuses.items() if pattern.match(p)}
    return next((s for s in _WORST_FIRST if s in found), None)


def _draw(
    plan: Plan,
    ids: str,
    prefix: str,
    sources: tuple[list[str], str | None],
    lines: list[str],
    drawn: list[tuple[str, str]],
    depth: int,
) -> list[str]:
    """Draw ``plan``'s steps (ids ``{ids}{step}``, paths after ``prefix``) and their edges;
    return the edges from its input, for the caller to draw outside any subgraph.

    ``sources``: the mermaid nodes that stand for the plan's input, and the label
    of the edges from them (an each body's are labelled ``each``). An each step's
    body is drawn once, inside a subgraph after it; its paths are ``<each>[i]/<step>``.
    """
    steps = plan.user_steps()
    feeding, via = sources

    def node_id(i: int) -> str:
        return f"{ids}{i}"

    def edge(d: int, label: str | None, to: str) -> list[str]:
        froms, label = (feeding, via) if d == 0 else ([node_id(d)], label)
        arrow = f"-->|{_label(label)}|" if label is not None else "-->"
        return [f"    {f} {arrow} {to}" for f in froms]

    # Group steps into nested subgraphs by their path prefixes.
    tree: dict[str, list[int]] = {}
    for i in steps:
        tree.setdefault(plan.paths[i].rpartition("/")[0], []).append(i)
    all_prefixes: set[str] = set()
    for p in tree:
        parts = p.split("/") if p else []
        for k in range(1, len(parts) + 1):
            all_prefixes.add("/".join(parts[:k]))
    sub_ids = {p: f"{ids}sg{k}" for k, p in enumerate(sorted(all_prefixes))}
    edges: list[str] = []
    from_input: list[str] = []

    def emit(group: str, level: int) -> None:
        pad = "    " * level
        for i in tree.get(group, []):
            name = plan.paths[i].rpartition("/")[2]
            if i in plan.eaches:  # the each step, then its body once, marked as mapped
                lines.append(f"{pad}{node_id(i)}[[{_label(name + ' (each)')}]]")
                lines.append(f"{pad}subgraph {node_id(i)}map[{_label(name + '[i] (mapped)')}]")
                body = plan.eaches[i].body
                # The body's input is one element of the each step's input.
                elements = [
                    f for d, _ in _inputs(plan, i) for f in (feeding if d == 0 else [node_id(d)])
                ]
                element = f"{prefix}{plan.paths[i]}[i]/"
                inner = (elements, "each")
                edges.extend(_draw(body, f"{node_id(i)}_", element, inner, lines, drawn, level + 1))
                lines.append(f"{pad}end")
                edges.extend(f"    {node_id(i)}_{j} --> {node_id(i)}" for j in _outputs(body))
            elif i in plan.loops:
                _draw_loop(plan, i, node_id(i), name, level, lines, edges)
            else:
                shape = ("{{", "}}") if i in plan.pauses else ("[", "]")
                lines.append(f"{pad}{node_id(i)}{shape[0]}{_label(name)}{shape[1]}")
            drawn.append((node_id(i), prefix + plan.paths[i]))
        children = sorted(p for p in all_prefixes if p.rpartition("/")[0] == group and p)
        for child in children:
            lines.append(f"{pad}subgraph {sub_ids[child]}[{_label(child.rpartition('/')[2])}]")
            emit(child, level + 1)
            lines.append(f"{pad}end")

    emit("", depth)
    for i in steps:
        if i in plan.eaches:  # its inputs feed its body's first steps instead
            continue
        for d, label in _inputs(plan, i):
            (from_input if d == 0 else edges).extend(edge(d, label, node_id(i)))
    lines.extend(edges)
    return from_input


def _outputs(plan: Plan) -> list[int]:
    """The user steps whose values make a body's output (what an element gives back)."""
    if not plan.internal[plan.output]:
        return [plan.output]
    return [d for d, _ in _inputs(plan, plan.output) if d != 0]


def _draw_loop(
    plan: Plan, i: int, node: str, name: str, depth: int, lines: list[str], edges: list[str]
) -> None:
    """A loop step as a subgraph holding its body; the body's output feeds its input again."""
    spec = plan.loops[i]
    body = spec.body
    pad = "    " * depth
    title = f"{name} (loop, at most {spec.max_steps} times)"
    lines.append(f"{pad}subgraph {node}[{_label(title)}]")
    lines.append(f"{pad}    {node}_0([{_label('state')}])")
    # The body's steps are not classed: each stands for every iteration's.
    edges.extend(_draw(body, f"{node}_", "", ([f"{node}_0"], None), lines, [], depth + 1))
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
