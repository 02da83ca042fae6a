"""Store fixtures shared by the durable-run tests (registered in conftest.py).

`open_store` runs a test once per backend (memory, SQLite on disk, a real
redis-server, a real PostgreSQL server) and hands it an opener that makes a
*new* store object on the same data each call, as a new process would;
`sqlite` is one SQLite store.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dagfn.store import MemoryStore, PostgresStore, RedisStore, SqliteStore, Store

Opener = Callable[[], Store]

_prefixes = itertools.count()


def _openers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    kind: str = request.param
    opened: list[Store] = []
    if kind == "memory":
        memory = MemoryStore()
        opened.append(memory)

        def opener() -> Store:
            return memory

    elif kind == "sqlite":

        def opener() -> Store:
            opened.append(SqliteStore(tmp_path / "journal.db"))
            return opened[-1]

    elif kind == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")
        schema = f"store_test_{os.getpid()}_{next(_prefixes)}"

        def opener() -> Store:
            opened.append(PostgresStore(dsn, schema=schema))
            return opened[-1]

    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"store-test-{next(_prefixes)}"

        def opener() -> Store:
            opened.append(RedisStore(url, prefix=prefix))
            return opened[-1]

    yield opener
    for store in opened:
        store.close()


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Open a *new* store object on one backend's data each call (memory: the same one)."""
    yield from _openers(request, tmp_path)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def open_durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """`open_store` for the backends whose data outlives a store object."""
    yield from _openers(request, tmp_path)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteStore]:
    """One SQLite store on a file in the test's temporary folder."""
    with SqliteStore(tmp_path / "journal.db") as store:
        yield store
