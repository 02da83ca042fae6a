"""`PostgresStore`: the journal in a PostgreSQL database, through psycopg 3.

Tables, in the schema (namespace) given to the store (``dagfn`` by default)::

    dagfn_schema(version)
    runs(run_id PRIMARY KEY, fingerprint, status, created_at, updated_at,
         meta_json, result_json)
    entries(run_id, path, status, output_json, started_at, finished_at,
            attempts, error, PRIMARY KEY (run_id, path))
    leases(run_id PRIMARY KEY, token, owner, expires_at)   (see `dagfn._lease`)
    dagfn_cache(key PRIMARY KEY, step, value_json, created_at, expires_at,
                checksum)                              (the step cache, see `_cache`)

A group commit is one transaction that first takes a transaction-level
advisory lock per run id it touches, so writers of one run (in any process,
on any machine) serialize while writers of other runs do not wait. Lease
times are the server's clock, shared by every client machine. Run ids and
paths are bound as parameters, never interpolated; the schema name is checked
to be a plain identifier.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import psycopg
import psycopg.errors

from dagfn._cache import CacheEntry, CacheStats
from dagfn._checks import in_range, positive
from dagfn._errors import expected
from dagfn._lease import Lease
from dagfn._storage import DURATION_RUNS, Entry, RunInfo

from ._base import WriterStore, entry_from_row, run_from_row, run_params
from ._cache import CacheMethods, _CacheOp, _Clear, _WrittenInGroups
from ._errors import SchemaVersionError, StoreError
from ._ops import Op, apply, touched_runs
from ._writer import GroupWriter

SCHEMA_VERSION = 1
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Transactions retried when two writers deadlock on their run locks or conflict.
_MAX_RETRIES = 50
_RUN_COLUMNS = "run_id, fingerprint, status, created_at, updated_at, meta_json, result_json"
_ENTRY_COLUMNS = "path, status, output_json, started_at, finished_at, attempts, error"
_CACHE_COLUMNS = "key, step, value_json, created_at, expires_at, checksum"


class _Sql:
    """The statements of one schema (its name is a checked identifier)."""

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        self.schema = schema
        self.create = _tables(s)
        self._journal(s)
        self._leases_and_durations(s)
        self._cache(s)

    def _journal(self, s: str) -> None:
        """Runs and their entries; the schema's version; the lock of a group's run ids."""
        self.version = f"SELECT max(version) FROM {s}.dagfn_schema"
        self.set_version = f"INSERT INTO {s}.dagfn_schema (version) VALUES (%s)"
        self.lock = (
            "SELECT pg_advisory_xact_lock(h) FROM "
            "(SELECT DISTINCT hashtextextended(x, 0) AS h FROM unnest(%s::text[]) AS x) AS k "
            "ORDER BY h"
        )
        self.get_runs = f"SELECT {_RUN_COLUMNS} FROM {s}.runs WHERE run_id = ANY(%s)"
        self.get_run = f"SELECT {_RUN_COLUMNS} FROM {s}.runs WHERE run_id = %s"
        self.put_run = (
            f"INSERT INTO {s}.runs ({_RUN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
            "status = EXCLUDED.status, created_at = EXCLUDED.created_at, "
            "updated_at = EXCLUDED.updated_at, meta_json = EXCLUDED.meta_json, "
            "result_json = EXCLUDED.result_json"
        )
        self.put_entry = (
            f"INSERT INTO {s}.entries (run_id, {_ENTRY_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id, path) DO UPDATE SET status = EXCLUDED.status, "
            "output_json = EXCLUDED.output_json, started_at = EXCLUDED.started_at, "
            "finished_at = EXCLUDED.finished_at, attempts = EXCLUDED.attempts, "
            "error = EXCLUDED.error"
        )
        self.get_entry = f"SELECT {_ENTRY_COLUMNS} FROM {s}.entries WHERE run_id = %s AND path = %s"
        self.get_entries = (
            f"SELECT r.run_id, e.path, e.status, e.output_json, e.started_at, e.finished_at, "
            f"e.attempts, e.error FROM {s}.runs AS r LEFT JOIN {s}.entries AS e "
            'ON e.run_id = r.run_id WHERE r.run_id = %s ORDER BY e.path COLLATE "C"'
        )
        self.list_runs = (
            f'SELECT {_RUN_COLUMNS} FROM {s}.runs ORDER BY created_at DESC, run_id COLLATE "C" DESC'
        )
        self.delete_entries = f"DELETE FROM {s}.entries WHERE run_id = %s"
        self.delete_run = f"DELETE FROM {s}.runs WHERE run_id = %s"

    def _leases_and_durations(self, s: str) -> None:
        self.get_leases = (
            f"SELECT run_id, token, owner, expires_at FROM {s}.leases WHERE run_id = ANY(%s)"
        )
        self.put_lease = (
            f"INSERT INTO {s}.leases (run_id, token, owner, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET token = EXCLUDED.token, "
            "owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at"
        )
        self.delete_lease = f"DELETE FROM {s}.leases WHERE run_id = %s"
        self.clock = "SELECT extract(epoch FROM clock_timestamp())::float8"
        # `dagfn._storage.fold_duration` in SQL: one statement per path, no read first.
        self.add_duration = (
            f"INSERT INTO {s}.durations AS d (fingerprint, path, seconds, runs) "
            "VALUES (%s, %s, %s, 1) ON CONFLICT (fingerprint, path) DO UPDATE SET "
            "seconds = d.seconds + (EXCLUDED.seconds - d.seconds) "
            f"/ least(d.runs + 1, {DURATION_RUNS}), "
            f"runs = least(d.runs + 1, {DURATION_RUNS})"
        )
        self.get_durations = f"SELECT path, seconds FROM {s}.durations WHERE fingerprint = %s"

    def _cache(self, s: str) -> None:
        self.cache_get = f"SELECT {_CACHE_COLUMNS} FROM {s}.dagfn_cache WHERE key = %s"
        self.cache_put = (
            f"INSERT INTO {s}.dagfn_cache ({_CACHE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET step = EXCLUDED.step, "
            "value_json = EXCLUDED.value_json, created_at = EXCLUDED.created_at, "
            "expires_at = EXCLUDED.expires_at, checksum = EXCLUDED.checksum"
        )
        self.cache_clear = f"DELETE FROM {s}.dagfn_cache"
        self.cache_clear_step = f"DELETE FROM {s}.dagfn_cache WHERE step = %s"
        # Counted by the server: entries, expired ones and text size (characters, as
        # Python's len), per step.
        self.cache_stats = (
            "SELECT step, count(*), count(*) FILTER (WHERE expires_at <= %s), "
            f"sum(length(value_json)) FROM {s}.dagfn_cache GROUP BY step"
        )


class _PostgresTxn:
    """`Txn` on the writer's connection, inside a transaction holding the runs' locks."""

    __slots__ = ("_cur", "_sql")

    def __init__(self, cur: psycopg.Cursor[Any], sql: _Sql) -> None:
        self._cur = cur
        self._sql = sql

    def load_leases(
        self, run_ids: Collection[str], *, clock: bool
    ) -> tuple[dict[str, Lease | None], float]:
        leases: dict[str, Lease | None] = dict.fromkeys(run_ids)
        for run_id, token, owner, expires_at in self._cur.execute(
            self._sql.get_leases, (list(run_ids),)
        ).fetchall():
            leases[run_id] = Lease(token, owner, expires_at)
        now = 0.0
        if clock:
            row = self._cur.execute(self._sql.clock).fetchone()
            assert row is not None
            now = row[0]
        return leases, now

    def load_entry(self, run_id: str, path: str) -> Entry | None:
        row = self._cur.execute(self._sql.get_entry, (run_id, path)).fetchone()
        return None if row is None else entry_from_row(row)

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        runs: dict[str, RunInfo | None] = dict.fromkeys(run_ids)
        for row in self._cur.execute(self._sql.get_runs, (list(run_ids),)).fetchall():
            runs[row[0]] = run_from_row(row)
        return runs

    def put_run(self, info: RunInfo) -> None:
        self._cur.execute(self._sql.put_run, run_params(info))

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        # executemany runs in psycopg's pipeline mode: one round trip for the batch;
        # rows replace in order, so the last entry for a path wins.
        self._cur.executemany(
            self._sql.put_entry,
            [
                (
                    run_id,
                    e.path,
                    e.status,
                    e.output_json,
                    e.started_at,
                    e.finished_at,
                    e.attempts,
                    e.error,
                )
                for e in entries
            ],
        )

    def delete_run(self, run_id: str) -> None:
        self._cur.execute(self._sql.delete_entries, (run_id,))
        self._cur.execute(self._sql.delete_run, (run_id,))

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        self._cur.executemany(self._sql.add_duration, [(fingerprint, p, s) for p, s in seconds])

    def put_lease(self, run_id: str, lease: Lease | None) -> None:
        if lease is None:
            self._cur.execute(self._sql.delete_lease, (run_id,))
        else:
            self._cur.execute(
                self._sql.put_lease, (run_id, lease.token, lease.owner, lease.expires_at)
            )


def _connect(dsn: str, connect_timeout: float) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, round(connect_timeout)))


class _PostgresSink:
    """The write connection; lives on the writer thread only."""

    def __init__(self, dsn: str, sql: _Sql, connect_timeout: float) -> None:
        self._sql = sql
        self._conn = _connect(dsn, connect_timeout)
        try:
            self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    def _create_schema(self) -> None:
        sql = self._sql
        with self._conn.transaction(), self._conn.cursor() as cur:
            # Several processes may create the tables at once: one at a time.
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sql.schema,))
            for statement in sql.create:
                cur.execute(statement)
            row = cur.execute(sql.version).fetchone()
            found = None if row is None else row[0]
            if found is None:
                cur.execute(sql.set_version, (SCHEMA_VERSION,))
            elif found != SCHEMA_VERSION:
                message = (
                    f"The schema {sql.schema!r} has schema version {found}, this dagfn reads"
                    f" version {SCHEMA_VERSION}: use the dagfn that wrote it or another schema"
                )
                raise SchemaVersionError(message, found=found, supported=SCHEMA_VERSION)

    def commit(self, ops: Sequence[Op]) -> list[object]:
        locks = sorted(touched_runs(ops))
        for _ in range(_MAX_RETRIES):
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute(self._sql.lock, (locks,))
                    return apply(ops, _PostgresTxn(cur, self._sql), time.time())
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                continue
        message = f"Gave up after {_MAX_RETRIES} deadlocked concurrent transactions"
        raise StoreError(message)

    def close(self) -> None:
        self._conn.close()


class _PostgresCacheSink:
    """The step cache's write connection, on its writer thread (the store made the table).

    A group is one transaction: runs of puts are one ``executemany`` (one round trip)
    in key order, the last put of a key winning, so that two writers putting the same
    keys lock their rows in the same order.
    """

    def __init__(self, dsn: str, sql: _Sql, connect_timeout: float) -> None:
        self._sql = sql
        self._conn = _connect(dsn, connect_timeout)

    def commit(self, ops: Sequence[_CacheOp]) -> list[object]:
        for _ in range(_MAX_RETRIES):
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    return self._apply(cur, ops)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                continue
        message = f"Gave up after {_MAX_RETRIES} deadlocked concurrent cache transactions"
        raise StoreError(message)

    def _apply(self, cur: psycopg.Cursor[Any], ops: Sequence[_CacheOp]) -> list[object]:
        sql = self._sql
        results: list[object] = []
        puts: dict[str, CacheEntry] = {}
        for op in ops:
            if isinstance(op, _Clear):
                if puts:
                    cur.executemany(sql.cache_put, [puts[k] for k in sorted(puts)])
                    puts.clear()
                if op.step is None:
                    cur.execute(sql.cache_clear)
                else:
                    cur.execute(sql.cache_clear_step, (op.step,))
                results.append(cur.rowcount)
            else:
                puts[op.key] = op  # its fields are _CACHE_COLUMNS, in order
                results.append(None)
        if puts:
            cur.executemany(sql.cache_put, [puts[k] for k in sorted(puts)])
        return results

    def close(self) -> None:
        self._conn.close()


class PostgresCache(_WrittenInGroups):
    """Cache entries in the store's schema: lookups on the store's read connection (one
    indexed SELECT), puts and clears through a group-commit writer of their own."""

    def __init__(
        self,
        dsn: str,
        sql: _Sql,
        fetch: Callable[[str, tuple[object, ...]], list[Any]],
        *,
        connect_timeout: float,
        interval: float,
    ) -> None:
        self._sql = sql
        self._fetch = fetch
        self._writer = GroupWriter(
            lambda: _PostgresCacheSink(dsn, sql, connect_timeout),
            name=f"dagfn-postgres-cache:{sql.schema}",
            interval=interval,
        )

    def cache_get(self, key: str) -> CacheEntry | None:
        rows = self._fetch(self._sql.cache_get, (key,))
        return CacheEntry._make(rows[0]) if rows else None

    def cache_stats(self) -> CacheStats:
        self._writer.barrier()
        rows = self._fetch(self._sql.cache_stats, (time.time(),))
        steps = {step: n for step, n, _, _ in rows}
        expired = sum(e for _, _, e, _ in rows)
        size = sum(b for _, _, _, b in rows)
        return CacheStats(sum(steps.values()), expired, size, steps)


class PostgresStore(CacheMethods, WriterStore):
    """A `Store` in a PostgreSQL database: one writer thread, one transaction per group.

    Durability is the server's: a committed group survives the client being
    killed (even SIGKILL) and, with the server's default ``fsync`` and
    ``synchronous_commit``, the server crashing. Reads run on the calling
    thread through one shared read connection. Several stores, in one or
    several processes or machines, may use the same database: writes of one
    run id serialize on a lock per run.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "dagfn",
        commit_interval: float = 0.002,
        connect_timeout: float = 10.0,
    ) -> None:
        """Connect to the database at `dsn` (``postgresql://user@host:5432/db``, or
        ``"host=... dbname=..."``) and create the tables in `schema` if missing.

        Raises `InvalidArgument` for a bad argument, `psycopg.Error` if the
        server cannot be reached, `SchemaVersionError` if the schema holds
        another schema version.
        """
        if not isinstance(dsn, str):
            raise expected("a PostgreSQL connection string (a str)", "dsn", dsn)
        plain = isinstance(schema, str) and _IDENTIFIER.fullmatch(schema)
        if not plain or schema.startswith("pg_"):
            what = "a lower-case identifier (a-z, digits and '_', at most 63; not pg_...)"
            raise expected(what, "schema", schema)
        in_range("commit_interval", commit_interval, 0, 1, what="seconds between 0 and 1")
        positive("connect_timeout", connect_timeout, what="positive seconds")
        self.dsn = dsn
        self.schema = schema
        self._sql = sql = _Sql(schema)
        self._writer = GroupWriter(
            lambda: _PostgresSink(dsn, sql, connect_timeout),
            name=f"dagfn-postgres-writer:{schema}",
            interval=commit_interval,
        )
        try:
            self._reader = _connect(dsn, connect_timeout)
        except BaseException:
            self._writer.close()
            raise
        self._read_lock = threading.Lock()  # one statement at a time on the read connection
        self._submit = self._writer.submit
        self._cache_settings = (connect_timeout, commit_interval)

    def _open_cache(self) -> PostgresCache:
        timeout, interval = self._cache_settings
        return PostgresCache(
            self.dsn, self._sql, self._fetch, connect_timeout=timeout, interval=interval
        )

    def _release(self) -> None:
        try:
            self._close_cache()
        finally:
            self._reader.close()

    def _fetch(self, query: str, params: tuple[object, ...] = ()) -> list[Any]:
        with self._read_lock, self._reader.cursor() as cur:
            return cur.execute(query, params).fetchall()

    def _read_run(self, run_id: str) -> RunInfo | None:
        rows = self._fetch(self._sql.get_run, (run_id,))
        return run_from_row(rows[0]) if rows else None

    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        rows = self._fetch(self._sql.get_entries, (run_id,))
        if not rows:
            return None
        return {row[1]: entry_from_row(row[1:]) for row in rows if row[1] is not None}

    def _read_runs(self) -> list[RunInfo]:
        return [run_from_row(row) for row in self._fetch(self._sql.list_runs)]

    def _read_durations(self, fingerprint: str) -> dict[str, float]:
        return dict(self._fetch(self._sql.get_durations, (fingerprint,)))

    def _read_lease(self, run_id: str) -> Lease | None:
        rows = self._fetch(self._sql.get_leases, ([run_id],))
        return Lease(*rows[0][1:]) if rows else None

    def __repr__(self) -> str:
        return f"PostgresStore({_redacted(self.dsn)!r}, schema={self.schema!r})"


