"""History and replay: list a run's steps, then run again from one step into a new run id.

    python examples/history_replay.py [STORE]

A journaled run on SQLite; `history(store, run_id)` lists its steps with status, attempts
and times; `replay(graph, run_id, step=..., new_run_id=...)` runs `score` and what depends
on it again, reusing every finished step that does not (here `fetch`, counted to show it).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import trio

from dagfn import history, node, replay, run
from dagfn.store import SqliteStore

calls = {"fetch": 0, "score": 0}


def fetch(url: str) -> str:
    calls["fetch"] += 1
    return f"<html>{url}</html>"


def score(page: str) -> int:
    calls["score"] += 1
    return len(page)


def report(n: int) -> str:
    return f"score {n}"


pipeline = node(fetch) >> node(score) >> node(report)


async def main(path: Path) -> int:
    with SqliteStore(path) as store:
        print(await run(pipeline, "example.org", store=store, run_id="first"))
        for row in history(store, "first"):
            print(f"  {row.step:<8} {row.status:<10} attempts={row.attempts}")
        again = await replay(pipeline, "first", step="score", store=store, new_run_id="again")
        print(again, calls)  # fetch ran once: the replay reused it
        assert calls == {"fetch": 1, "score": 2}
    return 0


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "runs.sqlite"
    raise SystemExit(trio.run(main, where))
