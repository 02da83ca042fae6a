"""Cost of the journal stores as the interpreter sees it, per recorded step.

Run: ``python benchmarks/bench_store.py [--rows N] [--repeats N] [--redis-url URL]``.
Without ``--redis-url`` a throw-away ``redis-server`` is started when one is on
PATH (else the redis rows are left out).

Columns, in microseconds per row (medians), all measured inside ``trio.run``:

- ``record``: the caller's cost of `record` alone (the enqueue on the trio thread).
- ``record+flush``: N records then one `flush`, divided by N (batched/exit modes).
- ``overhead/step``: a loop of trio checkpoints with a `record` each, plus the
  final flush, minus the same loop without records: what the journal adds to a
  step, including the writer thread's share of the GIL (issue 5 bar: <= 10 us
  for SqliteStore in the default mode).
- ``sync/step``: `record` then ``await trio.to_thread.run_sync(store.flush)``
  per step (durability mode ``sync``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import trio
from _timing import format_table

from dagfn.store import Entry, MemoryStore, RedisStore, SqliteStore, Store


def _entries(n: int) -> list[Entry]:
    return [Entry(f"step/{i}", "done", str(i), 1.0, 2.0) for i in range(n)]


async def _record_only(store: Store, run_id: str, rows: list[Entry]) -> tuple[float, float]:
    record = store.record
    start = time.perf_counter()
    for row in rows:
        record(run_id, row)
    recorded = time.perf_counter()
    await trio.to_thread.run_sync(store.flush)
    return recorded - start, time.perf_counter() - start


async def _loop(store: Store | None, run_id: str, rows: list[Entry]) -> float:
    checkpoint = trio.lowlevel.checkpoint
    start = time.perf_counter()
    if store is None:
        for _row in rows:
            await checkpoint()
    else:
        record = store.record
        for row in rows:
            await checkpoint()
            record(run_id, row)
        await trio.to_thread.run_sync(store.flush)
    return time.perf_counter() - start


async def _sync_steps(store: Store, run_id: str, rows: list[Entry]) -> float:
    start = time.perf_counter()
    for row in rows:
        store.record(run_id, row)
        await trio.to_thread.run_sync(store.flush)
    return time.perf_counter() - start


def measure(make: Callable[[], Store], rows: int, repeats: int) -> list[float]:
    """Median microseconds per row: record, record+flush, overhead/step, sync/step."""
    entries = _entries(rows)
    sync_entries = entries[: max(1, rows // 20)]
    samples: list[list[float]] = [[], [], [], []]
    with contextlib.closing(make()) as store:

        async def one(repeat: int) -> None:
            run = f"bench/{repeat}"
            await trio.to_thread.run_sync(lambda: store.open_run(run, fingerprint="", meta_json=""))
            recorded, flushed = await _record_only(store, run, entries)
            samples[0].append(recorded / rows)
            samples[1].append(flushed / rows)
            bare = await _loop(None, run, entries)
            await trio.to_thread.run_sync(
                lambda: store.open_run(run + "/loop", fingerprint="", meta_json="")
            )
            journaled = await _loop(store, run + "/loop", entries)
            samples[2].append((journaled - bare) / rows)
            await trio.to_thread.run_sync(
                lambda: store.open_run(run + "/sync", fingerprint="", meta_json="")
            )
            samples[3].append(
                await _sync_steps(store, run + "/sync", sync_entries) / len(sync_entries)
            )

        for repeat in range(repeats + 1):  # the first is a warm-up
            trio.run(one, repeat)
            if repeat == 0:
                for column in samples:
                    column.clear()
    return [statistics.median(column) * 1e6 for column in samples]


@contextlib.contextmanager
def _redis_server() -> Iterator[str | None]:
    executable = shutil.which("redis-server")
    if executable is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        argv = [executable, "--bind", "127.0.0.1", "--port", str(port), "--dir", directory]
        argv += ["--save", "", "--appendonly", "no", "--logfile", str(Path(directory) / "log")]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args(argv)
    table: list[list[object]] = []
    with tempfile.TemporaryDirectory() as directory, _redis_server() as started:
        redis_url = args.redis_url or started
        makers: dict[str, Callable[[], Store]] = {
            "MemoryStore": MemoryStore,
            "SqliteStore": lambda: SqliteStore(Path(directory) / "bench.db"),
            "SqliteStore FULL": lambda: SqliteStore(
                Path(directory) / "bench-full.db", synchronous="FULL"
            ),
        }
        if redis_url is not None:
            makers["RedisStore"] = lambda: RedisStore(redis_url, prefix="bench")
        for name, make in makers.items():
            table.append([name, *measure(make, args.rows, args.repeats)])
    headers = ["store", "record", "record+flush", "overhead/step", "sync/step"]
    print(f"microseconds per row, {args.rows} rows, median of {args.repeats}")
    print(format_table(headers, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
