"""`RedisStore` in particular, against a real redis-server: key layout, isolation, races."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator

import _redis_server
import pytest
import redis

from dagfn._errors import InvalidArgument
from dagfn.store import Entry, RedisStore, RunInfo, SchemaVersionError, StoreWriteError

# The session's redis-server (tests/conftest.py may provide the same fixture).
redis_url = _redis_server.redis_url

_prefixes = itertools.count()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"redis-test{next(_prefixes)}"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client to look at the keys."""
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    yield plain
    plain.close()


def test_key_layout_escapes_run_ids_and_keeps_them_in_values(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    run_id = "a/b:c %x ✓"
    with RedisStore(redis_url, prefix=prefix) as store:
        store.open_run(run_id, fingerprint="fp", meta_json="{}")
        store.record(run_id, Entry("s/1", "done", "[1]", 1.0, 2.0, 3, None))
        store.flush()
    token = "a%2Fb%3Ac%20%25x%20%E2%9C%93"
    assert sorted(client.keys(f"{prefix}:*")) == [
        f"{prefix}:entries:{token}",
        f"{prefix}:run:{token}",
        f"{prefix}:runs",
        f"{prefix}:schema",
    ]
    assert client.hget(f"{prefix}:run:{token}", "run_id") == run_id
    assert client.zrange(f"{prefix}:runs", 0, -1) == [run_id]
    row = json.loads(str(client.hget(f"{prefix}:entries:{token}", "s/1")))
    assert row == {
        "status": "done",
        "output_json": "[1]",
        "started_at": 1.0,
        "finished_at": 2.0,
        "attempts": 3,
        "error": None,
    }


def test_prefixes_keep_stores_apart(redis_url: str, prefix: str) -> None:
    with (
        RedisStore(redis_url, prefix=prefix + "a") as a,
        RedisStore(redis_url, prefix=prefix + "b") as b,
    ):
        a.open_run("r", fingerprint="a", meta_json="{}")
        assert b.list_runs() == []
        assert b.open_run("r", fingerprint="b", meta_json="{}").fingerprint == "b"


def test_concurrent_open_run_creates_the_run_once(redis_url: str, prefix: str) -> None:
    stores = [RedisStore(redis_url, prefix=prefix, commit_interval=0) for _ in range(4)]
    results: list[RunInfo] = []
    barrier = threading.Barrier(len(stores))

    def open_it(store: RedisStore, n: int) -> None:
        barrier.wait()
        results.append(store.open_run("shared", fingerprint=f"fp{n}", meta_json="{}"))

    threads = [threading.Thread(target=open_it, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert len(results) == 4
    assert len(set(results)) == 1


def test_another_schema_version_is_refused(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    client.set(f"{prefix}:schema", "7")
    with pytest.raises(SchemaVersionError, match="schema version '7'") as info:
        RedisStore(redis_url, prefix=prefix)
    assert (info.value.found, info.value.supported) == (7, 1)


@pytest.mark.parametrize("bad", ["", "a:b", "a b", "a/b"])
def test_prefixes_must_be_plain(redis_url: str, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="but got prefix="):
        RedisStore(redis_url, prefix=bad)


def test_an_unreachable_server_raises_a_store_write_error_naming_the_store() -> None:
    with pytest.raises(StoreWriteError, match=r"RedisStore\('redis://127.0.0.1:1/0'") as info:
        RedisStore("redis://127.0.0.1:1/0")
    assert isinstance(info.value.__cause__, redis.ConnectionError)
