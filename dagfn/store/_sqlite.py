"""`SqliteStore`: the embedded default, one SQLite file in WAL mode.

Schema (version 1, recorded in ``dagfn_schema``)::

    runs(run_id PRIMARY KEY, fingerprint, status, created_at, updated_at,
         meta_json, result_json)
    entries(run_id, path, status, output_json, started_at, finished_at,
            attempts, error, PRIMARY KEY (run_id, path))

Run ids and paths are bound as SQL parameters, never interpolated.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Literal

from dagfn._checks import in_range, non_negative
from dagfn._errors import expected
from dagfn._storage import Entry, RunInfo, stored_entry_status, stored_run_status

from ._base import WriterStore
from ._cache import CacheMethods, SqliteCache
from ._errors import SchemaVersionError, StoreError
from ._ops import Op, apply
from ._writer import GroupWriter

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dagfn_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        meta_json TEXT NOT NULL,
        result_json TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS runs_by_creation ON runs (created_at, run_id)",
    """CREATE TABLE IF NOT EXISTS entries (
        run_id TEXT NOT NULL,
        path TEXT NOT NULL,
        status TEXT NOT NULL,
        output_json TEXT,
        started_at REAL NOT NULL,
        finished_at REAL NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, path)
    ) WITHOUT ROWID""",
)

_RUN_COLUMNS = "run_id, fingerprint, status, created_at, updated_at, meta_json, result_json"
_ENTRY_COLUMNS = "path, status, output_json, started_at, finished_at, attempts, error"
_PUT_RUN = f"INSERT OR REPLACE INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_GET_RUN = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
# Entries are inserted up to this many rows per statement: one sqlite3_step (one
# release of the GIL) per chunk instead of per row. Chunk sizes are powers of two,
# so only a few statement texts exist (sqlite3 caches their compiled forms).
_ROWS_PER_INSERT = 64


def _put_entries_sql(rows: int) -> str:
    values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT OR REPLACE INTO entries (run_id, {_ENTRY_COLUMNS}) VALUES {values}"


_PUT_ENTRIES = {n: _put_entries_sql(n) for n in (1 << k for k in range(7))}
assert max(_PUT_ENTRIES) == _ROWS_PER_INSERT

# The only values ever put into a PRAGMA statement: fixed strings.
_SYNCHRONOUS = {"NORMAL": "PRAGMA synchronous = NORMAL", "FULL": "PRAGMA synchronous = FULL"}


def _run_from_row(row: Any) -> RunInfo:
    run_id, fingerprint, status, created_at, updated_at, meta_json, result_json = row
    return RunInfo(
        run_id=run_id,
        fingerprint=fingerprint,
        status=stored_run_status(status),
        created_at=created_at,
        updated_at=updated_at,
        meta_json=meta_json,
        result_json=result_json,
    )


def _entry_from_row(row: Any) -> Entry:
    path, status, output_json, started_at, finished_at, attempts, error = row
    return Entry(
        path=path,
        status=stored_entry_status(status),
        output_json=output_json,
        started_at=started_at,
        finished_at=finished_at,
        attempts=attempts,
        error=error,
    )


class _SqliteTxn:
    """`Txn` on the writer's connection, inside ``BEGIN IMMEDIATE``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        runs: dict[str, RunInfo | None] = {}
        for run_id in run_ids:
            row = self._conn.execute(_GET_RUN, (run_id,)).fetchone()
            runs[run_id] = None if row is None else _run_from_row(row)
        return runs

    def put_run(self, info: RunInfo) -> None:
        self._conn.execute(
            _PUT_RUN,
            (
                info.run_id,
                info.fingerprint,
                info.status,
                info.created_at,
                info.updated_at,
                info.meta_json,
                info.result_json,
            ),
        )

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        # Rows of one statement replace in order, like executemany: the last
        # entry for a path wins.
        start, n = 0, len(entries)
        while start < n:
            size = _ROWS_PER_INSERT
            while size > n - start:
                size >>= 1
            params: list[object] = []
            for e in entries[start : start + size]:
                params += (
                    run_id,
                    e.path,
                    e.status,
                    e.output_json,
                    e.started_at,
                    e.finished_at,
                    e.attempts,
                    e.error,
                )
            self._conn.execute(_PUT_ENTRIES[size], params)
            start += size

    def delete_run(self, run_id: str) -> None:
        self._conn.execute("DELETE FROM entries WHERE run_id = ?", (run_id,))
        self._conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


