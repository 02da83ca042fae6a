"""The `Store` protocol, pinned on all three stores (memory, SQLite, a real redis-server)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import _redis_server
import pytest
from _stores import Opener

import dagfn.store
from dagfn._errors import DagfnError, InvalidArgument
from dagfn._lease import AlreadyAnswered, Claim, LeaseLost
from dagfn.store import (
    Entry,
    RunExistsError,
    RunInfo,
    SqliteStore,
    Store,
    StoreClosedError,
    UnknownRunError,
)

# The session's redis-server (tests/conftest.py may provide the same fixture).
redis_url = _redis_server.redis_url

STRANGE_RUN_IDS = [
    "../../etc/passwd",
    "a/b",
    "/abs/path",
    "..",
    "x'; DROP TABLE runs; --",
    'quote" and \\ backslash',
    "dagfn:run:other",
    "%2F",
    "with space\tand\nnewline",
    "ünïcödé ✓ 日本語 🎉",
    "*?[glob]",
]

StoreFactory = Opener


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """One store of each kind."""
    return open_store()


def entry(path: str, output: object = 1, status: str = "done") -> Entry:
    return Entry(
        path=path,
        status="done" if status == "done" else "failed",
        output_json=None if output is None else repr(output),
        started_at=1.5,
        finished_at=2.5,
        attempts=1,
        error=None if status == "done" else "boom",
    )


def test_public_names_are_exported_once() -> None:
    """`__all__` lists each public name once, and each one exists."""
    names = dagfn.store.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(dagfn.store, name) is not None
    public = {n for n in vars(dagfn.store) if not n.startswith("_")} - {"annotations"}
    assert public <= set(names)


def test_open_run_creates_a_running_run(store: Store) -> None:
    info = store.open_run("r1", fingerprint="fp", meta_json='{"a": 1}')
    assert isinstance(info, RunInfo)
    assert (info.run_id, info.fingerprint, info.status, info.meta_json, info.result_json) == (
        "r1",
        "fp",
        "running",
        '{"a": 1}',
        None,
    )
    assert info.created_at == info.updated_at > 0
    assert store.entries("r1") == {}
    assert store.get_run("r1") == info


def test_open_run_again_returns_the_existing_run_unchanged(store: Store) -> None:
    """The stored fingerprint comes back, so a changed graph can be detected."""
    first = store.open_run("r", fingerprint="old", meta_json="{}")
    again = store.open_run("r", fingerprint="new", meta_json='{"x": 2}')
    assert again == first


def test_recorded_entries_come_back_after_flush(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    rows = [entry(f"step/{i}", i) for i in range(50)] + [entry("bad", None, "failed")]
    for row in rows:
        store.record("r", row)
    store.flush()
    journal = store.entries("r")
    assert journal == {row.path: row for row in rows}
    assert list(journal) == sorted(journal)


def test_reads_see_rows_recorded_before_them_without_flush(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    store.record("r", entry("a"))
    assert store.entries("r") == {"a": entry("a")}


def test_recording_a_path_again_replaces_its_entry(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    store.record("r", entry("a", 1))
    store.record("r", entry("a", 2))
    store.flush()
    assert store.entries("r")["a"].output_json == "2"


def test_records_bump_updated_at(store: Store) -> None:
    info = store.open_run("r", fingerprint="fp", meta_json="{}")
    store.record("r", entry("a"))
    store.flush()
    assert store.get_run("r").updated_at >= info.updated_at


def test_records_for_an_unknown_run_are_dropped_and_reported_by_the_next_flush(
    store: Store,
) -> None:
    store.open_run("known", fingerprint="fp", meta_json="{}")
    store.record("ghost", entry("a"))
    store.record("known", entry("b"))
    with pytest.raises(UnknownRunError, match=re.escape("'ghost'")) as info:
        store.flush()
    assert info.value.run_id == "ghost"
    store.flush()  # reported once
    assert store.entries("known") == {"b": entry("b")}
    with pytest.raises(UnknownRunError):
        store.entries("ghost")


def test_unknown_run_errors_name_the_run_id(store: Store) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.entries("nope"),
        lambda: store.get_run("nope"),
        lambda: store.finish_run("nope", "succeeded", "1"),
        lambda: store.delete_run("nope"),
        lambda: store.copy_run("nope", "new", keep=set()),
    ]
    for call in calls:
        with pytest.raises(UnknownRunError, match="No run with run id 'nope'") as info:
            call()
        assert isinstance(info.value, DagfnError)
        assert isinstance(info.value, LookupError)
        assert info.value.run_id == "nope"


def test_finish_run_sets_status_and_result(store: Store) -> None:
    created = store.open_run("r", fingerprint="fp", meta_json="{}")
    store.finish_run("r", "succeeded", '{"answer": 42}')
    info = store.get_run("r")
    assert (info.status, info.result_json) == ("succeeded", '{"answer": 42}')
    assert info.created_at == created.created_at <= info.updated_at
    store.finish_run("r", "running", None)  # resumed
    assert (store.get_run("r").status, store.get_run("r").result_json) == ("running", None)


def test_finish_run_rejects_an_unknown_status(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    with pytest.raises(InvalidArgument, match="status='done'"):
        store.finish_run("r", "done", None)  # type: ignore[arg-type]


def test_list_runs_is_newest_first(store: Store) -> None:
    for name in ["first", "second", "third"]:
        store.open_run(name, fingerprint="fp", meta_json="{}")
    runs = store.list_runs()
    assert [info.run_id for info in runs] == ["third", "second", "first"]
    assert runs[0].created_at >= runs[1].created_at >= runs[2].created_at


def test_delete_run_removes_the_run_and_its_entries(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    store.open_run("other", fingerprint="fp", meta_json="{}")
    store.record("r", entry("a"))
    store.record("other", entry("a"))
    store.delete_run("r")
    assert [info.run_id for info in store.list_runs()] == ["other"]
    with pytest.raises(UnknownRunError):
        store.entries("r")
    assert store.entries("other") == {"a": entry("a")}
    store.open_run("r", fingerprint="fp2", meta_json="{}")
    assert store.entries("r") == {}  # a new run under the old id starts empty


def test_copy_run_keeps_the_chosen_entries(store: Store) -> None:
    store.open_run("src", fingerprint="fp", meta_json='{"m": 1}')
    for path in ["a", "b", "c"]:
        store.record("src", entry(path))
    store.finish_run("src", "failed", None)
    store.copy_run("src", "by-set", keep={"a", "c", "not-there"})
    store.copy_run("src", "by-predicate", keep=lambda path: path != "a")
    assert set(store.entries("by-set")) == {"a", "c"}
    assert set(store.entries("by-predicate")) == {"b", "c"}
    copied = store.get_run("by-set")
    assert (copied.fingerprint, copied.meta_json, copied.status, copied.result_json) == (
        "fp",
        '{"m": 1}',
        "running",
        None,
    )
    assert len(store.entries("src")) == 3


def test_copy_run_refuses_an_existing_target(store: Store) -> None:
    store.open_run("src", fingerprint="fp", meta_json="{}")
    store.open_run("dst", fingerprint="fp", meta_json="{}")
    with pytest.raises(RunExistsError, match="existing run 'dst'") as info:
        store.copy_run("src", "dst", keep=set())
    assert isinstance(info.value, ValueError)
    assert info.value.run_id == "dst"


def test_copy_run_rejects_a_bad_keep(store: Store) -> None:
    store.open_run("src", fingerprint="fp", meta_json="{}")
    with pytest.raises(InvalidArgument, match="keep="):
        store.copy_run("src", "dst", keep=["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize("run_id", STRANGE_RUN_IDS)
def test_strange_run_ids_are_keys_never_paths(store: Store, run_id: str, tmp_path: Path) -> None:
    before = sorted(os.listdir(tmp_path))
    store.open_run(run_id, fingerprint="fp", meta_json="{}")
    store.open_run("plain", fingerprint="fp", meta_json="{}")
    store.record(run_id, entry(run_id))
    store.record("plain", entry("p"))
    store.flush()
    assert store.entries(run_id) == {run_id: entry(run_id)}
    assert store.entries("plain") == {"p": entry("p")}
    assert {info.run_id for info in store.list_runs()} == {run_id, "plain"}
    store.copy_run(run_id, run_id + "/copy", keep={run_id})
    assert store.entries(run_id + "/copy") == {run_id: entry(run_id)}
    store.delete_run(run_id)
    assert store.entries("plain") == {"p": entry("p")}
    # Nothing was created next to the journal file except SQLite's own files.
    after = set(os.listdir(tmp_path)) - set(before)
    assert after <= {"journal.db", "journal.db-wal", "journal.db-shm"}


@pytest.mark.parametrize("bad", ["", "a\x00b", "\ud800", 7, None])
def test_invalid_run_ids_are_rejected_naming_the_argument(store: Store, bad: object) -> None:
    with pytest.raises(InvalidArgument, match="but got run_id=") as info:
        store.open_run(bad, fingerprint="fp", meta_json="{}")  # type: ignore[arg-type]
    assert info.value.argument == "run_id"


def test_stores_on_the_same_data_see_each_others_runs(open_store: StoreFactory) -> None:
    writer, reader = open_store(), open_store()
    writer.open_run("r", fingerprint="fp", meta_json="{}")
    writer.record("r", entry("a"))
    writer.flush()
    assert reader.entries("r") == {"a": entry("a")}
    assert reader.open_run("r", fingerprint="other", meta_json="{}").fingerprint == "fp"


def test_records_from_many_threads_are_all_kept(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")

    def work(thread: int) -> None:
        for i in range(200):
            store.record("r", entry(f"{thread}/{i}", i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.flush()
    assert len(store.entries("r")) == 8 * 200


def test_a_closed_store_refuses_to_work(store: Store) -> None:
    store.open_run("r", fingerprint="fp", meta_json="{}")
    store.record("r", entry("a"))
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreClosedError):
        store.record("r", entry("b"))
    with pytest.raises(StoreClosedError):
        store.flush()
    with pytest.raises(StoreClosedError):
        store.entries("r")


def test_close_keeps_what_was_recorded(open_durable_store: StoreFactory) -> None:
    first = open_durable_store()
    first.open_run("r", fingerprint="fp", meta_json="{}")
    first.record("r", entry("a"))
    first.close()
    assert open_durable_store().entries("r") == {"a": entry("a")}


def test_stores_are_context_managers(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "j.db") as store:
        store.open_run("r", fingerprint="fp", meta_json="{}")
    with pytest.raises(StoreClosedError):
        store.flush()


# -- leases (run ownership, `dagfn._lease`) ------------------------------------------


def take(store: Store, run_id: str = "r", owner: str = "a", ttl: float = 30.0) -> Claim:
    return store.take_run(run_id, fingerprint="fp", meta_json="{}", owner=owner, ttl=ttl)


def test_take_run_opens_the_run_and_takes_its_lease_once(store: Store) -> None:
    first = take(store, owner="a")
    assert first.token == 1 and first.holder is None
    assert first.info == store.get_run("r") and first.info.status == "running"
    second = take(store, owner="b")
    assert (second.token, second.holder) == (None, "a")
    assert 0 < second.holder_expires_in <= 30.0
    lease = store.lease("r")
    assert lease is not None and (lease.token, lease.owner) == (1, "a")


def test_a_released_lease_is_taken_again_with_a_larger_token(store: Store) -> None:
    first = take(store, owner="a")
    assert first.token is not None
    store.release("r", first.token)
    again = take(store, owner="b")
    assert again.token == 2 and again.holder is None
    store.release("r", first.token)  # a stale release frees nothing
    assert take(store, owner="c").holder == "b"


def test_an_expired_lease_is_taken_over_and_its_owner_can_no_longer_write(store: Store) -> None:
    """Fencing: every write of the old owner is refused in the write transaction."""
    old = take(store, owner="old", ttl=0.05)
    assert old.token is not None
    time.sleep(0.1)
    new = take(store, owner="new")
    assert new.token == old.token + 1
    assert store.renew("r", old.token, 30.0) is False
    store.record("r", entry("late"), old.token)
    with pytest.raises(LeaseLost, match="'r'") as lost:
        store.flush()
    assert lost.value.token == old.token
    with pytest.raises(LeaseLost):
        store.finish_run("r", "succeeded", "1", token=old.token)
    store.record("r", entry("mine"), new.token)
    store.flush()
    assert list(store.entries("r")) == ["mine"]
    assert store.get_run("r").status == "running"
    store.finish_run("r", "succeeded", "2", token=new.token)  # and releases the lease
    lease = store.lease("r")
    assert lease is not None and lease.expires_at == 0.0
    assert store.get_run("r").result_json == "2"


def test_renew_keeps_a_short_lease_alive(store: Store) -> None:
    claim = take(store, owner="a", ttl=0.3)
    assert claim.token is not None
    for _ in range(4):
        time.sleep(0.1)
        assert store.renew("r", claim.token, 0.3)
    assert take(store, owner="b").holder == "a"


def test_a_succeeded_run_is_taken_without_a_lease(store: Store) -> None:
    claim = take(store)
    assert claim.token is not None
    store.finish_run("r", "succeeded", "7", token=claim.token)
    again = take(store, owner="b")
    assert (again.token, again.holder, again.info.result_json) == (None, None, "7")


def test_answer_is_a_compare_and_set_on_the_pause(store: Store) -> None:
    claim = take(store)
    store.record("r", Entry("ask", "paused", '"prompt"', 1.0, 1.0), claim.token)
    store.flush()
    store.answer("r", [entry("ask", "yes")], token=claim.token)
    with pytest.raises(AlreadyAnswered, match="'ask'") as caught:
        store.answer("r", [entry("ask", "no")], token=claim.token)
    assert caught.value.step == "ask"
    with pytest.raises(AlreadyAnswered, match="'never'"):
        store.answer("r", [entry("never", "no")], token=None)
    assert store.entries("r")["ask"].output_json == "'yes'"


def test_an_answer_of_a_lost_owner_is_refused(store: Store) -> None:
    old = take(store, owner="old", ttl=0.05)
    store.record("r", Entry("ask", "paused", '"prompt"', 1.0, 1.0))
    time.sleep(0.1)
    assert take(store, owner="new").token == 2
    with pytest.raises(LeaseLost):
        store.answer("r", [entry("ask", "yes")], token=old.token)
    assert store.entries("r")["ask"].status == "paused"


def test_leases_are_shared_by_store_objects_on_the_same_data(open_durable_store: Opener) -> None:
    one, two = open_durable_store(), open_durable_store()
    assert take(one, owner="a").token == 1
    assert take(two, owner="b").holder == "a"


def test_deleting_a_run_deletes_its_lease(store: Store) -> None:
    take(store)
    store.delete_run("r")
    assert store.lease("r") is None
    assert take(store, owner="b").token == 1
