"""No lost rows, and cancellation that reaches the store.

Rows of finished steps are committed before `run` returns or raises, whatever
it raises, and before a normal interpreter exit with a store left open (real
subprocesses, SQLite files on disk). A run under ``move_on_after(t)`` whose
store blocks (a write-locked SQLite file, a frozen redis-server) returns
within ``t + 1`` seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import _redis_server
import pytest
import trio

from dagfn import Graph, gather, node, run
from dagfn.store import RedisStore, SqliteStore, Store, StoreWriteError

STEPS = 150

# The steps of the programs below: 150 plain steps, then one that ends the run.
_PROGRAM_HEAD = """
import sys
import trio
from dagfn import gather, node, run_sync
from dagfn.store import SqliteStore

# commit_interval=1.0: without a flush, rows wait up to a second for their commit
store = SqliteStore(sys.argv[1], commit_interval=1.0)


def step(i):
    def fn(x):
        return x + i

    fn.__name__ = f"s{i:03}"
    return node(fn)


steps = gather([step(i) for i in range(150)])
"""


def _done_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM entries WHERE status = 'done'").fetchone()
    return int(count)


def _program(tmp_path: Path, tail: str) -> tuple[Path, list[str]]:
    program = tmp_path / "program.py"
    program.write_text(_PROGRAM_HEAD + textwrap.dedent(tail))
    db = tmp_path / "journal.db"
    return db, [sys.executable, str(program), str(db)]


def test_a_run_that_raises_keyboard_interrupt_keeps_its_rows_when_the_program_exits(
    tmp_path: Path,
) -> None:
    db, argv = _program(
        tmp_path,
        """
        @node
        def stop(xs):
            raise KeyboardInterrupt

        run_sync(steps >> stop, 0, store=store, run_id="ki")  # the store is never closed
        """,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "KeyboardInterrupt" in done.stderr
    assert _done_rows(db) == STEPS


def test_rows_recorded_and_never_flushed_are_committed_at_a_normal_exit(tmp_path: Path) -> None:
    db, argv = _program(
        tmp_path,
        """
        from dagfn.store import Entry

        store.open_run("r", fingerprint="f", meta_json="{}")
        for i in range(150):
            store.record("r", Entry(f"s{i:03}", "done", str(i), 1.0, 2.0))
        # no flush, no close: the interpreter exits at once
        """,
    )
    subprocess.run(argv, timeout=60, check=True)
    assert _done_rows(db) == STEPS


def test_ctrl_c_during_a_run_keeps_the_rows_of_the_steps_that_finished(tmp_path: Path) -> None:
    started = tmp_path / "started"
    db, argv = _program(
        tmp_path,
        f"""
        @node
        async def wait(xs):
            open({str(started)!r}, "w").close()
            await trio.sleep(60)

        run_sync(steps >> wait, 0, store=store, run_id="ctrl-c")
        """,
    )
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.exists()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "KeyboardInterrupt" in stderr
    assert _done_rows(db) == STEPS


def _slow_tail() -> Graph[int, None, object]:
    """150 plain steps, then one that sleeps for a minute."""

    def step(i: int) -> Graph[int, int, object]:
        def fn(x: int) -> int:
            return x + i

        fn.__name__ = f"s{i:03}"
        return node(fn)

    @node
    async def forever(xs: tuple[int, ...]) -> None:
        await trio.sleep(60)

    return gather([step(i) for i in range(STEPS)]) >> forever


def test_a_cancelled_run_has_committed_its_rows_when_it_returns(tmp_path: Path) -> None:
    graph = _slow_tail()
    db = tmp_path / "journal.db"

    async def main() -> None:
        with SqliteStore(db, commit_interval=1.0) as store:
            with trio.move_on_after(0.3):
                await run(graph, 0, store=store, run_id="c")
            assert _done_rows(db) == STEPS  # read by another connection, before close()

    trio.run(main)


# -- cancellation reaches a blocked store -------------------------------------------


def _quick_graph(block: Callable[[], object]) -> Graph[int, int, object]:
    """``first >> second``: ``first`` calls ``block()`` (takes a lock, freezes a server)."""

    @node
    def first(x: int) -> int:
        block()
        return x + 1

    @node
    def second(x: int) -> int:
        return x + 1

    return first >> second


def _returns_in_time(graph: Graph[int, int, object], store: Store, t: float = 0.5) -> float:
    async def main() -> float:
        start = trio.current_time()
        with trio.move_on_after(t):
            await run(graph, 0, store=store, run_id="blocked")
        return trio.current_time() - start

    return trio.run(main)


def test_a_run_whose_sqlite_file_is_locked_before_it_starts_returns_at_its_deadline(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.db"
    store = SqliteStore(db, busy_timeout=5.0)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        took = _returns_in_time(_quick_graph(lambda: None), store)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        store.close()
    assert took < 0.5 + 1.0


def test_a_run_whose_sqlite_file_is_locked_while_it_runs_returns_at_its_deadline(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.db"
    store = SqliteStore(db, busy_timeout=5.0)
    locker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        # The first step takes the write lock: the run's last commit then waits for it.
        took = _returns_in_time(_quick_graph(lambda: locker.execute("BEGIN EXCLUSIVE")), store)
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()
        store.close()
    assert took < 0.5 + 1.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A redis-server of this test alone (it gets frozen): (url, pid)."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (required when CI=true)")
        pytest.skip("redis-server is not installed")
    port = _redis_server._free_port()
    process = subprocess.Popen(
        [
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _redis_server._answers_ping(port):
            assert time.monotonic() < deadline and process.poll() is None, "redis did not start"
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait()


def test_a_run_whose_redis_server_freezes_while_it_runs_returns_at_its_deadline(
    own_redis: tuple[str, int],
) -> None:
    url, pid = own_redis
    store = RedisStore(url)
    try:
        took = _returns_in_time(_quick_graph(lambda: os.kill(pid, signal.SIGSTOP)), store)
    finally:
        os.kill(pid, signal.SIGCONT)
        store.close()
    assert took < 0.5 + 1.0


def test_a_run_on_a_frozen_redis_server_returns_at_its_deadline(
    own_redis: tuple[str, int],
) -> None:
    url, pid = own_redis
    store = RedisStore(url)
    os.kill(pid, signal.SIGSTOP)
    try:
        took = _returns_in_time(_quick_graph(lambda: None), store)
    finally:
        os.kill(pid, signal.SIGCONT)
        store.close()
    assert took < 0.5 + 1.0


def test_a_frozen_redis_server_is_a_store_write_error_naming_the_store(
    own_redis: tuple[str, int],
) -> None:
    url, pid = own_redis
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(StoreWriteError, match=rf"RedisStore\('{url}'.*cannot reach"):
            RedisStore(url, timeout=0.3)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_redis_calls_that_time_out_fail_the_writer_with_an_error_naming_the_store(
    own_redis: tuple[str, int],
) -> None:
    url, pid = own_redis
    store = RedisStore(url, timeout=0.3)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(StoreWriteError, match=rf"RedisStore\('{url}'"):
            store.open_run("r", fingerprint="f", meta_json="{}")
        with pytest.raises(StoreWriteError, match=rf"RedisStore\('{url}'"):
            store.list_runs()
    finally:
        os.kill(pid, signal.SIGCONT)
        store.close()
