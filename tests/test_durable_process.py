"""Issue 5's "done means", with real separate processes (tests/_durable_worker.py).

- A run killed with SIGKILL mid-way, then run again in a new process with the
  same run id, finishes with the right result, the file passes
  ``PRAGMA integrity_check``, and no step with a committed row runs again
  (with ``durability="sync"``: no step that finished runs again).
- Pause, process exit, resume in a new process with a fresh store object
  works, and the steps before the interrupt ran once in total (SQLite and a
  real redis-server).
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import _durable_worker
import _redis_server
import pytest

from dagfn.store import SqliteStore

redis_url = _redis_server.redis_url

WORKER = str(Path(__file__).with_name("_durable_worker.py"))
TOTAL = _durable_worker.LANES * _durable_worker.STEPS_PER_LANE
EXPECTED = [_durable_worker.STEPS_PER_LANE * (k + 1) for k in range(_durable_worker.LANES)]
_prefixes = itertools.count()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    return str(verdict)


def _kill_mid_way(db: Path, log: Path, durability: str) -> None:
    """Start the lanes run; SIGKILL it once a third of its steps finished."""
    process = subprocess.Popen(
        [sys.executable, WORKER, "lanes", f"sqlite:{db}", "k", str(log), durability],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_lines(log)) < TOTAL // 3:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert len(_lines(log)) < TOTAL, "the run finished before it was killed"


@pytest.mark.parametrize("durability", ["batched", "sync"])
def test_a_run_killed_with_sigkill_resumes_without_rerunning_committed_steps(
    tmp_path: Path, durability: str
) -> None:
    db, first_log, second_log = tmp_path / "j.db", tmp_path / "1.log", tmp_path / "2.log"
    _kill_mid_way(db, first_log, durability)
    assert _integrity(db) == "ok"
    with SqliteStore(db) as store:
        committed = {p for p, e in store.entries("k").items() if e.status == "done"}
        assert store.get_run("k").status == "running"
    finished_before = set(_lines(first_log))
    assert committed, "nothing was committed before the kill"
    assert committed <= finished_before  # a row is recorded before its finish event
    if durability == "sync":
        assert committed == finished_before  # every finished step was committed first

    assert _durable_worker.call("lanes", f"sqlite:{db}", "k", str(second_log), durability) == {
        "value": EXPECTED
    }
    ran_again = Counter(_lines(second_log))
    assert not committed & set(ran_again), "a step with a committed row ran again"
    if durability == "sync":
        assert not finished_before & set(ran_again), "a finished step ran again"
    # Every step ran once in the second process or had its row before it.
    assert set(ran_again) | committed == finished_before | set(ran_again)
    assert len(set(ran_again) | committed) == TOTAL
    assert max(ran_again.values()) == 1
    assert _integrity(db) == "ok"
    with SqliteStore(db) as store:
        assert store.get_run("k").status == "succeeded"
        assert len(store.entries("k")) == TOTAL
    # A third process: the finished run calls no step at all.
    third_log = tmp_path / "3.log"
    assert _durable_worker.call("lanes", f"sqlite:{db}", "k", str(third_log), durability) == {
        "value": EXPECTED
    }
    assert _lines(third_log) == []


def _pause_then_resume_in_new_processes(spec: str, log: Path) -> None:
    assert _durable_worker.call("review", spec, "rev", str(log)) == {
        "paused": "ask",
        "run_id": "rev",
    }
    assert _lines(log) == ["draft", "polish", "ask"]
    # A wrong answer in another process: refused, nothing ran, still paused.
    bad = subprocess.run(
        [sys.executable, WORKER, "answer", spec, "rev", str(log), '{"ok": "yes", "reason": "x"}'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0 and "InvalidAnswer" in bad.stderr
    good = _durable_worker.call("answer", spec, "rev", str(log), '{"ok": true, "reason": "fine"}')
    assert good == {"value": "published: fine"}
    assert Counter(_lines(log)) == Counter(draft=1, polish=1, ask=1, publish=1)


def test_pause_exit_and_resume_in_a_new_process_with_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    _pause_then_resume_in_new_processes(f"sqlite:{db}", tmp_path / "steps.log")
    assert _integrity(db) == "ok"
    with SqliteStore(db) as store:
        assert store.get_run("rev").status == "succeeded"


def test_pause_exit_and_resume_in_a_new_process_with_redis(tmp_path: Path, redis_url: str) -> None:
    prefix = f"process-test{next(_prefixes)}"
    _pause_then_resume_in_new_processes(f"redis:{redis_url}#{prefix}", tmp_path / "steps.log")
