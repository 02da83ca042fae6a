"""Issue 15: one owner per run id (a lease in the store), answers exactly once, strict answers.

On every store (memory, SQLite, a real redis-server, a real PostgreSQL
server), in one process (trio tasks) and across processes
(tests/_durable_worker.py): a run id has one live owner, a second caller
waits for it (or gets `RunInProgress`), an owner whose lease was taken over
cannot write, and a pause takes exactly one answer.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _durable_worker
import attrs
import pytest
import trio
from _stores import Opener
from returns.result import Result, Success

from dagfn import (
    AlreadyAnswered,
    Graph,
    GraphChanged,
    InvalidAnswer,
    InvalidArgument,
    LeaseLost,
    Paused,
    RunFailure,
    RunInProgress,
    interrupt,
    node,
    resume,
    resume_sync,
    run,
    run_sync,
)
from dagfn.store import SqliteStore

WORKER = str(Path(__file__).with_name("_durable_worker.py"))
_names = itertools.count()


def counted_chain(calls: Counter[str], seconds: float = 0.02) -> Graph[int, int, Any]:
    """one -> two -> three: async steps that count their calls, sleep and add one."""
    chain: Graph[int, int, Any] | None = None
    for name in ("one", "two", "three"):

        async def step(x: int, name: str = name) -> int:
            calls[name] += 1
            await trio.sleep(seconds)
            return x + 1

        one = node(step).named(name)
        chain = one if chain is None else chain >> one
    assert chain is not None
    return chain


def test_twenty_tasks_on_one_run_id_run_every_step_once(open_store: Opener) -> None:
    """The double click, in one process: every caller gets the one run's result."""
    calls: Counter[str] = Counter()
    graph = counted_chain(calls)
    results: list[Result[int, RunFailure[Any]]] = []

    async def caller() -> None:
        results.append(await run(graph, 1, store=open_store(), run_id="same"))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(caller)

    trio.run(main)
    assert calls == Counter(one=1, two=1, three=1)
    assert results == [Success(4)] * 20


def test_wait_false_fails_at_once_naming_the_run_id(open_store: Opener) -> None:
    release = trio.Event()
    started = trio.Event()

    @node
    async def slow(x: int) -> int:
        started.set()
        await release.wait()
        return x * 10

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run(slow, 4, store=open_store(), run_id="busy id"))
            await started.wait()
            with pytest.raises(RunInProgress, match="run 'busy id' is in progress") as busy:
                await run(slow, 4, store=open_store(), run_id="busy id", wait=False)
            assert busy.value.run_id == "busy id" and busy.value.expires_in > 0
            with pytest.raises(RunInProgress):
                await resume(slow, "busy id", store=open_store(), wait=False)
            release.set()
        again = await run(slow, 4, store=open_store(), run_id="busy id", wait=False)
        assert again == Success(40)

    trio.run(main)


@pytest.mark.parametrize(("argument", "value"), [("wait", "yes"), ("lease", 0), ("lease", -1.0)])
def test_bad_wait_and_lease_are_refused_naming_them(
    sqlite: SqliteStore, argument: str, value: object
) -> None:
    with pytest.raises(InvalidArgument, match=argument) as caught:
        options: dict[str, Any] = {argument: value}
        run_sync(counted_chain(Counter()), 1, store=sqlite, **options)
    assert caught.value.argument == argument


