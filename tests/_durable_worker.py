"""A separate process for tests/test_durable_process.py: runs or resumes a journaled graph.

Usage (the store is ``sqlite:PATH``, ``redis:URL#PREFIX`` or ``postgres:DSN#SCHEMA``)::

    python tests/_durable_worker.py lanes STORE RUN_ID LOG DURABILITY [LEASE [WAIT]]
    python tests/_durable_worker.py review STORE RUN_ID LOG
    python tests/_durable_worker.py answer STORE RUN_ID LOG ANSWER_JSON
    python tests/_durable_worker.py owned STORE RUN_ID LOG WAIT

``owned`` runs three slow steps in a chain (each appends its name to ``LOG``
when its body starts), with ``wait=True`` or ``False`` (WAIT is ``wait`` or
``nowait``); a `RunInProgress` or `AlreadyAnswered` is printed as JSON too.

``lanes`` runs 4 lanes of 15 async steps (each sleeps a little); when a step
has finished (its ``finish`` event, which comes after its journal row was
recorded, and in ``sync`` mode committed), its path is appended to ``LOG``.
``review`` runs a graph with an interrupt; ``answer`` resumes it. Their steps
append their names to ``LOG`` as they run. The outcome is printed as one JSON
line on stdout. Importing this module runs nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Literal, cast

import attrs
import trio
from returns.result import Failure

from dagfn import (
    AlreadyAnswered,
    Event,
    Graph,
    Paused,
    RunInProgress,
    gather,
    interrupt,
    node,
    resume_sync,
    run_sync,
)
from dagfn.store import PostgresStore, RedisStore, SqliteStore, Store

LANES = 4
STEPS_PER_LANE = 15
STEP_SECONDS = 0.02


def call(*args: str) -> dict[str, Any]:
    """Run this worker in a new process with ``args``; its outcome (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def open_store(spec: str) -> Store:
    """A store from ``sqlite:PATH``, ``redis:URL#PREFIX`` or ``postgres:DSN#SCHEMA``."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        return SqliteStore(rest)
    url, _, prefix = rest.partition("#")
    if kind == "postgres":
        return PostgresStore(url, schema=prefix)
    return RedisStore(url, prefix=prefix)


class Log:
    """Appends lines to a file with one ``write`` each (O_APPEND: whole lines even on kill)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def add(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())


def lanes() -> Graph[int, tuple[int, ...], Any]:
    """Lane k adds k + 1 in each of its steps; the output is every lane's last value."""
    tails: list[Graph[int, int, Any]] = []
    for k in range(LANES):

        async def step(x: int, k: int = k) -> int:
            await trio.sleep(STEP_SECONDS * (1 + k % 2))
            return x + k + 1

        lane: Graph[int, int, Any] | None = None
        for j in range(STEPS_PER_LANE):
            one = node(step).named(f"lane{k}.step{j:02}")
            lane = one if lane is None else lane >> one
        assert lane is not None
        tails.append(lane)
    return gather(tails)


@attrs.frozen
class Verdict:
    ok: bool
    reason: str


def review(log: Log) -> Graph[str, str, Any]:
    """draft -> polish -> ask (interrupt: Verdict) -> publish."""

    @node
    def draft(topic: str) -> str:
        log.add("draft")
        return f"draft on {topic}"

    @node
    def polish(text: str) -> str:
        log.add("polish")
        return text.upper()

    def ask(text: str) -> str:
        log.add("ask")
        return f"publish {text!r}?"

    @node
    def publish(v: Verdict) -> str:
        log.add("publish")
        return ("published: " if v.ok else "held: ") + v.reason

    return draft >> polish >> interrupt(ask, answer=Verdict) >> publish


def owned(log: Log) -> Graph[int, int, Any]:
    """first -> second -> third: each logs its name, sleeps, and adds one."""
    chain: Graph[int, int, Any] | None = None
    for name in ("first", "second", "third"):

        async def step(x: int, name: str = name) -> int:
            log.add(name)
            await trio.sleep(0.15)
            return x + 1

        one = node(step).named(name)
        chain = one if chain is None else chain >> one
    assert chain is not None
    return chain


def _report(outcome: Any) -> None:
    failure = outcome.failure() if isinstance(outcome, Failure) else None
    if isinstance(failure, Paused):
        print(json.dumps({"paused": failure.step, "run_id": failure.run_id}))
    elif failure is not None:
        print(json.dumps({"failed": str(failure)}))
    else:
        value = outcome.unwrap()
        print(json.dumps({"value": list(value) if isinstance(value, tuple) else value}))


def main(argv: list[str]) -> None:
    command, spec, run_id, log_path = argv[:4]
    log = Log(log_path)
    store = open_store(spec)
    try:
        _run(command, run_id, log, store, argv)
    except RunInProgress as busy:
        print(json.dumps({"in_progress": busy.run_id}))
    except AlreadyAnswered as answered:
        print(json.dumps({"already_answered": answered.step}))
    finally:
        store.close()


def _run(command: str, run_id: str, log: Log, store: Store, argv: list[str]) -> None:
    if command == "lanes":
        durability = cast(Literal["sync", "batched", "exit"], argv[4])

        def on_event(event: Event) -> None:
            if event.kind == "finish":
                log.add(event.step)

        lease = float(argv[5]) if len(argv) > 5 else 30.0
        outcome: Any = run_sync(
            lanes(),
            0,
            store=store,
            run_id=run_id,
            durability=durability,
            on_event=on_event,
            lease=lease,
            wait=argv[6:7] != ["nowait"],
        )
    elif command == "owned":
        outcome = run_sync(owned(log), 0, store=store, run_id=run_id, wait=argv[4] == "wait")
    elif command == "review":
        outcome = run_sync(review(log), "dogs", store=store, run_id=run_id)
    else:
        outcome = resume_sync(review(log), run_id, store=store, answer=json.loads(argv[4]))
    _report(outcome)


if __name__ == "__main__":
    main(sys.argv[1:])
