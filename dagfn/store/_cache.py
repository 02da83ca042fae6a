"""The step cache in each store: a table (SQLite, PostgreSQL), keys (redis) or a dict (memory).

Cache entries are not journal rows: they belong to no run, and clearing them
leaves runs and history alone. Each durable store writes them through a
group-commit writer of their own (`_writer.GroupWriter`), opened on first use,
so a store that never caches pays nothing and journal commits never wait for
cache puts.

SQLite table (in the store's file, beside the journal's)::

    dagfn_cache(key PRIMARY KEY, step, value_json, created_at, expires_at, checksum)

PostgreSQL: the same table in the store's schema (``PostgresCache``, in
`_postgres`, beside the psycopg code).

Redis keys: ``P:cache:K`` (a hash of the same fields; ``K`` is the key, hex),
expiring with the entry's ttl.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import attrs

from dagfn._cache import CacheEntry, CacheStats, stats_of

from ._writer import GroupWriter


@attrs.frozen
class _Clear:
    """Drop every entry, or those of ``step``; the result is how many were dropped."""

    step: str | None


_CacheOp = CacheEntry | _Clear


class CacheMethods:
    """The `dagfn._cache.CacheBackend` methods of a store, on a backend made on first use.

    A store sets ``cache_reads_inline`` and implements `_open_cache`; `_close_cache`
    belongs in its release of connections.
    """

    cache_reads_inline: bool = False
    _cache_backend: Any = None
    _cache_lock: threading.Lock | None = None

    def _open_cache(self) -> Any:
        """The backend (made once; called under a lock)."""
        raise NotImplementedError

    def _cache(self) -> Any:
        backend = self._cache_backend
        if backend is None:
            lock = self.__dict__.setdefault("_cache_lock", threading.Lock())
            with lock:
                if self._cache_backend is None:
                    self._cache_backend = self._open_cache()
                backend = self._cache_backend
        return backend

    def cache_get(self, key: str) -> CacheEntry | None:
        """The cache entry under ``key``, or None."""
        return cast(CacheEntry | None, self._cache().cache_get(key))

    def cache_put(self, entry: CacheEntry) -> None:
        """Keep ``entry`` (enqueued: kept within the commit interval or at `cache_flush`)."""
        self._cache().cache_put(entry)

    def cache_flush(self) -> None:
        """Block until every entry put before the call is kept."""
        self._cache().cache_flush()

    def cache_stats(self) -> CacheStats:
        """What the cache holds (entries, expired ones, bytes, entries per step)."""
        return cast(CacheStats, self._cache().cache_stats())

    def cache_clear(self, step: str | None = None) -> int:
        """Drop every cache entry (or ``step``'s); returns how many. Runs are untouched."""
        return cast(int, self._cache().cache_clear(step))

    def _close_cache(self) -> None:
        backend = self._cache_backend
        if backend is not None and hasattr(backend, "close"):
            backend.close()


# -- SQLite -------------------------------------------------------------------------

_SCHEMA = """CREATE TABLE IF NOT EXISTS dagfn_cache (
    key TEXT PRIMARY KEY NOT NULL,
    step TEXT NOT NULL,
    value_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    checksum TEXT NOT NULL
) WITHOUT ROWID"""
_COLUMNS = "key, step, value_json, created_at, expires_at, checksum"
_PUT = f"INSERT OR REPLACE INTO dagfn_cache ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_GET = f"SELECT {_COLUMNS} FROM dagfn_cache WHERE key = ?"


_entry = CacheEntry._make  # a row of _COLUMNS, in order


class _SqliteCacheSink:
    """The cache's write connection, on its writer thread."""

    def __init__(self, path: str, timeout: float) -> None:
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        try:
            self._conn.execute(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    def commit(self, ops: Sequence[_CacheOp]) -> list[object]:
        conn = self._conn
        results: list[object] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                if isinstance(op, _Clear):
                    where, args = ("", ()) if op.step is None else (" WHERE step = ?", (op.step,))
                    results.append(conn.execute(f"DELETE FROM dagfn_cache{where}", args).rowcount)
                else:
                    conn.execute(_PUT, op)  # its fields are _COLUMNS, in order
                    results.append(None)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return results

    def close(self) -> None:
        self._conn.close()


class _WrittenInGroups:
    """Puts and clears through a group-commit writer of the cache's own."""

    _writer: GroupWriter[_CacheOp]

    def cache_put(self, entry: CacheEntry) -> None:
        self._writer.submit(entry)

    def cache_flush(self) -> None:
        self._writer.flush()

    def cache_clear(self, step: str | None) -> int:
        return cast(int, self._writer.call(_Clear(step)))

    def close(self) -> None:
        self._writer.close()


class SqliteCache(_WrittenInGroups):
    """Cache entries in a SQLite file: reads on the caller's thread (one statement on a
    read-only connection), puts through a group-commit writer."""

    def __init__(self, path: str, *, timeout: float, interval: float) -> None:
        self._writer = GroupWriter(
            lambda: _SqliteCacheSink(path, timeout),
            name=f"dagfn-sqlite-cache:{path}",
            interval=interval,
        )
        self._lock = threading.Lock()  # one reader at a time on the shared connection
        self._conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA query_only = ON")

    def cache_get(self, key: str) -> CacheEntry | None:
        with self._lock:
            row = self._conn.execute(_GET, (key,)).fetchone()
        return None if row is None else _entry(row)

    def cache_stats(self) -> CacheStats:
        self._writer.barrier()
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM dagfn_cache").fetchall()
        return stats_of(lambda: [_entry(r) for r in rows], time.time())

    def close(self) -> None:
        try:
            super().close()
        finally:
            with self._lock:
                self._conn.close()


# -- redis --------------------------------------------------------------------------


class _RedisCacheSink:
    """Puts and clears through one non-transactional pipeline per group."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def commit(self, ops: Sequence[_CacheOp]) -> list[object]:
        results: list[object] = []
        with self._client.pipeline(transaction=False) as pipe:
            for op in ops:
                if isinstance(op, _Clear):
                    pipe.execute()
                    results.append(self._clear(op.step))
                    continue
                key = f"{self._prefix}{op.key}"
                fields = {
                    "step": op.step,
                    "value_json": op.value_json,
                    "created_at": repr(op.created_at),
                    "checksum": op.check,
                }
                if op.expires_at is not None:
                    fields["expires_at"] = repr(op.expires_at)
                pipe.delete(key)
                pipe.hset(key, mapping=fields)
                if op.expires_at is not None:
                    pipe.pexpireat(key, int(op.expires_at * 1000) + 1)
                results.append(None)
            pipe.execute()
        return results

    def _clear(self, step: str | None) -> int:
        doomed = [
            key
            for key in self._client.scan_iter(match=f"{self._prefix}*", count=1000)
            if step is None or self._client.hget(key, "step") == step
        ]
        for start in range(0, len(doomed), 1000):
            self._client.delete(*doomed[start : start + 1000])
        return len(doomed)

    def close(self) -> None:
        pass  # the store closes the shared client


def _redis_entry(key: str, fields: dict[str, str]) -> CacheEntry:
    expires = fields.get("expires_at")
    return CacheEntry(
        key,
        fields["step"],
        fields["value_json"],
        float(fields["created_at"]),
        None if expires is None else float(expires),
        fields["checksum"],
    )


class RedisCache(_WrittenInGroups):
    """Cache entries as redis hashes (expiring with their ttl); puts in groups."""

    def __init__(self, client: Any, prefix: str, *, interval: float) -> None:
        self._client = client
        self._prefix = f"{prefix}:cache:"
        self._writer = GroupWriter(
            lambda: _RedisCacheSink(client, self._prefix),
            name=f"dagfn-redis-cache:{prefix}",
            interval=interval,
        )

    def cache_get(self, key: str) -> CacheEntry | None:
        fields = cast(dict[str, str], self._client.hgetall(f"{self._prefix}{key}"))
        if not fields:
            return None
        try:
            return _redis_entry(key, fields)
        except (KeyError, ValueError):  # a damaged entry is a miss
            return None

    def cache_stats(self) -> CacheStats:
        self._writer.barrier()
        found: list[CacheEntry] = []
        for key in self._client.scan_iter(match=f"{self._prefix}*", count=1000):
            fields = cast(dict[str, str], self._client.hgetall(key))
            if fields:
                try:
                    found.append(_redis_entry(key[len(self._prefix) :], fields))
                except (KeyError, ValueError):
                    continue
        return stats_of(lambda: found, time.time())
