"""`SqliteStore`: the embedded default, one SQLite file in WAL mode.

Schema (version 1, recorded in ``dagfn_schema``)::

    runs(run_id PRIMARY KEY, fingerprint, status, created_at, updated_at,
         meta_json, result_json)
    entries(run_id, path, status, output_json, started_at, finished_at,
            attempts, error, PRIMARY KEY (run_id, path))
    durations(fingerprint, path, seconds, runs, PRIMARY KEY (fingerprint, path))

The ``durations`` table (a plan's duration summary, see
`dagfn._storage.fold_duration`) is created in files of version 1 that lack it.
    runs.lease_token, lease_owner, lease_expires: the run's lease (see `dagfn._lease`)

The lease columns are added when missing, so files of version 1 written
before they existed open unchanged; they live in the run's row so that taking
and releasing a lease writes no page that opening and finishing the run does
not write anyway. Lease times are this machine's wall clock (one SQLite file
is shared by processes of one machine only).

Run ids and paths are bound as SQL parameters, never interpolated.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Literal

from dagfn._checks import in_range, non_negative
from dagfn._errors import expected
from dagfn._lease import Lease
from dagfn._storage import (
    DURATION_RUNS,
    Entry,
    RunInfo,
)

from ._base import WriterStore, entry_from_row, run_from_row, run_params
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
    """CREATE TABLE IF NOT EXISTS durations (
        fingerprint TEXT NOT NULL,
        path TEXT NOT NULL,
        seconds REAL NOT NULL,
        runs INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, path)
    ) WITHOUT ROWID""",
)
# `dagfn._storage.fold_duration` in SQL: one statement per path, no read first.
_ADD_DURATION = f"""INSERT INTO durations (fingerprint, path, seconds, runs) VALUES (?, ?, ?, 1)
    ON CONFLICT (fingerprint, path) DO UPDATE SET
        seconds = seconds + (excluded.seconds - seconds) / min(runs + 1, {DURATION_RUNS}),
        runs = min(runs + 1, {DURATION_RUNS})"""

_RUN_COLUMNS = "run_id, fingerprint, status, created_at, updated_at, meta_json, result_json"
_ENTRY_COLUMNS = "path, status, output_json, started_at, finished_at, attempts, error"
# An upsert, not INSERT OR REPLACE: the row's lease columns stay as they are.
_PUT_RUN = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO "
    "UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "meta_json = excluded.meta_json, result_json = excluded.result_json"
)
_LEASE_COLUMNS = (("lease_token", "INTEGER"), ("lease_owner", "TEXT"), ("lease_expires", "REAL"))
_GET_RUN = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
_GET_LEASE = (
    "SELECT lease_token, lease_owner, lease_expires FROM runs"
    " WHERE run_id = ? AND lease_token IS NOT NULL"
)
_GET_ENTRY = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE run_id = ? AND path = ?"
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


class _SqliteTxn:
    """`Txn` on the writer's connection, inside ``BEGIN IMMEDIATE``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def load_leases(
        self, run_ids: Collection[str], *, clock: bool
    ) -> tuple[dict[str, Lease | None], float]:
        leases: dict[str, Lease | None] = {}
        for run_id in run_ids:
            row = self._conn.execute(_GET_LEASE, (run_id,)).fetchone()
            leases[run_id] = None if row is None else Lease(*row)
        return leases, time.time()

    def load_entry(self, run_id: str, path: str) -> Entry | None:
        row = self._conn.execute(_GET_ENTRY, (run_id, path)).fetchone()
        return None if row is None else entry_from_row(row)

    def put_lease(self, run_id: str, lease: Lease | None) -> None:
        if lease is None:
            self._conn.execute(
                "UPDATE runs SET lease_token = NULL, lease_owner = NULL, lease_expires = NULL"
                " WHERE run_id = ?",
                (run_id,),
            )
        else:
            self._conn.execute(
                "UPDATE runs SET lease_token = ?, lease_owner = ?, lease_expires = ?"
                " WHERE run_id = ?",
                (lease.token, lease.owner, lease.expires_at, run_id),
            )

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        runs: dict[str, RunInfo | None] = {}
        for run_id in run_ids:
            row = self._conn.execute(_GET_RUN, (run_id,)).fetchone()
            runs[run_id] = None if row is None else run_from_row(row)
        return runs

    def put_run(self, info: RunInfo) -> None:
        self._conn.execute(_PUT_RUN, run_params(info))

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

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        self._conn.executemany(_ADD_DURATION, [(fingerprint, p, s) for p, s in seconds])


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
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
            for column, kind in _LEASE_COLUMNS:  # fixed strings
                if column not in have:
                    self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
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


class SqliteStore(WriterStore):
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
            store=f"SqliteStore({file!r})",
        )
        self._readers = _Readers(file, busy_timeout)
        self._submit = self._writer.submit

    def _release(self) -> None:
        self._readers.close()

    def _read_run(self, run_id: str) -> RunInfo | None:
        with self._readers.snapshot() as conn:
            row = conn.execute(_GET_RUN, (run_id,)).fetchone()
        return None if row is None else run_from_row(row)

    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        with self._readers.snapshot() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                return None
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE run_id = ? ORDER BY path", (run_id,)
            ).fetchall()
        return {row[0]: entry_from_row(row) for row in rows}

    def _read_lease(self, run_id: str) -> Lease | None:
        with self._readers.snapshot() as conn:
            row = conn.execute(_GET_LEASE, (run_id,)).fetchone()
        return None if row is None else Lease(*row)

    def _read_runs(self) -> list[RunInfo]:
        with self._readers.snapshot() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_at DESC, run_id DESC"
            ).fetchall()
        return [run_from_row(row) for row in rows]

    def _read_durations(self, fingerprint: str) -> dict[str, float]:
        with self._readers.snapshot() as conn:
            rows = conn.execute(
                "SELECT path, seconds FROM durations WHERE fingerprint = ?", (fingerprint,)
            ).fetchall()
        return dict(rows)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"
