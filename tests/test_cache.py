"""The step cache: keys (fingerprint + canonical input digest), hits, misses, stores, bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import shutil
import sqlite3
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _redis_server
import attrs
import pytest
import trio
from _stores import Opener
from _support import failure_of
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from dagfn import (
    CacheUnavailable,
    Event,
    InvalidArgument,
    Trace,
    Uncacheable,
    cache_clear,
    cache_stats,
    history,
    interrupt,
    loop,
    node,
    resume_sync,
    run,
    run_sync,
)
from dagfn._fingerprint import code_fingerprint, value_digest
from dagfn.cli import main
from dagfn.executors import Threads
from dagfn.store import MemoryStore, RedisStore, SqliteStore, Store


@attrs.frozen
class Doc:
    title: str
    words: int


@attrs.frozen
class Other:
    title: str
    words: int


@dataclasses.dataclass(frozen=True)
class Box:
    item: Any


class Colour(enum.Enum):
    RED = 1


class Calls:
    """Counts calls of step functions (thread-safe: executors call from threads)."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.n += 1


def counted(calls: Calls) -> Callable[[Doc], Doc]:
    def shout(d: Doc) -> Doc:
        calls()
        return Doc(d.title.upper(), d.words + 1)

    return shout


# -- the digest's laws ------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
hashable = st.recursive(
    scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4), max_leaves=8
)
values = st.recursive(
    scalars | st.builds(Doc, st.text(max_size=5), st.integers()),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashable, inner, max_size=4)
        | st.sets(hashable, max_size=4)
        | st.builds(Box, inner)
    ),
    max_leaves=12,
)