class _SqliteSink:
    """The write connection; lives on the writer thread only."""

    def __init__(self, path: str, *, timeout: float, synchronous: str) -> None:
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                message = (
                    f"SQLite refused WAL mode for {path!r} (journal_mode={mode!r});"
                    " use a local file system"
                )
                raise StoreError(message)
            self._conn.execute(_SYNCHRONOUS[synchronous])
            self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    def _create_schema(self) -> None:
        with self._transaction():
            for statement in _SCHEMA:
                self._conn.execute(statement)
            row = self._conn.execute("SELECT max(version) FROM dagfn_schema").fetchone()
            if row[0] is None:
                self._conn.execute(
                    "INSERT INTO dagfn_schema (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            elif row[0] != SCHEMA_VERSION:
                message = (
                    f"The store file has schema version {row[0]}, this dagfn reads"
                    f" version {SCHEMA_VERSION}: use the dagfn that wrote it"
                )
                raise SchemaVersionError(message, found=row[0], supported=SCHEMA_VERSION)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so the busy timeout applies
        # instead of a deadlock error when another connection writes.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def commit(self, ops: Sequence[Op]) -> list[object]:
        with self._transaction():
            return apply(ops, _SqliteTxn(self._conn), time.time())

    def close(self) -> None:
        self._conn.close()


class _Readers:
    """A pool of read-only connections, each used by one thread at a time."""

    def __init__(self, path: str, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._lock = threading.Lock()  # guards the two lists
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []  # closed by close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection inside a read transaction (one consistent snapshot)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = ON")
            with self._lock:
                self._all.append(conn)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
        finally:
            with self._lock:
                self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._idle.clear()


class SqliteStore(CacheMethods, WriterStore):
    """A `Store` in one SQLite file: WAL mode, one writer thread, group commit.

    Durability: with ``synchronous="NORMAL"`` (the default) a commit is
    written to the WAL file before `flush` returns but not fsynced, so every
    confirmed row survives the process being killed (even SIGKILL) while the
    last commits may be lost on power loss or an OS crash; the file is never
    corrupted. ``synchronous="FULL"`` fsyncs every group commit and also
    survives power loss, at the cost of an fsync per group.

    One writer thread owns the write connection and commits pending rows at
    most every `commit_interval` seconds (sooner when a caller waits), as one
    transaction. Reads run on the calling thread, on pooled read-only
    connections. Several stores, in one or several processes, may open the
    same file: writers wait up to `busy_timeout` seconds for each other.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        commit_interval: float = 0.002,
        busy_timeout: float = 30.0,
    ) -> None:
        """Open (creating if needed) the store file at `path`.

        Raises `InvalidArgument` for a bad argument, `sqlite3.Error` if the
        file cannot be opened, `SchemaVersionError` if it holds another
        schema version, `StoreError` if WAL mode is refused.
        """
        file = os.fspath(path)
        if not isinstance(file, str) or file in ("", ":memory:") or file.startswith("file:"):
            raise expected(
                "a file path (for a journal in memory you probably want MemoryStore)", "path", path
            )
        if synchronous not in _SYNCHRONOUS:
            raise expected('"NORMAL" or "FULL"', "synchronous", synchronous)
        in_range("commit_interval", commit_interval, 0, 1, what="seconds between 0 and 1")
        non_negative("busy_timeout", busy_timeout, what="non-negative seconds")
        self.path = file
        self._writer = GroupWriter(
            lambda: _SqliteSink(file, timeout=busy_timeout, synchronous=synchronous),
            name=f"dagfn-sqlite-writer:{file}",
            interval=commit_interval,
        )
        self._readers = _Readers(file, busy_timeout)
        self._submit = self._writer.submit
        self._cache_settings = (busy_timeout, commit_interval)

    # Cache lookups are one indexed read of a local file: cheap enough for the event loop.
    cache_reads_inline = True

    def _open_cache(self) -> SqliteCache:
        timeout, interval = self._cache_settings
        return SqliteCache(self.path, timeout=timeout, interval=interval)

    def _release(self) -> None:
        try:
            self._close_cache()
        finally:
            self._readers.close()

    def _read_run(self, run_id: str) -> RunInfo | None:
        with self._readers.snapshot() as conn:
            row = conn.execute(_GET_RUN, (run_id,)).fetchone()
        return None if row is None else _run_from_row(row)

    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        with self._readers.snapshot() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                return None
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE run_id = ? ORDER BY path", (run_id,)
            ).fetchall()
        return {row[0]: _entry_from_row(row) for row in rows}

    def _read_runs(self) -> list[RunInfo]:
        with self._readers.snapshot() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC, run_id DESC"
            ).fetchall()
        return [_run_from_row(row) for row in rows]

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"
