"""`PostgresStore` on a real PostgreSQL server: what is particular to it.

The `Store` contract, leases included, is pinned for every store in
test_store.py (and durable runs in test_durable.py, test_interrupt.py and
test_ownership.py); here: schemas, group commit, SIGKILL of a client, several
processes on one database, a failed commit, bad arguments, and the step cache's
table (shared per schema, stale and damaged entries, the command line).
"""

from __future__ import annotations

import io
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import _durable_worker
import psycopg
import pytest
from returns.result import Success

from dagfn import cache_stats, node, run_sync
from dagfn._cache import CacheEntry
from dagfn._errors import InvalidArgument
from dagfn.cli import main
from dagfn.store import Entry, PostgresStore, SchemaVersionError, StoreWriteError

REPO = Path(__file__).resolve().parent.parent
WORKER = str(Path(__file__).with_name("_durable_worker.py"))
_schemas = itertools.count()


@pytest.fixture
def schema() -> str:
    return f"postgres_test_{os.getpid()}_{next(_schemas)}"


def entry(path: str, output: str = '"x"') -> Entry:
    return Entry(path, "done", output, 1.0, 2.0)


def test_schemas_keep_stores_apart(postgres_dsn: str, schema: str) -> None:
    with (
        PostgresStore(postgres_dsn, schema=schema) as one,
        PostgresStore(postgres_dsn, schema=schema + "_b") as two,
    ):
        one.open_run("r", fingerprint="fp", meta_json="{}")
        assert [info.run_id for info in one.list_runs()] == ["r"]
        assert two.list_runs() == []


def test_another_schema_version_is_refused(postgres_dsn: str, schema: str) -> None:
    PostgresStore(postgres_dsn, schema=schema).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".dagfn_schema SET version = 99')
    with pytest.raises(SchemaVersionError, match="version 99") as caught:
        PostgresStore(postgres_dsn, schema=schema)
    assert (caught.value.found, caught.value.supported) == (99, 1)


BAD_SCHEMAS = ["", "Upper", "a-b", "pg_catalog", 'x"; DROP TABLE runs; --', "1st", "a" * 64]


@pytest.mark.parametrize("bad", BAD_SCHEMAS)
def test_schema_names_must_be_plain_identifiers(postgres_dsn: str, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="schema") as caught:
        PostgresStore(postgres_dsn, schema=bad)
    assert caught.value.argument == "schema"


def test_bad_arguments_are_refused_naming_them(postgres_dsn: str) -> None:
    with pytest.raises(InvalidArgument, match="dsn"):
        PostgresStore(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="commit_interval"):
        PostgresStore(postgres_dsn, commit_interval=2)
    with pytest.raises(InvalidArgument, match="connect_timeout"):
        PostgresStore(postgres_dsn, connect_timeout=0)


def test_an_unreachable_server_raises_at_construction() -> None:
    with pytest.raises(psycopg.OperationalError):
        PostgresStore("postgresql://postgres@127.0.0.1:1/postgres", connect_timeout=1)