def reordered(value: Any, rng: Any) -> Any:
    """An equal copy of ``value`` whose dicts and sets were built in another order."""
    if isinstance(value, dict):
        items = [(reordered(k, rng), reordered(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, set | frozenset):
        members = [reordered(m, rng) for m in value]
        rng.shuffle(members)
        return type(value)(members)
    if isinstance(value, list):
        return [reordered(v, rng) for v in value]
    if isinstance(value, tuple):
        return tuple(reordered(v, rng) for v in value)
    if isinstance(value, Box):
        return Box(reordered(value.item, rng))
    return value


@given(values, st.randoms(use_true_random=False))
def test_equal_values_have_equal_digests_whatever_their_dict_and_set_order(
    value: Any, rng: Any
) -> None:
    copy = reordered(value, rng)
    assert copy == value
    assert value_digest(copy) == value_digest(value)


def model(value: Any, *, as_key: bool = False) -> Any:
    """An independent model of "the same value": types at every level, dicts and sets
    unordered, floats by their repr (as set members and dict keys -0.0 is 0.0, as in Python)."""
    if isinstance(value, float):
        return (float, repr(value + 0.0 if as_key else value))
    if isinstance(value, dict):
        pairs = frozenset((model(k, as_key=True), model(v)) for k, v in value.items())
        return (dict, pairs)
    if isinstance(value, set | frozenset):
        return (type(value), frozenset(model(m, as_key=True) for m in value))
    if isinstance(value, list | tuple):
        return (type(value), tuple(model(v) for v in value))
    if isinstance(value, Doc):
        return (Doc, model(value.title), model(value.words))
    if isinstance(value, Box):
        return (Box, model(value.item))
    return (type(value), value)


@given(values, values)
def test_digests_are_equal_exactly_when_values_are_the_same_value_of_the_same_types(
    a: Any, b: Any
) -> None:
    assert (value_digest(a) == value_digest(b)) == (model(a) == model(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (1, "1"),
        ("a", b"a"),
        ([1, 2], (1, 2)),
        ({1, 2}, frozenset({1, 2})),
        ({"title": "a", "words": 1}, Doc("a", 1)),
        (Doc("a", 1), Other("a", 1)),
        (Colour.RED, 1),
        ((..., "[", (1,)), [1]),
        ({1: "a"}, {"1": "a"}),
        (Box(Doc("a", 1)), Box(Other("a", 1))),
    ],
)
def test_equal_looking_values_of_different_types_never_collide(a: object, b: object) -> None:
    assert value_digest(a) != value_digest(b)


def test_float_spelling_and_negative_zero_as_a_key_do_not_change_a_digest() -> None:
    assert value_digest(0.1) == value_digest(1e-1) == value_digest(float("0.10"))
    assert value_digest({0.0, 1.0}) == value_digest({-0.0, 1.0})


# -- fingerprints -----------------------------------------------------------------

SOURCE = """
LIMIT = {limit}

def step(d):
    return d.words + LIMIT{extra}
"""


def defined(limit: int, extra: str = "", padding: str = "") -> Callable[[Any], Any]:
    namespace: dict[str, Any] = {}
    exec(padding + textwrap.dedent(SOURCE.format(limit=limit, extra=extra)), namespace)
    fn: Callable[[Any], Any] = namespace["step"]
    return fn


@given(st.integers(), st.integers(), st.sampled_from(["", " + 1", " * 2"]))
def test_an_edited_function_or_constant_has_another_fingerprint(a: int, b: int, extra: str) -> None:
    first, second = defined(a), defined(b, extra)
    assert (code_fingerprint(first) == code_fingerprint(second)) == (a == b and extra == "")


def test_the_same_code_elsewhere_in_a_file_keeps_its_fingerprint() -> None:
    assert code_fingerprint(defined(3)) == code_fingerprint(defined(3, padding="\n\n\n# moved\n"))


def test_a_closed_over_constant_is_part_of_the_fingerprint() -> None:
    def make(k: int) -> Callable[[int], int]:
        def add(x: int) -> int:
            return x + k

        return add

    assert code_fingerprint(make(1)) != code_fingerprint(make(2))
    assert code_fingerprint(make(1)) == code_fingerprint(make(1))


def test_an_edited_helper_the_step_calls_is_a_miss() -> None:
    ns: dict[str, Any] = {}
    exec("def helper(x):\n    return x + 1\ndef step(x):\n    return helper(x)\n", ns)
    before = code_fingerprint(ns["step"])
    ns2: dict[str, Any] = {}
    exec("def helper(x):\n    return x + 2\ndef step(x):\n    return helper(x)\n", ns2)
    assert code_fingerprint(ns2["step"]) != before


def test_an_edited_function_misses_and_the_unedited_one_hits() -> None:
    # Closed-over data is part of the fingerprint, so calls are counted by an
    # object that is not data (a lock inside): it is named by its type only.
    store = MemoryStore()
    calls = Calls()

    def graph_of(limit: int) -> Any:
        fn = defined(limit)

        def step(d: Doc) -> int:
            calls()
            return int(fn(d))

        return node(step).cache()

    assert run_sync(graph_of(1), Doc("a", 1), store=store) == Success(2)
    assert run_sync(graph_of(1), Doc("a", 1), store=store) == Success(2)
    assert calls.n == 1
    assert run_sync(graph_of(5), Doc("a", 1), store=store) == Success(6)
    assert calls.n == 2


# -- hits and misses in runs ------------------------------------------------------


def test_a_hit_under_another_run_id_calls_nothing_and_is_a_cached_finish(
    open_store: Opener,
) -> None:
    calls = Calls()
    g = node(counted(calls)).named("shout").cache()
    store = open_store()
    assert run_sync(g, Doc("a", 1), store=store, run_id="r1") == Success(Doc("A", 2))
    trace = Trace()
    again = run_sync(g, Doc("a", 1), store=open_store(), run_id="r2", on_event=trace)
    assert again == Success(Doc("A", 2))
    assert calls.n == 1
    assert [(e.kind, e.step, e.cached, e.attempt) for e in trace.events] == [
        ("finish", "shout", True, 0)
    ]
    assert trace.steps["shout"].cached and trace.steps["shout"].status == "completed"
    (row,) = history(open_store(), "r2")
    assert row.cached and row.attempts == 0
    (first,) = history(open_store(), "r1")
    assert not first.cached


def test_another_input_misses() -> None:
    calls = Calls()
    g = node(counted(calls)).named("other_input").cache()
    store = MemoryStore()
    run_sync(g, Doc("a", 1), cache=store)
    run_sync(g, Doc("a", 2), cache=store)
    run_sync(g, Doc("a", 2), cache=store)
    assert calls.n == 2


def test_without_cache_or_store_runs_share_a_process_wide_memory_cache() -> None:
    calls = Calls()
    g = node(counted(calls)).named("process_wide").cache()
    run_sync(g, Doc("zz", 7))
    run_sync(g, Doc("zz", 7))
    assert calls.n == 1
    assert cache_stats().steps.get("process_wide") == 1
    assert cache_clear(step="process_wide") == 1
    run_sync(g, Doc("zz", 7))
    assert calls.n == 2


def test_cache_argument_wins_over_the_store(tmp_path: Path) -> None:
    calls = Calls()
    g = node(counted(calls)).named("where").cache()
    with SqliteStore(tmp_path / "cache.db") as cache, SqliteStore(tmp_path / "runs.db") as store:
        run_sync(g, Doc("a", 1), store=store, cache=cache)
        run_sync(g, Doc("a", 1), store=MemoryStore(), cache=cache)
        assert calls.n == 1
        assert cache_stats(cache).entries == 1
        assert cache_stats(store).entries == 0


def test_a_composite_caches_every_step_that_sets_no_cache_of_its_own() -> None:
    calls = Calls()

    @node
    def count(d: Doc) -> int:
        calls()
        return d.words

    g = (node(counted(calls)).named("up") >> count).cache()
    store = MemoryStore()
    run_sync(g, Doc("a", 1), store=store)
    run_sync(g, Doc("a", 1), store=store)
    assert calls.n == 2
    assert cache_stats(store).steps == {"up": 1, "count": 1}


def test_ttl_expired_entries_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls()
    g = node(counted(calls)).named("short").cache(ttl=60)
    store = MemoryStore()
    run_sync(g, Doc("a", 1), store=store)
    run_sync(g, Doc("a", 1), store=store)
    assert calls.n == 1
    later = time.time() + 61  # the wall clock the cache reads, a minute on
    monkeypatch.setattr("dagfn._cache.time.time", lambda: later)
    run_sync(g, Doc("a", 1), store=store)
    assert calls.n == 2
    assert cache_stats(store).expired == 0  # the miss replaced the stale entry


def test_a_failed_step_is_never_cached() -> None:
    attempts: list[int] = []

    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise ValueError("first time")
        return x * 2

    g = node(flaky).cache()
    store = MemoryStore()
    assert isinstance(run_sync(g, 3, store=store), Failure)
    assert cache_stats(store).entries == 0
    assert run_sync(g, 3, store=store) == Success(6)
    assert run_sync(g, 3, store=store) == Success(6)
    assert len(attempts) == 2


def test_retries_and_timeouts_work_under_the_cache() -> None:
    attempts: list[int] = []

    async def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise ConnectionError("again")
        await trio.sleep(0)
        return x + 1

    g = node(flaky).retry(3, backoff=0).timeout(5).cache()
    store = MemoryStore()
    assert run_sync(g, 1, store=store) == Success(2)
    assert run_sync(g, 1, store=store) == Success(2)
    assert len(attempts) == 3


def test_loop_iterations_are_cached_by_their_state() -> None:
    calls = Calls()

    @node
    def grow(n: int) -> int:
        calls()
        return n + 1

    g = loop(grow, until=lambda n: n >= 5, max_steps=10).cache()
    store = MemoryStore()
    assert run_sync(g, 0, store=store) == Success(5)
    assert calls.n == 5
    assert run_sync(g, 2, store=store) == Success(5)  # states 2, 3, 4 were seen
    assert calls.n == 5


def test_steps_on_an_executor_are_cached() -> None:
    calls = Calls()
    g = node(counted(calls)).named("threaded").via(Threads()).cache()
    store = MemoryStore()

    async def twice() -> None:
        for _ in range(2):
            assert await run(g, Doc("t", 1), store=store) == Success(Doc("T", 2))

    trio.run(twice)
    assert calls.n == 1


def test_an_interrupt_under_a_cached_composite_is_never_cached(tmp_path: Path) -> None:
    calls = Calls()

    def ask(d: Doc) -> str:
        return f"approve {d.title}?"

    def after(ok: bool) -> str:
        calls()
        return "yes" if ok else "no"

    g = (interrupt(ask, answer=bool) >> node(after)).cache()
    with SqliteStore(tmp_path / "runs.db") as store:
        for run_id, answer in (("p1", True), ("p2", False)):
            result = run_sync(g, Doc("a", 1), store=store, run_id=run_id)
            assert isinstance(result, Failure)  # paused: the answer is never cached
            assert resume_sync(g, run_id, store=store, answer=answer) == Success(
                "yes" if answer else "no"
            )
        assert calls.n == 2
        assert set(cache_stats(store).steps) == {"after"}


# -- uncacheable inputs -----------------------------------------------------------


class Opaque:
    """A class cattrs cannot unstructure."""

    def __init__(self, n: int) -> None:
        self.n = n


def test_an_input_with_no_digest_fails_the_step_naming_it_and_its_type() -> None:
    def use(o: Any) -> int:
        return 1

    g = node(use).cache()
    failure = failure_of(run_sync(g, [Opaque(1)], cache=MemoryStore()))
    assert failure.step == "use"
    assert isinstance(failure.error, Uncacheable)
    assert failure.error.type_name == "Opaque"
    assert "step 'use'" in str(failure.error) and "Opaque" in str(failure.error)


def test_an_annotation_that_shows_no_digest_is_refused_when_the_graph_is_built() -> None:
    def apply(f: Callable[[int], int]) -> int:
        return f(1)

    with pytest.raises(Uncacheable, match=r"step 'apply'.*Callable"):
        node(apply).cache()
    composite = node(apply) >> node(str)
    with pytest.raises(Uncacheable, match="step 'apply'"):
        run_sync(composite.cache(), lambda x: x)


def test_a_bad_ttl_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgument, match="ttl"):
        node(str).cache(ttl=-1)


def test_a_bad_cache_argument_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgument, match="cache"):
        run_sync(node(str).cache(), 1, cache="memory")  # type: ignore[arg-type]