def _redacted(dsn: str) -> str:
    """The DSN without its password (a repr may end up in logs)."""
    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)


def _tables(s: str) -> tuple[str, ...]:
    """The statements that create schema ``s``'s tables where missing."""
    return (
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE IF NOT EXISTS {s}.dagfn_schema (version INTEGER NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {s}.runs (
            run_id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            meta_json TEXT NOT NULL,
            result_json TEXT
        )""",
        f"CREATE INDEX IF NOT EXISTS runs_by_creation ON {s}.runs (created_at, run_id)",
        f"""CREATE TABLE IF NOT EXISTS {s}.entries (
            run_id TEXT NOT NULL,
            path TEXT NOT NULL,
            status TEXT NOT NULL,
            output_json TEXT,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL,
            attempts INTEGER NOT NULL,
            error TEXT,
            PRIMARY KEY (run_id, path)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {s}.durations (
            fingerprint TEXT NOT NULL,
            path TEXT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            runs INTEGER NOT NULL,
            PRIMARY KEY (fingerprint, path)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {s}.leases (
            run_id TEXT PRIMARY KEY,
            token BIGINT NOT NULL,
            owner TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {s}.dagfn_cache (
            key TEXT PRIMARY KEY,
            step TEXT NOT NULL,
            value_json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION,
            checksum TEXT NOT NULL
        )""",
    )
