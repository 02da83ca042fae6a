"""dagfn from asyncio: `dagfn.aio.run`/`resume` in trio guest mode, and calls on the wrong loop."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from returns.result import Failure, Success

import dagfn
import dagfn.aio
from dagfn import InvalidAnswer, Paused, WrongLoop, interrupt, node
from dagfn.store import MemoryStore

ROOT = Path(__file__).parent.parent


@node
async def slow_inc(x: int) -> int:
    await trio.sleep(0.01)
    return x + 1


@node
def double(x: int) -> int:
    return x * 2


pipeline = slow_inc >> double


def test_aio_run_returns_what_run_returns_and_runs_concurrent_awaits_in_one_guest_run() -> None:
    async def main() -> list[Any]:
        first = await dagfn.aio.run(pipeline, 1)
        many = await asyncio.gather(*(dagfn.aio.run(pipeline, i) for i in range(20)))
        return [first, *many]

    results = asyncio.run(main())
    assert results == [Success(4), *(Success((i + 1) * 2) for i in range(20))]
    assert trio.run(dagfn.run, pipeline, 1) == Success(4)  # no trio run was left behind


def test_aio_run_reports_a_failure_as_a_value_and_bad_arguments_at_once() -> None:
    @node
    def boom(x: int) -> int:
        raise ZeroDivisionError(x)

    async def main() -> Any:
        failed = await dagfn.aio.run(slow_inc >> boom, 1)
        with pytest.raises(dagfn.InvalidArgument, match="policy"):
            await dagfn.aio.run(pipeline, 1, policy="lifo")
        return failed

    result = asyncio.run(main())
    assert isinstance(result, Failure)
    assert result.failure().step == "boom"


def test_cancelling_the_asyncio_task_cancels_every_step_before_the_await_ends() -> None:
    log: list[str] = []

    @node
    async def forever(x: int) -> int:
        log.append("started")
        try:
            await trio.sleep_forever()
        finally:
            log.append("cancelled")

    @node
    async def other(x: int) -> int:
        try:
            await trio.sleep_forever()
        finally:
            log.append("other cancelled")

    async def main() -> None:
        task = asyncio.create_task(dagfn.aio.run((forever & other).join(max), 1))
        while "started" not in log:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(log) == ["cancelled", "other cancelled", "started"]  # already, at once
        assert dagfn.aio._HOSTS.get(asyncio.get_running_loop()) is None  # the guest run ended
        assert await dagfn.aio.run(pipeline, 2) == Success(6)  # and a new one starts

    asyncio.run(main())


def test_a_timeout_around_aio_run_cancels_the_run() -> None:
    @node
    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x  # pragma: no cover

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(dagfn.aio.run(slow, 1), 0.05)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 5


@attrs.frozen
class Approval:
    approved: bool


def ask(x: int) -> str:
    return f"approve {x}?"


def decide(x: int, a: Approval) -> str:
    return f"{x} approved" if a.approved else f"{x} refused"


approval_flow = (double & (double >> interrupt(ask, answer=Approval, name="ok"))).join(decide)


def test_aio_resume_answers_a_paused_run() -> None:
    store = MemoryStore()

    async def main() -> Any:
        paused = await dagfn.aio.run(approval_flow, 3, store=store)
        assert isinstance(paused, Failure) and isinstance(paused.failure(), Paused)
        run_id = paused.failure().run_id
        with pytest.raises(InvalidAnswer):
            await dagfn.aio.resume(approval_flow, run_id, store=store, answer={"approved": "y"})
        return await dagfn.aio.resume(
            approval_flow, run_id, store=store, answer={"approved": 1 == 1}
        )

    assert asyncio.run(main()) == Success("6 approved")


def test_run_sync_inside_asyncio_says_to_await_dagfn_aio_run() -> None:
    async def main() -> None:
        with pytest.raises(WrongLoop, match=r"running asyncio loop: use await dagfn\.aio\.run"):
            dagfn.run_sync(pipeline, 1)
        with pytest.raises(WrongLoop, match=r"use await dagfn\.aio\.resume"):
            dagfn.resume_sync(pipeline, "r", store=MemoryStore())

    asyncio.run(main())


def test_run_sync_inside_trio_says_to_await_dagfn_run() -> None:
    async def main() -> None:
        with pytest.raises(WrongLoop, match=r"running trio loop: use await dagfn\.run\(\.\.\.\)"):
            dagfn.run_sync(pipeline, 1)

    trio.run(main)


def test_awaiting_dagfn_run_under_asyncio_says_to_use_dagfn_aio_run() -> None:
    async def main() -> None:
        with pytest.raises(WrongLoop, match=r"needs trio.*use await dagfn\.aio\.run\(\.\.\.\)"):
            await dagfn.run(pipeline, 1)

    asyncio.run(main())


# -- the ASGI example, over real HTTP ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """uvicorn serving examples/asgi_app.py on a free loopback port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "DAGFN_STORE": str(tmp_path / "comments.sqlite")}
    argv = [sys.executable, "-m", "uvicorn", "examples.asgi_app:app", "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--log-level", "warning"], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "uvicorn exited"
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_asgi_example_runs_a_pipeline_and_resumes_it_over_http(server: str) -> None:
    import httpx

    with httpx.Client(base_url=server, timeout=30) as client:
        r = client.post("/comments", json={"author": "ada", "text": "trio rocks"})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "paused"
        assert body["prompt"] == "Publish ada's comment 'trio rocks' (spam 10%)?"
        run_id = body["run_id"]
        verdict = f"/comments/{run_id}/verdict"

        r = client.post(verdict, json={"approved": "yes"})  # no coercion: stays paused
        assert r.status_code == 422 and "Verdict" in r.json()["error"]
        r = client.post("/comments/nope/verdict", json={"approved": True})
        assert r.status_code == 404
        r = client.post(verdict, json={"approved": True})
        assert (r.status_code, r.json()) == (
            200,
            {"status": "done", "result": "published: ada: trio rocks"},
        )
        r = client.post(verdict, json={"approved": False})  # answered already
        assert r.status_code == 409 and "already answered" in r.json()["error"]

        # many requests at once share the loop's one guest trio run
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda i: client.post("/comments", json={"author": f"u{i}", "text": "hi"}),
                    range(16),
                )
            )
        assert [r.status_code for r in replies] == [202] * 16
        assert len({r.json()["run_id"] for r in replies}) == 16
        r = client.post("/comments", content=json.dumps({"author": "ada"}))
        assert r.status_code == 400
