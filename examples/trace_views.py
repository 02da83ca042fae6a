"""The audit trail: a `Trace` of a run, its JSON, and mermaid pictures of the graph and the run.

    python examples/trace_views.py

`Trace()` is an `on_event` callable that keeps every step's attempts, times and digests;
`to_mermaid(graph, trace)` draws the graph with each step classed by what happened to it
(completed, failed, recovered, skipped); `to_gantt(trace)` draws the run's step attempts
over time (paste either into https://mermaid.live).
"""

from __future__ import annotations

import json

import trio

from dagfn import Trace, node, run_sync, to_gantt, to_mermaid


async def search(q: str) -> list[str]:
    await trio.sleep(0.01)
    return [f"{q} result {i}" for i in range(3)]


def flaky_rank(hits: list[str]) -> list[str]:
    raise RuntimeError("ranker down")


def first(hits: list[str]) -> str:
    return hits[0]


pipeline = node(search) >> (node(flaky_rank) >> node(first)).named("ranking").recover("none")


def main() -> int:
    trace = Trace()
    print(run_sync(pipeline, "trio", on_event=trace))
    for path, record in trace.steps.items():
        print(f"{path:<20} {record.status:<10} attempts={record.attempts}")
    kinds = [e["kind"] for e in json.loads(trace.to_json())["events"]]
    print(" ".join(kinds))  # every event as JSON, in order
    print(to_mermaid(pipeline, trace))
    print(to_gantt(trace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