def test_the_lease_is_released_when_a_run_ends_however_it_ends(sqlite: SqliteStore) -> None:
    @node
    def boom(x: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sync(boom, 1, store=sqlite, run_id="k")
    lease = sqlite.lease("k")
    assert lease is not None and lease.expires_at == 0.0
    with pytest.raises(RunInProgress, match="'k'"):
        # a lease never released (a dead owner) makes the run id wait
        claim = sqlite.take_run("k", fingerprint="", meta_json="{}", owner="x", ttl=30)
        assert claim.token is not None
        run_sync(boom, 1, store=sqlite, run_id="k", wait=False)


def test_an_owner_whose_lease_was_taken_over_cannot_write(open_store: Opener) -> None:
    """Fencing: the run blocks its event loop past its lease; another owner takes the
    run over; none of the old owner's later rows is written, and it ends with LeaseLost."""
    store, thief = open_store(), open_store()
    taken: list[int | None] = []

    @node
    def hog(x: int) -> int:
        time.sleep(0.5)  # blocks trio: no renewal, the 0.2 s lease expires
        claim = thief.take_run("f", fingerprint="", meta_json="{}", owner="thief", ttl=30)
        taken.append(claim.token)
        return x + 1

    @node
    def after(x: int) -> int:
        return x + 1

    with pytest.raises(LeaseLost, match="'f'"):
        run_sync(hog >> after, 1, store=store, run_id="f", lease=0.2)
    assert taken == [2]
    assert store.entries("f") == {}
    assert store.get_run("f").status == "running"
    lease = store.lease("f")
    assert lease is not None and (lease.token, lease.owner) == (2, "thief")


def test_a_run_longer_than_its_lease_keeps_it_by_renewing(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    graph = counted_chain(calls, seconds=0.25)  # 0.75 s in all, lease 0.3 s

    async def main() -> None:
        store = open_store()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run(graph, 0, store=store, run_id="long", lease=0.3))
            await trio.sleep(0.6)
            with pytest.raises(RunInProgress):
                await run(graph, 0, store=open_store(), run_id="long", wait=False, lease=0.3)
        assert await run(graph, 0, store=open_store(), run_id="long") == Success(3)

    trio.run(main)
    assert calls == Counter(one=1, two=1, three=1)


# -- answers exactly once ---------------------------------------------------------------


@attrs.frozen
class Verdict:
    ok: bool
    reason: str


def review_graph(calls: Counter[str]) -> Graph[str, str, Any]:
    @node
    def draft(topic: str) -> str:
        calls["draft"] += 1
        return f"draft on {topic}"

    def ask(text: str) -> str:
        return f"publish {text!r}?"

    @node
    def publish(v: Verdict) -> str:
        calls["publish"] += 1
        return ("published: " if v.ok else "held: ") + v.reason

    return draft >> interrupt(ask, answer=Verdict) >> publish


def test_two_concurrent_answers_one_takes_effect_the_other_is_already_answered(
    open_store: Opener,
) -> None:
    calls: Counter[str] = Counter()
    graph = review_graph(calls)
    assert isinstance(run_sync(graph, "x", store=open_store(), run_id="p").failure(), Paused)
    outcomes: dict[str, object] = {}

    async def answer(verdict: Verdict) -> None:
        try:
            outcomes[verdict.reason] = await resume(graph, "p", store=open_store(), answer=verdict)
        except AlreadyAnswered as error:
            outcomes[verdict.reason] = error

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer, Verdict(True, "go"))
            nursery.start_soon(answer, Verdict(False, "hold"))

    trio.run(main)
    won = [reason for reason, o in outcomes.items() if isinstance(o, Success)]
    lost = [o for o in outcomes.values() if isinstance(o, AlreadyAnswered)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost[0].step == "ask" and "already answered" in str(lost[0])
    expected = "published: go" if won == ["go"] else "held: hold"
    assert outcomes[won[0]] == Success(expected)
    assert run_sync(graph, "x", store=open_store(), run_id="p") == Success(expected)
    assert calls == Counter(draft=1, publish=1)


def test_a_resume_that_raises_graph_changed_records_no_answer(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    graph = review_graph(calls)
    run_sync(graph, "x", store=open_store(), run_id="g")

    def extra(text: str) -> str:
        return text + "!"

    changed = review_graph(calls) >> node(extra)
    with pytest.raises(GraphChanged):
        resume_sync(changed, "g", store=open_store(), answer=Verdict(True, "first"))
    store = open_store()
    assert store.entries("g")["ask"].status == "paused"
    assert store.get_run("g").status == "paused"
    assert resume_sync(graph, "g", store=store, answer=Verdict(False, "second")) == Success(
        "held: second"
    )
    assert calls["publish"] == 1


@pytest.mark.parametrize(
    ("answer_type", "answer", "detail"),
    [
        (list[str], "abc", "expected a list, tuple or set, got 'abc'"),
        (tuple[str, ...], "ab", "got 'ab'"),
        (frozenset[str], "ab", "got 'ab'"),
        (list[str], {"a": 1}, "got {'a': 1}"),
        (str, b"text", "expected str, got b'text'"),
        (bytes, "text", "expected bytes, got 'text'"),
        (int, "3", "expected int"),
    ],
)
def test_answers_are_structured_strictly(
    open_store: Opener, answer_type: Any, answer: object, detail: str
) -> None:
    """A str is not a list, bytes are not text; the run stays paused, nothing recorded."""

    def ask(x: int) -> str:
        return "?"

    graph: Graph[int, Any, Any] = interrupt(ask, answer=answer_type)
    run_sync(graph, 1, store=open_store(), run_id="s")
    with pytest.raises(InvalidAnswer, match=detail.replace("(", r"\(").replace("[", r"\[")):
        resume_sync(graph, "s", store=open_store(), answer=answer)
    assert open_store().entries("s")["ask"].status == "paused"


@pytest.mark.parametrize(
    ("answer_type", "answer"),
    [(list[str], ["abc"]), (tuple[str, ...], ("a", "b")), (bytes, b"\x00raw"), (str, "text")],
)
def test_answers_of_the_right_shape_are_taken_as_they_are(
    open_store: Opener, answer_type: Any, answer: object
) -> None:
    def ask(x: int) -> str:
        return "?"

    graph: Graph[int, Any, Any] = interrupt(ask, answer=answer_type)
    run_sync(graph, 1, store=open_store(), run_id="ok")
    assert resume_sync(graph, "ok", store=open_store(), answer=answer) == Success(answer)


# -- across processes -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store that separate processes share, as `_durable_worker.open_store` reads it."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'j.db'}"
    elif request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        yield f"redis:{url}#owner-test-{os.getpid()}-{next(_names)}"
    else:
        dsn: str = request.getfixturevalue("postgres_dsn")
        yield f"postgres:{dsn}#owner_test_{os.getpid()}_{next(_names)}"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _outcome(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("wait", ["wait", "nowait"])
def test_two_processes_on_one_run_id_run_no_step_twice(
    store_spec: str, tmp_path: Path, wait: str
) -> None:
    log = tmp_path / "steps.log"
    for trial in range(3):
        run_id = f"twice-{trial}"
        both = [_start("owned", store_spec, run_id, str(log), wait) for _ in range(2)]
        outcomes = [_outcome(p) for p in both]
        values = [o for o in outcomes if "value" in o]
        assert values and all(o == {"value": 3} for o in values), outcomes
        busy = [o for o in outcomes if "in_progress" in o]
        assert all(o == {"in_progress": run_id} for o in busy)
        if wait == "wait":
            assert not busy  # both waited for the one run and got its result
    assert Counter(_lines(log)) == Counter(first=3, second=3, third=3)


def test_two_processes_answering_one_pause_one_answer_takes_effect(
    store_spec: str, tmp_path: Path
) -> None:
    log = tmp_path / "steps.log"
    assert _outcome(_start("review", store_spec, "two", str(log))) == {
        "paused": "ask",
        "run_id": "two",
    }
    answers = ['{"ok": true, "reason": "go"}', '{"ok": false, "reason": "hold"}']
    outcomes = [
        _outcome(p) for p in [_start("answer", store_spec, "two", str(log), a) for a in answers]
    ]
    won = [o["value"] for o in outcomes if "value" in o]
    assert len(won) == 1 and won[0] in ("published: go", "held: hold"), outcomes
    assert {"already_answered": "ask"} in outcomes
    assert Counter(_lines(log)) == Counter(draft=1, polish=1, ask=1, publish=1)


def test_a_sigkilled_owners_lease_expires_and_the_run_resumes(
    store_spec: str, tmp_path: Path
) -> None:
    """Until the dead owner's lease expires the run id is in progress; then it resumes."""
    first, second = tmp_path / "1.log", tmp_path / "2.log"
    total = _durable_worker.LANES * _durable_worker.STEPS_PER_LANE
    lease = "5.0"
    process = _start("lanes", store_spec, "k", str(first), "batched", lease)
    deadline = time.monotonic() + 60
    while len(_lines(first)) < total // 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert len(_lines(first)) < total
    killed_at = time.monotonic()
    # The dead owner's lease is still live: a caller that will not wait is told so.
    assert _outcome(_start("lanes", store_spec, "k", str(second), "batched", lease, "nowait")) in (
        {"in_progress": "k"},
        {"value": [15, 30, 45, 60]},  # only if 5 s passed already (a very slow machine)
    )
    if time.monotonic() - killed_at < 4.0:
        assert _lines(second) == []
    assert _outcome(_start("lanes", store_spec, "k", str(second), "batched", lease)) == {
        "value": [_durable_worker.STEPS_PER_LANE * (k + 1) for k in range(_durable_worker.LANES)]
    }
    ran_again = Counter(_lines(second))
    assert max(ran_again.values()) == 1
    assert len(set(ran_again) | set(_lines(first))) == total
