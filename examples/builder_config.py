"""`Builder`: a graph that comes from data, here a JSON config file of steps.

    python examples/builder_config.py [CONFIG.json]

Each step of the config names a function from a registry and the steps whose outputs it
takes. `Builder(input=str, output=int)` declares the run's input and output types: the
result is a `Graph[str, int, ...]` for mypy, and `build()` checks the connected steps'
annotations (a root step must take a `str`, the output step must return an `int`), so a
config that wires a step to the wrong producer fails when it is built, naming both steps.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagfn import Builder, Graph, StepMismatch, run_sync


def words(text: str) -> list[str]:
    return text.split()


def count(ws: list[str]) -> int:
    return len(ws)


def longest(ws: list[str]) -> int:
    return max((len(w) for w in ws), default=0)


def title(text: str) -> str:
    return text.title()


def score(n: int, longest: int) -> int:
    return n * 10 + longest


REGISTRY: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (words, count, longest, title, score)
}

CONFIG = {
    "output": "score",
    "steps": [
        {"name": "words", "fn": "words"},
        {"name": "count", "fn": "count", "after": ["words"]},
        {"name": "longest", "fn": "longest", "after": ["words"]},
        {"name": "score", "fn": "score", "after": ["count", "longest"]},
    ],
}


def load(path: Path) -> Graph[str, int, Any]:
    config = json.loads(path.read_text())
    b = Builder(input=str, output=int)
    for step in config["steps"]:
        b.add(step["name"], REGISTRY[step["fn"]], after=tuple(step.get("after", ())))
    return b.build(output=config["output"])


def main(argv: list[str]) -> int:
    if argv:
        path = Path(argv[0])
    else:
        path = Path(tempfile.mkdtemp()) / "pipeline.json"
        path.write_text(json.dumps(CONFIG))
    graph = load(path)
    print(run_sync(graph, "structured concurrency for python"))
    broken = json.loads(path.read_text())  # an edit that wires a str into score's int
    broken["steps"].insert(0, {"name": "title", "fn": "title"})
    broken["steps"][-1]["after"] = ["count", "title"]
    path.write_text(json.dumps(broken))
    try:
        load(path)
    except StepMismatch as error:
        print(f"refused: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
