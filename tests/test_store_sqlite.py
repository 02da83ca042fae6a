"""`SqliteStore` in particular: crash safety, several writers on one file, schema."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dagfn._errors import InvalidArgument
from dagfn.store import Entry, SchemaVersionError, SqliteStore, StoreWriteError

REPO = Path(__file__).resolve().parent.parent

# Records rows without end, flushing after every 7th, and prints how many
# rows were durable when each flush returned.
CRASH_CHILD = textwrap.dedent(
    """
    import itertools, sys
    from dagfn.store import Entry, SqliteStore

    store = SqliteStore(sys.argv[1])
    run_id = sys.argv[2]
    store.open_run(run_id, fingerprint="fp", meta_json="{}")
    for i in itertools.count():
        store.record(run_id, Entry(f"step/{i}", "done", str(i), 1.0, 2.0))
        if i % 7 == 6:
            store.flush()
            print(i + 1, flush=True)
    """
)


def entry(path: str) -> Entry:
    return Entry(path, "done", '"x"', 1.0, 2.0)


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        result: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
        return result


def run_and_kill(path: Path, run_id: str, *, after_rows: int) -> int:
    """Run the child; SIGKILL it after `after_rows` confirmed rows; return the confirmed count."""
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, str(path), run_id],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    confirmed = 0
    with child.stdout:
        for line in child.stdout:
            confirmed = int(line)
            if confirmed >= after_rows:
                os.kill(child.pid, signal.SIGKILL)
                break
        # Lines printed before the kill landed are confirmed too.
        for line in child.stdout:
            confirmed = int(line)
    assert child.wait() == -signal.SIGKILL
    return confirmed


@pytest.mark.parametrize("after_rows", [1, 500, 3000])
def test_rows_confirmed_before_sigkill_survive_and_the_file_is_intact(
    tmp_path: Path, after_rows: int
) -> None:
    path = tmp_path / "journal.db"
    confirmed = {
        f"run-{n}": run_and_kill(path, f"run-{n}", after_rows=after_rows) for n in range(3)
    }
    assert integrity(path) == "ok"
    with SqliteStore(path) as store:
        for run_id, count in confirmed.items():
            assert count >= after_rows
            paths = set(store.entries(run_id))
            assert {f"step/{i}" for i in range(count)} <= paths
    assert integrity(path) == "ok"


def test_rows_survive_reopening(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "j.db") as store:
        store.open_run("r", fingerprint="fp", meta_json="{}")
        store.record("r", entry("a"))
        store.finish_run("r", "paused", None)
    with SqliteStore(tmp_path / "j.db") as store:
        assert store.entries("r") == {"a": entry("a")}
        assert store.get_run("r").status == "paused"


def test_the_file_is_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM dagfn_schema").fetchall() == [(1,)]


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SqliteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE dagfn_schema SET version = 99")
    with pytest.raises(SchemaVersionError, match="schema version 99") as info:
        SqliteStore(path)
    assert (info.value.found, info.value.supported) == (99, 1)


def test_sql_in_run_ids_and_paths_is_data(tmp_path: Path) -> None:
    nasty = "x'); DROP TABLE entries; --"
    with SqliteStore(tmp_path / "j.db") as store:
        store.open_run(nasty, fingerprint=nasty, meta_json=nasty)
        store.record(nasty, entry(nasty))
        assert store.entries(nasty) == {nasty: entry(nasty)}
        assert store.get_run(nasty).fingerprint == nasty


@pytest.mark.parametrize("path", ["", ":memory:", "file:x.db?mode=memory"])
def test_paths_that_are_not_files_are_rejected(path: str) -> None:
    with pytest.raises(InvalidArgument, match="you probably want MemoryStore"):
        SqliteStore(path)


def test_synchronous_full_is_accepted_and_anything_else_rejected(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "j.db", synchronous="FULL") as store:
        store.open_run("r", fingerprint="fp", meta_json="{}")
    with pytest.raises(InvalidArgument, match="synchronous='OFF'"):
        SqliteStore(tmp_path / "j.db", synchronous="OFF")  # type: ignore[arg-type]


WRITER_CHILD = textwrap.dedent(
    """
    import sys
    from dagfn.store import Entry, SqliteStore

    with SqliteStore(sys.argv[1], commit_interval=0) as store:
        for n in range(100):
            run_id = f"{sys.argv[2]}/{n % 3}"
            store.open_run(run_id, fingerprint="fp", meta_json="{}")
            store.record(run_id, Entry(f"step/{n}", "done", "1", 1.0, 2.0))
            if n % 10 == 0:
                store.flush()
    """
)


def test_several_processes_and_stores_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_CHILD, str(path), f"proc{n}"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for n in range(4)
    ]
    with SqliteStore(path) as mine, SqliteStore(path) as also_mine:
        for n in range(100):
            store = mine if n % 2 else also_mine
            store.open_run(f"local/{n % 3}", fingerprint="fp", meta_json="{}")
            store.record(f"local/{n % 3}", entry(f"step/{n}"))
        for child in children:
            assert child.wait(timeout=120) == 0
        mine.flush()
        also_mine.flush()
        for prefix in ["local", "proc0", "proc1", "proc2", "proc3"]:
            total = sum(len(mine.entries(f"{prefix}/{k}")) for k in range(3))
            assert total == 100, prefix
        assert len(mine.list_runs()) == 15
    assert integrity(path) == "ok"


def test_a_failed_commit_stops_writes_and_says_why(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "j.db") as store:
        store.open_run("r", fingerprint="fp", meta_json="{}")
        store.record("r", entry("fine"))
        store.flush()
        store.record("r", entry("\ud800"))  # cannot be encoded: the commit fails
        with pytest.raises(StoreWriteError, match="refuses further writes") as info:
            store.flush()
        assert isinstance(info.value.__cause__, UnicodeEncodeError)
        with pytest.raises(StoreWriteError):
            store.record("r", entry("later"))
        with pytest.raises(StoreWriteError):
            store.entries("r")  # it cannot see what this store recorded
    with SqliteStore(tmp_path / "j.db") as fresh:
        assert fresh.entries("r") == {"fine": entry("fine")}


def test_a_group_of_many_rows_with_repeated_paths_keeps_the_last_of_each(tmp_path: Path) -> None:
    """Rows go in multi-row statements of up to 64; any count, and later rows win."""
    with SqliteStore(tmp_path / "s.db", commit_interval=1.0) as store:
        store.open_run("r", fingerprint="", meta_json="")
        for i in range(300):  # one group: 64 + 64 + 64 + 64 + 32 + 8 + 4
            store.record("r", Entry(f"p{i % 7}", "done", str(i), 1.0, 2.0))
        for n in range(1, 130):
            store.record("r", Entry(f"q{n:03}", "done", str(n), 1.0, 2.0))
        store.flush()
        entries = store.entries("r")
    assert {p: e.output_json for p, e in entries.items() if p[0] == "p"} == {
        f"p{k}": str(max(i for i in range(300) if i % 7 == k)) for k in range(7)
    }
    assert [e.output_json for p, e in entries.items() if p[0] == "q"] == [
        str(n) for n in range(1, 130)
    ]


def test_a_file_written_before_leases_opens_and_takes_leases(tmp_path: Path) -> None:
    """Schema version 1 files without the lease columns get them when opened."""
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            """
            CREATE TABLE dagfn_schema (version INTEGER NOT NULL);
            INSERT INTO dagfn_schema VALUES (1);
            CREATE TABLE runs (run_id TEXT PRIMARY KEY NOT NULL, fingerprint TEXT NOT NULL,
                status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
                meta_json TEXT NOT NULL, result_json TEXT) WITHOUT ROWID;
            INSERT INTO runs VALUES ('old', 'fp', 'running', 1.0, 1.0, '{}', NULL);
            """
        )
    with SqliteStore(path) as store:
        assert store.lease("old") is None
        claim = store.take_run("old", fingerprint="fp", meta_json="{}", owner="me", ttl=30)
        assert claim.token == 1 and claim.info.created_at == 1.0
        store.finish_run("old", "succeeded", "1", token=claim.token)
        assert store.get_run("old").status == "succeeded"
    assert integrity(path) == "ok"