# -- bad input: stores that fail, entries that were damaged ----------------------


@pytest.fixture
def dying_redis(tmp_path: Path) -> Iterator[RedisStore]:
    """A RedisStore whose server is stopped once the store is open."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed")
    with _redis_server.running_redis_server(executable, tmp_path) as url:
        store = RedisStore(url, prefix="dying")
    yield store
    with contextlib.suppress(Exception):  # its writer may have stopped on the lost server
        store.close()


def test_an_unreachable_cache_runs_the_step_uncached_and_says_so(dying_redis: RedisStore) -> None:
    calls = Calls()
    g = node(counted(calls)).named("lonely").cache()
    trace = Trace()
    assert run_sync(g, Doc("a", 1), cache=dying_redis, on_event=trace) == Success(Doc("A", 2))
    assert calls.n == 1
    kinds = [e.kind for e in trace.events]
    assert "uncached" in kinds and kinds[-1] == "finish"
    assert trace.steps["lonely"].uncached and trace.steps["lonely"].status == "completed"


def test_an_unreachable_cache_fails_the_step_when_the_cache_is_required(
    dying_redis: RedisStore,
) -> None:
    calls = Calls()
    g = node(counted(calls)).named("needy").cache()
    failure = failure_of(run_sync(g, Doc("a", 1), cache=dying_redis, cache_required=True))
    assert isinstance(failure.error, CacheUnavailable) and failure.step == "needy"
    assert calls.n == 0


def _tamper(path: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql, args)


def test_a_corrupted_entry_is_a_miss_never_a_wrong_value(tmp_path: Path) -> None:
    calls = Calls()
    g = node(counted(calls)).named("fragile").cache()
    file = tmp_path / "c.db"
    with SqliteStore(file) as store:
        run_sync(g, Doc("a", 1), store=store)
    for damage in ('{"title": "B", "words": 9}', "{not json", '"a string"'):
        _tamper(file, "UPDATE dagfn_cache SET value_json = ?", damage)
        with SqliteStore(file) as store:
            assert run_sync(g, Doc("a", 1), store=store) == Success(Doc("A", 2))
    assert calls.n == 4


def test_a_tampered_entry_with_a_valid_checksum_builds_no_foreign_class(tmp_path: Path) -> None:
    from dagfn._cache import checksum

    def anything(x: int) -> Any:  # no output annotation: rows carry a class name
        return {"n": x}

    g = node(anything).cache()
    file = tmp_path / "c.db"
    with SqliteStore(file) as store:
        run_sync(g, 1, store=store)
    with sqlite3.connect(file) as conn:
        key, step = conn.execute("SELECT key, step FROM dagfn_cache").fetchone()
    evil = '{"__dagfn_type__": "subprocess.Popen", "value": {"args": ["true"]}}'
    _tamper(
        file,
        "UPDATE dagfn_cache SET value_json = ?, checksum = ?",
        evil,
        checksum(key, step, evil),
    )
    with SqliteStore(file) as store:
        result = run_sync(g, 1, store=store)
    # The entry names a class outside the graph: it is not read (a miss), nothing is built.
    assert result == Success({"n": 1})


# -- every store, stats, clear, the command line ----------------------------------


def test_stats_and_clear_on_every_store(open_store: Opener) -> None:
    g = (node(counted(Calls())).named("a") >> node(counted(Calls())).named("b")).cache()
    store: Store = open_store()
    run_sync(g, Doc("x", 1), store=store)
    run_sync(g, Doc("y", 1), store=store)
    stats = cache_stats(store)
    assert (stats.entries, stats.steps) == (4, {"a": 2, "b": 2})
    assert stats.bytes > 0
    assert cache_clear(store, step="a") == 2
    assert cache_stats(store).steps == {"b": 2}
    assert cache_clear(store) == 2
    assert cache_stats(store).entries == 0
    assert store.list_runs()  # runs are not cache entries


def test_the_cache_command_shows_and_clears_a_store(tmp_path: Path) -> None:
    file = tmp_path / "c.db"
    with SqliteStore(file) as store:
        run_sync(node(counted(Calls())).named("cli_step").cache(), Doc("a", 1), store=store)

    def command(*argv: str) -> str:
        out = io.StringIO()
        assert main([*argv, "--store", str(file)], out=out) == 0
        return out.getvalue()

    assert command("cache", "stats").startswith("1 entries")
    assert "cli_step: 1" in command("cache", "stats")
    assert command("cache", "clear") == "cleared 1 entries\n"
    assert command("cache", "stats").startswith("0 entries")


def test_events_of_a_run_with_no_listener_cost_nothing_and_a_hit_is_one_event() -> None:
    events: list[Event] = []
    g = node(counted(Calls())).named("listened").cache()
    store = MemoryStore()
    run_sync(g, Doc("e", 1), store=store)
    run_sync(g, Doc("e", 1), store=store, on_event=events.append)
    assert [(e.kind, e.cached) for e in events] == [("finish", True)]


PROGRAM = """
import sys
import attrs
from dagfn import Trace, node, route, run_sync
from dagfn.store import SqliteStore

