"""Every example in `examples/` runs as its docstring says, as its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# example -> text its output must contain (each shows the behaviour it is about)
EXPECTED = {
    "loop_refine.py": [
        "'A long draft' after 5 rounds",
        "critique#1: 2 attempts, completed",
        "polish#2: 1 attempts, recovered",
    ],
    "limits_budgets.py": ["12 summaries, 36 words counted; at most 2 LLM calls at once"],
    "gather_fold.py": ["(6, 0, 7)", "13", "{'apples': 6, 'pears': 0, 'plums': 7}"],
    "route_total.py": ["billing team: my invoice", "engineering: the app", "help desk: hello"],
    "fail_fast.py": ["cancelled: ['slow_quote']; not run: ['confirm']"],
    "history_replay.py": ["fetch    done", "{'fetch': 1, 'score': 2}"],
    "trace_views.py": ["ranking/flaky_rank   recovered", "class n2 recovered", "gantt"],
    "event_logging.py": [
        "WARNING fetch#1 retry fetch: attempt 1 failed: ConnectionError('reset by peer')",
        "INFO    fetch#2 finish fetch (attempt 2)",
        "<Success: 24>",
    ],
    "builder_config.py": [
        "<Success: 51>",
        "refused: step 'score' takes longest: int, but step 'title' (which it comes after) "
        "returns str",
    ],
    "data_shaped.py": [
        "From 4 sources: trio runs tasks in nurseries.",
        "<Success: From 4 sources",
        "'summaries[3]/summarize'",
    ],
    "executors.py": ["<Success: 35999820000200000>"],
    "redis_store.py": ["embed('typed graphs on trio') ran", "published 4 dims"],
}


def test_every_example_is_tested_here() -> None:
    # .ci/run, README, their own tests (asgi_app.py: tests/test_aio.py, over HTTP)
    tested = set(EXPECTED) | {"rag.py", "review.py", "state_rag.py", "asgi_app.py"}
    assert {p.name for p in (ROOT / "examples").glob("*.py")} <= tested


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_runs_and_shows_what_it_is_about(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if name == "redis_store.py":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for text in EXPECTED[name]:
        assert text in done.stdout, f"{name} printed:\n{done.stdout}"
    if name == "redis_store.py":  # the second process ran only `publish`
        assert done.stdout.count("embed(") == 1, done.stdout