def test_the_repr_hides_the_password(postgres_dsn: str, schema: str) -> None:
    with PostgresStore(postgres_dsn, schema=schema) as store:
        assert repr(store) == f"PostgresStore({postgres_dsn!r}, schema={schema!r})"
    from dagfn.store._postgres import _redacted

    assert _redacted("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert _redacted("host=db password=s3cret dbname=x") == "host=db password=*** dbname=x"


def test_a_group_of_many_rows_with_repeated_paths_keeps_the_last_of_each(
    postgres_dsn: str, schema: str
) -> None:
    with PostgresStore(postgres_dsn, schema=schema, commit_interval=1.0) as store:
        store.open_run("r", fingerprint="", meta_json="")
        for i in range(300):  # one group
            store.record("r", Entry(f"p{i % 7}", "done", str(i), 1.0, 2.0))
        store.flush()
        entries = store.entries("r")
    assert {p: e.output_json for p, e in entries.items()} == {
        f"p{k}": str(max(i for i in range(300) if i % 7 == k)) for k in range(7)
    }


def test_a_failed_commit_stops_writes_and_says_why(postgres_dsn: str, schema: str) -> None:
    with PostgresStore(postgres_dsn, schema=schema) as store:
        store.open_run("r", fingerprint="fp", meta_json="{}")
        store.record("r", entry("fine"))
        store.flush()
        store.record("r", entry("nul \x00 in text"))  # PostgreSQL text cannot hold NUL
        with pytest.raises(StoreWriteError, match="refuses further writes"):
            store.flush()
        with pytest.raises(StoreWriteError):
            store.record("r", entry("later"))
    with PostgresStore(postgres_dsn, schema=schema) as fresh:
        assert fresh.entries("r") == {"fine": entry("fine")}


CHILD = textwrap.dedent(
    """
    import sys
    from dagfn.store import Entry, PostgresStore

    dsn, schema, run_id, mode = sys.argv[1:5]
    store = PostgresStore(dsn, schema=schema)
    store.open_run(run_id, fingerprint="fp", meta_json="{}")
    for n in range(100000 if mode == "crash" else 100):
        store.record(run_id, Entry(f"step/{n}", "done", "1", 1.0, 2.0))
        if n % 10 == 9:
            store.flush()
            if mode == "crash":
                print(n + 1, flush=True)  # rows 0..n are committed
    if mode != "crash":
        store.close()
    """
)


def _child(dsn: str, schema: str, run_id: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, dsn, schema, run_id, mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_rows_confirmed_before_a_client_sigkill_survive(postgres_dsn: str, schema: str) -> None:
    child = _child(postgres_dsn, schema, "k", "crash")
    assert child.stdout is not None
    confirmed = 0
    with child.stdout:
        for line in child.stdout:
            confirmed = int(line)
            if confirmed >= 200:
                os.kill(child.pid, signal.SIGKILL)
                break
        for line in child.stdout:
            confirmed = int(line)
    assert child.wait() == -signal.SIGKILL
    with PostgresStore(postgres_dsn, schema=schema) as store:
        assert {f"step/{i}" for i in range(confirmed)} <= set(store.entries("k"))


def test_several_processes_and_stores_share_one_database(postgres_dsn: str, schema: str) -> None:
    children = [_child(postgres_dsn, schema, f"proc{n}", "write") for n in range(4)]
    with (
        PostgresStore(postgres_dsn, schema=schema) as mine,
        PostgresStore(postgres_dsn, schema=schema) as also_mine,
    ):
        for n in range(100):
            store = mine if n % 2 else also_mine
            store.open_run("local", fingerprint="fp", meta_json="{}")
            store.record("local", entry(f"step/{n}"))
        for child in children:
            assert child.wait(timeout=120) == 0
            if child.stdout is not None:
                child.stdout.close()
        also_mine.flush()
        for run_id in ["local", "proc0", "proc1", "proc2", "proc3"]:
            assert len(mine.entries(run_id)) == 100, run_id
        assert len(mine.list_runs()) == 5


@pytest.mark.parametrize("durability", ["batched", "sync"])
def test_a_run_killed_with_sigkill_resumes_without_rerunning_committed_steps(
    postgres_dsn: str, schema: str, tmp_path: Path, durability: str
) -> None:
    spec = f"postgres:{postgres_dsn}#{schema}"
    first, second = tmp_path / "1.log", tmp_path / "2.log"
    total = _durable_worker.LANES * _durable_worker.STEPS_PER_LANE
    # A short lease, so that the resume below need not wait long for the dead owner's.
    process = subprocess.Popen(
        [sys.executable, WORKER, "lanes", spec, "k", str(first), durability, "1.0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(first.read_text().splitlines() if first.exists() else []) < total // 3:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    if process.stderr is not None:
        process.stderr.close()
    with PostgresStore(postgres_dsn, schema=schema) as store:
        committed = {p for p, e in store.entries("k").items() if e.status == "done"}
        assert store.get_run("k").status == "running"
    finished_before = set(first.read_text().splitlines())
    assert committed and committed <= finished_before
    if durability == "sync":
        assert committed == finished_before
    expected = [_durable_worker.STEPS_PER_LANE * (k + 1) for k in range(_durable_worker.LANES)]
    assert _durable_worker.call("lanes", spec, "k", str(second), durability, "1.0") == {
        "value": expected
    }
    ran_again = Counter(second.read_text().splitlines())
    assert not committed & set(ran_again), "a step with a committed row ran again"
    assert max(ran_again.values()) == 1
    assert len(set(ran_again) | committed) == total
    with PostgresStore(postgres_dsn, schema=schema) as store:
        assert store.get_run("k").status == "succeeded"
        assert len(store.entries("k")) == total


# -- the step cache ----------------------------------------------------------------


def _counting(calls: list[int]) -> Callable[[int], int]:
    def twice(x: int) -> int:
        calls.append(x)
        return 2 * x

    return twice


def test_the_cache_is_shared_by_stores_on_one_schema_and_kept_apart_by_schemas(
    postgres_dsn: str, schema: str
) -> None:
    calls: list[int] = []
    g = node(_counting(calls)).named("twice").cache()
    with PostgresStore(postgres_dsn, schema=schema) as one:
        assert run_sync(g, 4, store=one) == Success(8)
    with (
        PostgresStore(postgres_dsn, schema=schema) as two,
        PostgresStore(postgres_dsn, schema=schema + "_other") as other,
    ):
        assert run_sync(g, 4, store=two) == Success(8)
        assert calls == [4]  # a hit, through another store object
        assert run_sync(g, 4, store=other) == Success(8)
        assert calls == [4, 4]  # another schema: a miss
        assert cache_stats(two).steps == {"twice": 1}


def test_expired_and_damaged_entries_are_misses_and_are_replaced(
    postgres_dsn: str, schema: str
) -> None:
    calls: list[int] = []
    g = node(_counting(calls)).named("twice").cache(ttl=3600)
    with PostgresStore(postgres_dsn, schema=schema) as store:
        run_sync(g, 1, store=store)
        table = f'"{schema}".dagfn_cache'
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"UPDATE {table} SET expires_at = %s", (time.time() - 1,))
            assert cache_stats(store).expired == 1
            assert run_sync(g, 1, store=store) == Success(2)
            assert calls == [1, 1]
            assert cache_stats(store).expired == 0  # the miss replaced the stale entry
            for damage in ("3", "{not json", '"a string"'):
                conn.execute(f"UPDATE {table} SET value_json = %s", (damage,))
                assert run_sync(g, 1, store=store) == Success(2)
            assert calls == [1, 1, 1, 1, 1]
            assert run_sync(g, 1, store=store) == Success(2)  # the last miss put it back
            assert calls == [1, 1, 1, 1, 1]


def test_a_schema_made_before_the_cache_gets_its_table(postgres_dsn: str, schema: str) -> None:
    PostgresStore(postgres_dsn, schema=schema).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{schema}".dagfn_cache')
    with PostgresStore(postgres_dsn, schema=schema) as store:
        run_sync(node(_counting([])).named("twice").cache(), 1, store=store)
        assert cache_stats(store).entries == 1


def test_puts_of_one_group_keep_the_last_entry_of_each_key(postgres_dsn: str, schema: str) -> None:
    with PostgresStore(postgres_dsn, schema=schema, commit_interval=1.0) as store:
        for i in range(200):  # one group, keys put in no order, some many times
            key = f"k{(i * 7) % 13}"
            store.cache_put(CacheEntry(key, f"s{i % 2}", str(i), 1.0, None, "c"))
        assert store.cache_clear("nothing") == 0  # waits for the group before it
        got = {k: store.cache_get(k) for k in (f"k{n}" for n in range(13))}
    last = {f"k{(i * 7) % 13}": i for i in range(200)}
    assert {k: e.value_json for k, e in got.items() if e is not None} == {
        k: str(i) for k, i in last.items()
    }


def test_the_cache_command_on_a_postgres_url(postgres_dsn: str, schema: str) -> None:
    # A database of its own: the command line uses the default schema.
    database = schema
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = postgres_dsn.rpartition("/")[0] + f"/{database}"
    try:
        with PostgresStore(url) as store:
            run_sync(node(_counting([])).named("cli_step").cache(), 1, store=store)

        def command(*argv: str) -> str:
            out = io.StringIO()
            assert main([*argv, "--store", url], out=out) == 0
            return out.getvalue()

        assert command("cache", "stats") == "1 entries (0 expired), 1 bytes\n  cli_step: 1\n"
        assert command("cache", "clear", "--step", "other") == "cleared 0 entries\n"
        assert command("cache", "clear") == "cleared 1 entries\n"
        assert command("cache", "stats").startswith("0 entries")
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
