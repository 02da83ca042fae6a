"""Journal stores: where a run's finished steps are kept, so it can resume.

Layout: the contract (the row types and the `Store` protocol) lives in
`dagfn._storage`, where the interpreter, which uses it, can import it;
here are `_ops` (write operations and their meaning, written once), `_writer` (the
group-commit writer thread), `_base` (checks shared by every store), and one
module per backend: `_memory`, `_sqlite`, `_redis` and `_postgres` (imported
lazily, on first use: redis-py and psycopg are optional dependencies).

Rows hold JSON text only; run ids are keys, never file paths.
"""

from __future__ import annotations

import typing as _typing

from dagfn._storage import Entry as Entry
from dagfn._storage import EntryStatus as EntryStatus
from dagfn._storage import RunInfo as RunInfo
from dagfn._storage import RunStatus as RunStatus
from dagfn._storage import Store as Store

from ._errors import RunExistsError as RunExistsError
from ._errors import SchemaVersionError as SchemaVersionError
from ._errors import StoreClosedError as StoreClosedError
from ._errors import StoreError as StoreError
from ._errors import StoreWriteError as StoreWriteError
from ._errors import UnknownRunError as UnknownRunError
from ._memory import MemoryStore as MemoryStore
from ._sqlite import SqliteStore as SqliteStore

if _typing.TYPE_CHECKING:
    from ._postgres import PostgresStore as PostgresStore
    from ._redis import RedisStore as RedisStore


def __getattr__(name: str) -> _typing.Any:
    # RedisStore imports redis-py, PostgresStore psycopg, optional dependencies: only on use.
    if name == "RedisStore":
        try:
            from ._redis import RedisStore
        except ModuleNotFoundError as exc:
            if exc.name != "redis":
                raise
            message = "RedisStore needs the optional dependency 'redis': pip install 'dagfn[redis]'"
            raise ImportError(message, name="redis") from exc
        return RedisStore
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Entry",
    "EntryStatus",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "RunExistsError",
    "RunInfo",
    "RunStatus",
    "SchemaVersionError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreWriteError",
    "SqliteStore",
    "UnknownRunError",
]
