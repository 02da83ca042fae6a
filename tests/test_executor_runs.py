"""Executors inside runs: run(..., executor=), .via(executor), journal and resume, cancellation.

Real parts: worker processes (trio-parallel), a Dask LocalCluster (in-process
workers, started once for the module), SQLite files on disk.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from returns.result import Failure, Success

from dagfn import Graph, RunFailure, gather, loop, node, run
from dagfn.executors import Dask, Executor, Processes, ShippingError, Threads
from dagfn.store import SqliteStore

pytest.importorskip("trio_parallel")
pytest.importorskip("distributed")


@attrs.frozen
class Point:
    x: int
    pid: int


def where(x: int) -> Point:
    return Point(x * x, os.getpid())


def slow_pid(path: str) -> int:
    Path(path).write_text(str(os.getpid()))
    time.sleep(30)
    return 0


def plus(a: Point, b: Point) -> int:
    return a.x + b.x


@node
async def on_trio(x: int) -> int:
    return os.getpid()


def graph() -> Graph[int, tuple[int, ...], Any]:
    a = node(where).named("a")
    b = node(where).named("b")
    return gather([(a & b).join(plus, name="sum"), on_trio, on_trio.named("again")])


@pytest.fixture(scope="module")
def dask() -> Iterator[Dask]:
    executor = Dask(n_workers=2, processes=False)
    trio.run(executor.__aenter__)
    yield executor

    async def close() -> None:
        await executor.__aexit__(None, None, None)

    trio.run(close)


@pytest.fixture(params=["threads", "processes", "dask"])
def executor(request: pytest.FixtureRequest) -> Executor:
    if request.param == "threads":
        return Threads(limit=2)
    if request.param == "processes":
        return Processes(workers=2)
    dask_executor: Executor = request.getfixturevalue("dask")
    return dask_executor


def test_plain_functions_run_on_the_executor_and_async_ones_on_trio(executor: Executor) -> None:
    seen: list[int] = []

    def where_pid(x: int) -> int:
        return os.getpid()

    g = gather([node(where_pid).named("plain"), on_trio])

    async def main() -> Any:
        return await run(g, 1, executor=executor)

    result = trio.run(main)
    plain_pid, trio_pid = result.unwrap()
    seen.extend((plain_pid, trio_pid))
    assert trio_pid == os.getpid()
    if isinstance(executor, Processes):
        assert plain_pid != os.getpid()


def test_results_are_the_same_with_every_executor(executor: Executor) -> None:
    async def main() -> Any:
        return await run(graph(), 3, executor=executor)

    total, pid1, pid2 = trio.run(main).unwrap()
    assert total == 18
    assert pid1 == pid2 == os.getpid()


def test_journal_and_resume_work_the_same_with_every_executor(
    executor: Executor, tmp_path: Path
) -> None:
    db = str(tmp_path / "runs.sqlite")

    async def main() -> Any:
        with SqliteStore(db) as store:
            first = await run(graph(), 4, store=store, run_id="x", executor=executor)
            rows = store.entries("x")
            again = await run(graph(), 4, store=store, run_id="x", executor=executor)
            return first, rows, again

    first, rows, again = trio.run(main)
    assert first == again
    assert first.unwrap()[0] == 32
    assert {"a", "b", "sum"} <= set(rows)
    assert rows["a"].output_json is not None and '"x":16' in rows["a"].output_json


def test_a_failed_remote_step_resumes_and_reruns_only_what_failed(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    marker = tmp_path / "fixed"

    def fragile(p: Point) -> int:
        if not os.path.exists(str(marker)):
            raise RuntimeError("not yet")
        return p.x + 1

    g = node(where).named("first") >> node(fragile).named("second")

    async def main() -> tuple[Any, Any]:
        async with Processes(workers=1) as pool:
            with SqliteStore(db) as store:
                failed = await run(g, 5, store=store, run_id="r", executor=pool)
                marker.write_text("ok")
                fixed = await run(g, 5, store=store, run_id="r", executor=pool)
                return failed, fixed

    failed, fixed = trio.run(main)
    assert isinstance(failed, Failure)
    assert failed.failure().step == "second"
    assert isinstance(failed.failure().error, RuntimeError)
    assert fixed == Success(26)


def test_via_sends_one_step_to_its_own_executor() -> None:
    def pid(x: int) -> int:
        return os.getpid()

    g = gather([node(pid).named("here"), node(pid).named("there").via(Processes(workers=1))])

    async def main() -> Any:
        return await run(g, 0)

    here, there = trio.run(main).unwrap()
    assert here == os.getpid()
    assert there != os.getpid()


def test_via_on_a_loop_sends_each_step_of_its_body_to_the_executor() -> None:
    def pid(x: int) -> int:
        return os.getpid()

    body = node(pid).named("work")
    g = loop(body, until=lambda s: True, max_steps=1).named("L").via(Processes(workers=1))

    async def main() -> Any:
        return await run(g, 0)

    assert trio.run(main).unwrap() != os.getpid()


def test_an_unpicklable_input_fails_the_step_naming_it() -> None:
    import threading

    @node
    async def make_lock(x: int) -> Any:  # async: made on the trio thread, not shipped
        return threading.Lock()

    def use(lock: Any) -> int:
        return 1

    g = make_lock >> node(use).named("use_lock")

    async def main() -> Any:
        async with Processes(workers=1) as pool:
            return await run(g, 0, executor=pool)

    result = trio.run(main)
    assert isinstance(result, Failure)
    failure: RunFailure[Any] = result.failure()
    assert failure.step == "use_lock"
    assert isinstance(failure.error, ShippingError)
    assert "use_lock" in str(failure.error)


def test_cancelling_a_run_kills_its_worker_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    g = node(slow_pid).named("slow")

    async def main() -> int:
        async with Processes(workers=1) as pool, trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(run, g, str(pid_file), executor=pool))
            with trio.fail_after(20):
                while not pid_file.exists() or not pid_file.read_text():
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        return int(pid_file.read_text())

    pid = trio.run(main)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_a_timeout_cancels_the_remote_work() -> None:
    def sleepy(x: int) -> int:
        time.sleep(30)
        return x

    g = node(sleepy).timeout(0.5)

    async def main() -> Any:
        async with Processes(workers=1) as pool:
            start = time.monotonic()
            result = await run(g, 1, executor=pool)
            return result, time.monotonic() - start

    result, took = trio.run(main)
    assert isinstance(result, Failure)
    assert took < 10


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