WORDS = {"alpha", "beta", "gamma", "delta"}


@attrs.frozen
class Note:
    text: str
    tags: tuple[str, ...] = attrs.field(factory=tuple)


@node
def known(n: Note) -> Note:
    return Note(n.text, tuple(t for t in n.text.split() if t in WORDS))


def size(n: Note) -> str:
    return "many" if len(n.tags) > 1 else "few"


@node
def shout(n: Note) -> str:
    return n.text.upper()


@node
def whisper(n: Note) -> str:
    return n.text.lower()


graph = (known >> route(size).cases({"many": shout, "few": whisper})).cache()
trace = Trace()
with SqliteStore(sys.argv[1]) as store:
    print(run_sync(graph, Note("alpha beta x"), store=store, on_event=trace))
done = [r for r in trace.steps.values() if r.status == "completed"]
print(f"{sum(r.cached for r in done)} of {len(done)} steps cached")
"""


def test_a_new_process_with_another_hash_seed_hits_what_an_earlier_one_kept(
    tmp_path: Path,
) -> None:
    import os
    import subprocess

    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    store = tmp_path / "shared.sqlite"
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(program), str(store)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.append(done.stdout.splitlines())
    assert outputs[0] == ["<Success: ALPHA BETA X>", "0 of 3 steps cached"]
    assert outputs[1] == ["<Success: ALPHA BETA X>", "3 of 3 steps cached"]


# -- what a hit decodes ---------------------------------------------------------------


def test_an_entry_met_again_is_not_decoded_again_but_a_changed_one_is(tmp_path: Path) -> None:
    import dagfn._cache as cache_module

    @node
    def upper(d: Doc) -> Doc:  # a frozen record: immutable, so its decoded value is kept
        return Doc(d.title.upper(), d.words)

    g = upper.cache()
    decoded: list[str] = []
    real = cache_module.read_output  # type: ignore[attr-defined]

    def counting(plan: Any, i: int, text: str) -> Any:
        decoded.append(text)
        return real(plan, i, text)

    with SqliteStore(tmp_path / "c.db") as store:
        run_sync(g, Doc("a", 1), store=store)  # a miss: computed and put
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cache_module, "read_output", counting)
            assert run_sync(g, Doc("a", 1), store=store) == Success(Doc("A", 1))
            assert decoded == []  # the entry this process put: not decoded again
            entry = store.cache_get(next(iter(cache_module._MEMOS[store])))
            assert entry is not None
            text = entry.value_json.replace('"A"', '"Z"')  # another process rewrote it
            check = cache_module.checksum(entry.key, entry.step, text)
            store.cache_put(entry._replace(value_json=text, check=check))
            store.cache_flush()
            assert run_sync(g, Doc("a", 1), store=store) == Success(Doc("Z", 1))
            assert decoded == [text]  # a changed entry is read afresh


def test_a_mutable_output_is_decoded_for_every_hit(tmp_path: Path) -> None:
    @node
    def words(d: Doc) -> list[str]:  # a list: each run gets its own
        return d.title.split()

    g = words.cache()
    with SqliteStore(tmp_path / "c.db") as store:
        first = run_sync(g, Doc("a b", 1), store=store).unwrap()
        second = run_sync(g, Doc("a b", 1), store=store).unwrap()
        third = run_sync(g, Doc("a b", 1), store=store).unwrap()
    assert first == second == third == ["a", "b"]
    assert second is not third
