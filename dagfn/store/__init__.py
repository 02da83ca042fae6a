"""Journal stores: where a run's finished steps are kept, so it can resume.

Layout: the contract (the row types and the `Store` protocol) lives in
`dagfn._storage`, where the interpreter, which uses it, can import it;
here are `_ops` (write operations and their meaning, written once), `_writer` (the
group-commit writer thread), `_base` (checks shared by every store), and one
module per backend: `_memory`, `_sqlite`, `_redis` (imports redis-py lazily,
so it is an optional dependency).

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
    from ._redis import RedisStore as RedisStore


def __getattr__(name: str) -> _typing.Any:
    # RedisStore imports redis-py, an optional dependency: only on first use.
    if name == "RedisStore":
        try:
            from ._redis import RedisStore
        except ModuleNotFoundError as error:
            if error.name != "redis":
                raise
            msg = "RedisStore needs redis-py: pip install 'dagfn[redis]'"
            raise ModuleNotFoundError(msg, name="redis") from error
        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Entry",
    "EntryStatus",
    "MemoryStore",
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
