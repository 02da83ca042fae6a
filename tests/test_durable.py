"""Durable runs against real stores: journaled results, resume, changed graphs, durability modes.

Every store here is real: SQLite files on disk, a redis-server started for the
session (tests/_redis_server.py) and `MemoryStore`. Steps count their calls, so
each test states exactly which steps ran again.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Never, cast

import _redis_server
import attrs
import pytest
import trio
from _stores import Opener
from returns.result import Failure, Result, Success

from dagfn import (
    Graph,
    GraphChanged,
    InvalidArgument,
    JournalError,
    RunFailure,
    gather,
    history,
    node,
    replay,
    resume_sync,
    route,
    run,
    run_sync,
)
from dagfn.store import Entry, SqliteStore, UnknownRunError

# The session's redis-server (started only when a redis-backed test asks for it).
redis_url = _redis_server.redis_url


@attrs.frozen
class Doc:
    title: str
    words: tuple[str, ...]


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@attrs.frozen
class Scored:
    doc: Doc
    mood: Mood
    score: float


class Boom(Exception):
    """A planted step failure."""


# -- a journaled run run again calls no step ---------------------------------


def _typed_pipeline(calls: Counter[str]) -> Any:
    """Records, tuples, enums, a Result-returning step and an unannotated lambda."""

    @node
    def parse(text: str) -> Doc:
        calls["parse"] += 1
        return Doc(text.upper(), tuple(text.split()))

    @node
    def feel(doc: Doc) -> tuple[Doc, Mood]:
        calls["feel"] += 1
        return doc, Mood.HAPPY if "good" in doc.words else Mood.SAD

    @node
    def score(pair: tuple[Doc, Mood]) -> Result[Scored, str]:
        calls["score"] += 1
        doc, mood = pair
        return Success(Scored(doc, mood, len(doc.words) / 2))

    def wrap(s: Scored) -> Any:
        calls["wrap"] += 1
        return s

    # An unannotated lambda: its row carries its value's class name.
    lam = node(cast(Callable[[Scored], Any], lambda s: wrap(s))).named("lam")
    return parse >> feel >> score >> lam


def test_a_finished_run_run_again_calls_no_step_and_returns_the_same_typed_result(
    open_store: Opener,
) -> None:
    calls: Counter[str] = Counter()
    graph = _typed_pipeline(calls)
    first = run_sync(graph, "good day", store=open_store(), run_id="r1")
    expected = Scored(Doc("GOOD DAY", ("good", "day")), Mood.HAPPY, 1.0)
    assert first == Success(expected)
    assert calls == Counter(parse=1, feel=1, score=1, wrap=1)
    again = run_sync(graph, "good day", store=open_store(), run_id="r1")
    assert again == Success(expected)
    value = again.unwrap()
    assert type(value) is Scored and type(value.doc.words) is tuple
    assert value.mood is Mood.HAPPY
    assert calls == Counter(parse=1, feel=1, score=1, wrap=1)


def test_unannotated_lambdas_returning_records_and_tuples_come_back_with_their_classes(
    sqlite: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()

    def count(name: str, value: Any) -> Any:
        calls[name] += 1
        return value

    pair = node(cast(Callable[[int], Any], lambda x: count("pair", (x, x + 1)))).named("pair")
    doc = node(
        cast(Callable[[tuple[int, int]], Any], lambda p: count("doc", Doc("t", ("a",))))
    ).named("doc")

    @node
    def last(d: Doc) -> str:
        calls["last"] += 1
        return d.title

    failing = {"last"}

    @node
    def gate(d: Doc) -> Doc:
        if "last" in failing:
            raise Boom
        return d

    # The first run fails after the lambdas, so the resume reads their rows back.
    graph = pair >> doc >> gate >> last
    assert isinstance(run_sync(graph, 1, store=sqlite, run_id="lam").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph, 1, store=sqlite, run_id="lam") == Success("t")
    assert calls == Counter(pair=1, doc=1, last=1)

    # Tuples from an unannotated step resume as tuples, not JSON lists.
    seen: list[object] = []

    @node
    def look(p: Any) -> int:
        seen.append(p)
        if failing:
            raise Boom
        return 0

    failing.add("look")
    graph2 = pair >> look
    assert isinstance(run_sync(graph2, 1, store=sqlite, run_id="tup").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph2, 1, store=sqlite, run_id="tup") == Success(0)
    assert seen == [(1, 2), (1, 2)]
    assert [type(p) for p in seen] == [tuple, tuple]


# -- resume after a failure -----------------------------------------------------


def _diamond(calls: Counter[str], failing: set[str]) -> Any:
    """top -> (left & right).join(both) -> last, and a side branch joined at the end."""

    def step(name: str) -> Callable[[int], int]:
        def fn(x: int) -> int:
            calls[name] += 1
            if name in failing:
                raise Boom(name)
            return x + 1

        fn.__name__ = name
        return fn

    def both_fn(a: int, b: int) -> int:
        calls["both"] += 1
        if "both" in failing:
            raise Boom("both")
        return a + b

    def total_fn(a: int, b: int) -> int:
        calls["total"] += 1
        return a * 100 + b

    top = node(step("top"))
    left = top >> node(step("left"))
    right = top >> node(step("right"))
    last = (left & right).join(both_fn, name="both") >> node(step("last"))
    side = node(step("side"))
    return (last & side).join(total_fn, name="total")


def test_a_failed_run_resumed_runs_only_the_failed_step_and_its_dependents(
    open_store: Opener,
) -> None:
    calls: Counter[str] = Counter()
    failing = {"both"}
    graph = _diamond(calls, failing)
    failed = run_sync(graph, 0, store=open_store(), run_id="diamond")
    failure = failed.failure()
    assert isinstance(failure, RunFailure)
    assert failure.step == "both"
    assert set(failure.not_run) == {"last", "total"}
    assert calls == Counter(top=1, left=1, right=1, both=1, side=1)
    failing.clear()
    resumed = run_sync(graph, 0, store=open_store(), run_id="diamond")
    assert resumed == Success((2 + 2 + 1) * 100 + 1)
    assert calls == Counter(top=1, left=1, right=1, both=2, last=1, total=1, side=1)
    # And once finished, nothing runs at all.
    assert run_sync(graph, 0, store=open_store(), run_id="diamond") == resumed
    assert calls == Counter(top=1, left=1, right=1, both=2, last=1, total=1, side=1)


def test_resume_without_answers_continues_a_failed_run_from_the_store(
    open_store: Opener,
) -> None:
    calls: Counter[str] = Counter()
    failing = {"left"}
    graph = _diamond(calls, failing)
    assert isinstance(run_sync(graph, 5, store=open_store(), run_id="f").failure(), RunFailure)
    failing.clear()
    assert resume_sync(graph, "f", store=open_store()) == Success((7 + 7 + 1) * 100 + 6)
    assert calls == Counter(top=1, left=2, right=1, both=1, last=1, total=1, side=1)


def test_history_lists_failed_and_done_steps_of_a_run(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    graph = _diamond(calls, {"right"})
    run_sync(graph, 0, store=sqlite, run_id="h")
    rows = {row.step: row for row in history(sqlite, "h")}
    assert {step: row.status for step, row in rows.items()} == {
        "top": "done",
        "left": "done",
        "right": "failed",
        "side": "done",
    }
    assert rows["right"].error is not None and "Boom" in rows["right"].error
    assert all(row.started_at <= row.finished_at for row in rows.values())


def test_replay_from_a_step_reuses_the_steps_before_it_in_a_new_run(
    sqlite: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()
    graph = _diamond(calls, set())
    first = run_sync(graph, 0, store=sqlite, run_id="orig")
    calls.clear()

    async def main() -> Result[int, RunFailure[Any]]:
        return cast(
            Result[int, RunFailure[Any]],
            await replay(graph, "orig", step="both", store=sqlite, new_run_id="copy"),
        )

    assert trio.run(main) == first
    assert calls == Counter(both=1, last=1, total=1)
    assert sqlite.get_run("copy").status == "succeeded"


# -- a changed graph -------------------------------------------------------------


def test_a_changed_graph_is_refused_naming_added_removed_and_changed_steps(
    sqlite: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()

    def make(name: str) -> Callable[[int], int]:
        def fn(x: int) -> int:
            calls[name] += 1
            return x + 1

        fn.__name__ = name
        return fn

    def join(a: int, b: int) -> int:
        calls["join"] += 1
        return a + b

    a, b, x, c = (node(make(n)) for n in ("a", "b", "x", "c"))
    v1 = (a & b).join(join, name="join") >> c
    v2 = (a & x).join(join, name="join") >> c
    assert run_sync(v1, 0, store=sqlite, run_id="g") == Success(3)
    with pytest.raises(GraphChanged) as caught:
        run_sync(v2, 0, store=sqlite, run_id="g")
    error = caught.value
    assert (error.added, error.removed, error.changed) == (("x",), ("b",), ("join",))
    assert "added: 'x'" in str(error) and "removed: 'b'" in str(error)
    assert "changed: 'join'" in str(error) and "on_change='reuse'" in str(error)
    assert calls == Counter(a=1, b=1, join=1, c=1)
    # Reuse: only `a` is unchanged and not downstream of a change.
    assert run_sync(v2, 0, store=sqlite, run_id="g", on_change="reuse") == Success(3)
    assert calls == Counter(a=1, b=1, x=1, join=2, c=2)


def test_a_run_reused_with_a_changed_graph_then_holds_the_new_graph(
    sqlite: SqliteStore,
) -> None:
    """After on_change='reuse' the run belongs to the new graph: the old one is refused."""

    def plus(n: int) -> Callable[[int], int]:
        def fn(x: int) -> int:
            return x + n

        fn.__name__ = f"plus{n}"
        return fn

    v1 = node(plus(1)) >> node(plus(10))
    v2 = node(plus(1)) >> node(plus(100))
    assert run_sync(v1, 0, store=sqlite, run_id="g") == Success(11)
    assert run_sync(v2, 0, store=sqlite, run_id="g", on_change="reuse") == Success(101)
    # The journaled result is v2's: running v2 again returns it, v1 is now the change.
    assert run_sync(v2, 0, store=sqlite, run_id="g") == Success(101)
    with pytest.raises(GraphChanged):
        run_sync(v1, 0, store=sqlite, run_id="g")


# -- durability modes ------------------------------------------------------------


def _probe_graph(path: Path, seen: dict[str, set[str]], run_id: str, wait: float) -> Any:
    """up -> down; `down` reads the journal through a second store on the same file."""

    @node
    async def up(x: int) -> int:
        return x + 1

    @node
    async def down(x: int) -> int:
        deadline = trio.current_time() + wait
        while True:
            with SqliteStore(path) as other:
                seen["down"] = set(other.entries(run_id))
            if "up" in seen["down"] or trio.current_time() >= deadline:
                break
            await trio.sleep(0.005)
        return x + 1

    return up >> down


@pytest.mark.parametrize("durability", ["sync", "batched", "exit"])
def test_durability_modes_commit_a_step_row_when_they_promise(
    tmp_path: Path, durability: Literal["sync", "batched", "exit"]
) -> None:
    """sync: before dependents start; batched: within milliseconds; exit: only at the end."""
    path = tmp_path / "journal.db"
    seen: dict[str, set[str]] = {}
    # sync must show the row at once; batched within 2 s (a few ms normally); exit never.
    wait = {"sync": 0.0, "batched": 2.0, "exit": 0.05}[durability]
    graph = _probe_graph(path, seen, "d", wait)
    with SqliteStore(path) as store:
        assert run_sync(graph, 0, store=store, run_id="d", durability=durability) == Success(2)
    assert ("up" in seen["down"]) is (durability != "exit")
    with SqliteStore(path) as fresh:
        assert set(fresh.entries("d")) == {"up", "down"}
        assert fresh.get_run("d").status == "succeeded"


def test_sync_durability_commits_each_row_before_any_dependent_starts(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    observed: list[tuple[str, set[str]]] = []

    def make(name: str) -> Callable[[int], int]:
        def fn(x: int) -> int:
            with SqliteStore(path) as other:
                observed.append((name, set(other.entries("s"))))
            return x + 1

        fn.__name__ = name
        return fn

    a, b, c = (node(make(n)) for n in "abc")
    graph = (a >> b) & (a >> c)
    with SqliteStore(path) as store:
        result = run_sync(
            graph.join(lambda x, y: x + y, name="j"), 0, store=store, run_id="s", durability="sync"
        )
    assert result == Success(4)
    seen = dict(observed)
    assert seen["a"] == set()
    assert "a" in seen["b"] and "a" in seen["c"]


@pytest.mark.parametrize("durability", ["batched", "exit"])
def test_batched_and_exit_modes_commit_every_row_by_the_end(
    tmp_path: Path, durability: Literal["batched", "exit"]
) -> None:
    calls: Counter[str] = Counter()
    graph = _diamond(calls, set())
    path = tmp_path / "journal.db"
    with SqliteStore(path) as store:
        run_sync(graph, 0, store=store, run_id="e", durability=durability)
        # Read through another connection before this store is closed.
        with SqliteStore(path) as other:
            assert set(other.entries("e")) == {
                "top",
                "left",
                "right",
                "both",
                "last",
                "side",
                "total",
            }
            assert other.get_run("e").status == "succeeded"


def test_a_bad_durability_or_on_change_is_an_invalid_argument(sqlite: SqliteStore) -> None:
    graph = node(_inc)
    with pytest.raises(InvalidArgument, match="durability"):
        run_sync(graph, 0, store=sqlite, durability="never")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="on_change"):
        run_sync(graph, 0, store=sqlite, on_change="merge")  # type: ignore[arg-type]


# -- arguments and errors --------------------------------------------------------


def _inc(x: int) -> int:
    return x + 1


def test_a_run_id_without_a_store_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="run_id") as caught:
        run_sync(node(_inc), 0, run_id="r")
    assert caught.value.argument == "run_id"


def test_resuming_an_unknown_run_id_names_it(open_store: Opener) -> None:
    with pytest.raises(UnknownRunError, match="'no-such-run'") as caught:
        resume_sync(node(_inc), "no-such-run", store=open_store())
    assert caught.value.run_id == "no-such-run"


def test_a_step_output_that_is_not_json_fails_that_step_with_a_journal_error(
    sqlite: SqliteStore,
) -> None:
    class Opaque:
        pass

    calls: Counter[str] = Counter()

    @node
    def make(x: int) -> Opaque:
        return Opaque()

    @node
    def after(o: Opaque) -> int:
        calls["after"] += 1
        return 1

    @node
    def fine(x: int) -> int:
        calls["fine"] += 1
        return x

    graph = (make >> after) & fine
    failure = run_sync(graph.join(lambda a, b: a + b, name="j"), 0, store=sqlite).failure()
    assert isinstance(failure, RunFailure)
    assert failure.step == "make"
    assert isinstance(failure.error, JournalError)
    assert failure.error.step == "make"
    assert "'make'" in str(failure.error) and "Opaque" in str(failure.error)
    assert set(failure.not_run) == {"after", "j"}
    assert calls == Counter(fine=1)


@pytest.mark.parametrize("run_id", ["../x", "a/b", "ü ✓ 東京", "../../etc/passwd", " ", "a:b%2F"])
def test_strange_run_ids_are_keys_not_paths(open_store: Opener, run_id: str) -> None:
    calls: Counter[str] = Counter()
    graph = _diamond(calls, set())
    store = open_store()
    first = run_sync(graph, 0, store=store, run_id=run_id)
    assert run_sync(graph, 0, store=open_store(), run_id=run_id) == first
    assert calls["top"] == 1
    assert store.get_run(run_id).run_id == run_id


def test_run_ids_that_differ_only_in_escaping_stay_apart(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    graph = _diamond(calls, set())
    a = run_sync(graph, 1, store=sqlite, run_id="a/b")
    b = run_sync(graph, 2, store=sqlite, run_id="a%2Fb")
    assert a != b
    assert run_sync(graph, 1, store=sqlite, run_id="a/b") == a
    assert run_sync(graph, 2, store=sqlite, run_id="a%2Fb") == b


# -- regions and routes --------------------------------------------------------


def test_a_recovered_region_result_is_journaled_and_a_finished_run_reruns_nothing(
    open_store: Opener,
) -> None:
    calls: Counter[str] = Counter()

    @node
    def flaky(x: int) -> int:
        calls["flaky"] += 1
        raise Boom

    @node
    def after(x: int) -> int:
        calls["after"] += 1
        return x * 2

    graph = (flaky.recover(-1) >> after).named("g")
    assert run_sync(graph, 0, store=open_store(), run_id="rec") == Success(-2)
    assert run_sync(graph, 0, store=open_store(), run_id="rec") == Success(-2)
    assert calls == Counter(flaky=1, after=1)


def test_a_recovered_region_is_not_entered_again_when_a_failed_run_resumes(
    open_store: Opener,
) -> None:
    """The region's journaled result stands: its failed inner step does not run again."""
    calls: Counter[str] = Counter()
    failing = {"flaky", "other"}

    @node
    def flaky(x: int) -> int:
        calls["flaky"] += 1
        if "flaky" in failing:
            raise Boom
        return 100

    @node
    def other(x: int) -> int:
        calls["other"] += 1
        if "other" in failing:
            raise Boom
        return x

    graph = (flaky.recover(-1) & other).join(lambda a, b: a + b, name="sum")
    assert isinstance(run_sync(graph, 0, store=open_store(), run_id="rr").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph, 0, store=open_store(), run_id="rr") == Success(-1)
    assert calls == Counter(flaky=1, other=2)


def test_a_fallback_graph_resumes_with_its_journaled_branch(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    failing = {"primary", "other"}

    @node
    def primary(x: int) -> int:
        calls["primary"] += 1
        if "primary" in failing:
            raise Boom
        return 1

    @node
    def backup(x: int) -> int:
        calls["backup"] += 1
        return 2

    @node
    def other(x: int) -> int:
        calls["other"] += 1
        if "other" in failing:
            raise Boom
        return 10

    graph = ((primary | backup) & other).join(lambda a, b: a + b, name="sum")
    assert isinstance(run_sync(graph, 0, store=open_store(), run_id="fb").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph, 0, store=open_store(), run_id="fb") == Success(12)
    assert calls == Counter(primary=1, backup=1, other=2)
    assert run_sync(graph, 0, store=open_store(), run_id="fb") == Success(12)
    assert calls == Counter(primary=1, backup=1, other=2)


def test_a_journaled_route_resumes_into_the_same_branch(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    failing = {"finish"}
    picks: Iterator[Literal["short", "long"]] = iter(
        ["short", "long"]
    )  # the selector would pick another branch if called again

    def pick(x: int) -> Literal["short", "long"]:
        calls["pick"] += 1
        return next(picks)

    @node
    def short(x: int) -> int:
        calls["short"] += 1
        return x + 1

    @node
    def long(x: int) -> int:
        calls["long"] += 1
        return x + 1000

    @node
    def finish(x: int) -> int:
        calls["finish"] += 1
        if "finish" in failing:
            raise Boom
        return x * 2

    graph = route(pick).cases({"short": short, "long": long}) >> finish
    assert isinstance(run_sync(graph, 1, store=open_store(), run_id="rt").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph, 1, store=open_store(), run_id="rt") == Success(4)
    assert calls == Counter(pick=1, short=1, finish=2)


def test_a_route_whose_branch_failed_resumes_into_that_branch(open_store: Opener) -> None:
    calls: Counter[str] = Counter()
    failing = {"long"}
    picks: Iterator[Literal["short", "long"]] = iter(["long", "short"])

    def pick(x: int) -> Literal["short", "long"]:
        calls["pick"] += 1
        return next(picks)

    @node
    def short(x: int) -> int:
        calls["short"] += 1
        return x + 1

    @node
    def long(x: int) -> int:
        calls["long"] += 1
        if "long" in failing:
            raise Boom
        return x + 1000

    graph = route(pick).cases({"short": short, "long": long})
    assert isinstance(run_sync(graph, 1, store=open_store(), run_id="rb").failure(), RunFailure)
    failing.clear()
    assert run_sync(graph, 1, store=open_store(), run_id="rb") == Success(1001)
    assert calls == Counter(pick=1, long=2)


def test_steps_returning_failure_values_resume(sqlite: SqliteStore) -> None:
    calls: Counter[str] = Counter()
    failing = {"check"}

    @node
    def check(x: int) -> Result[int, str]:
        calls["check"] += 1
        return Failure("bad") if "check" in failing else Success(x)

    graph = node(_inc) >> check
    failure = run_sync(graph, 1, store=sqlite, run_id="res").failure()
    assert isinstance(failure, RunFailure) and failure.error == "bad"
    failing.clear()
    assert run_sync(graph, 1, store=sqlite, run_id="res") == Success(2)
    assert calls == Counter(check=2)
    rows = sqlite.entries("res")
    assert rows["check"].status == "done" and rows["_inc"].status == "done"


def test_an_async_run_with_a_store_is_journaled(sqlite: SqliteStore) -> None:
    @node
    async def slow(x: int) -> int:
        await trio.sleep(0)
        return x + 1

    async def main() -> Result[int, RunFailure[Any]]:
        return await run(slow >> slow.named("again"), 0, store=sqlite, run_id="async")

    assert trio.run(main) == Success(2)
    entries = sqlite.entries("async")
    assert {p: e.output_json for p, e in entries.items()} == {"slow": "1", "again": "2"}
    assert all(isinstance(e, Entry) for e in entries.values())


def test_a_big_change_lists_a_few_paths_in_the_message_and_all_in_the_attributes(
    sqlite: SqliteStore,
) -> None:
    def step(name: str) -> Graph[int, int, Never]:
        def fn(x: int) -> int:
            return x + 1

        fn.__name__ = name
        return node(fn)

    small = step("a")
    big = small >> gather([step(f"new{i:02}") for i in range(20)])
    run_sync(small, 0, store=sqlite, run_id="big")
    with pytest.raises(GraphChanged) as caught:
        run_sync(big, 0, store=sqlite, run_id="big")
    assert len(caught.value.added) == 20
    assert "'new07' and 12 more" in str(caught.value)
    assert "'new08'" not in str(caught.value)


def test_a_journaled_row_that_no_longer_fits_its_type_is_a_journal_error_naming_the_step(
    sqlite: SqliteStore,
) -> None:
    @node
    def make(x: int) -> Doc:
        return Doc("t", ("w",))

    @node
    def use(d: Doc) -> int:
        raise Boom

    run_sync(make >> use, 0, store=sqlite, run_id="old")
    # The row as an older version of the code could have written it.
    sqlite.record("old", Entry("make", "done", '{"name": "t"}', 1.0, 2.0))
    sqlite.flush()
    with pytest.raises(JournalError, match="'make' no longer reads as Doc") as caught:
        run_sync(make >> use, 0, store=sqlite, run_id="old")
    assert caught.value.step == "make"
    assert "new run id" in str(caught.value)


def test_a_run_input_that_is_not_json_is_a_journal_error_before_any_step(
    sqlite: SqliteStore,
) -> None:
    calls: Counter[str] = Counter()

    @node
    def take(x: object) -> int:
        calls["take"] += 1
        return 1

    with pytest.raises(JournalError, match="<input>"):
        run_sync(take, object(), store=sqlite, run_id="in")
    assert calls == Counter()


def test_recover_and_fallback_regions_in_a_route_branch_not_taken_are_journaled_fine(
    open_store: Opener,
) -> None:
    """A region in an untaken branch has no value: it writes no row (was a JournalError)."""
    calls: Counter[str] = Counter()

    def pick(x: int) -> Literal["a", "b", "c"]:
        return "a"

    def make(name: str) -> Graph[int, int, Never]:
        def fn(x: int) -> int:
            calls[name] += 1
            return x + 1

        fn.__name__ = name
        return node(fn)

    graph = route(pick).cases(
        {"a": make("a"), "b": make("b").recover(0), "c": make("c") | make("c2")}
    )
    assert run_sync(graph, 1, store=open_store(), run_id="nt") == Success(2)
    assert run_sync(graph, 1, store=open_store(), run_id="nt") == Success(2)
    assert calls == Counter(a=1)


def test_the_same_run_id_with_another_input_is_refused_naming_the_journaled_input(
    tmp_path: Path,
) -> None:
    from dagfn import InputChanged

    @node
    def double_it(x: int) -> int:
        return x * 2

    with SqliteStore(str(tmp_path / "input.sqlite")) as store:
        assert run_sync(double_it, 3, store=store, run_id="same") == Success(6)
        with pytest.raises(
            InputChanged, match=r"run 'same' was journaled with another input \(3\)"
        ):
            run_sync(double_it, 4, store=store, run_id="same")
        assert run_sync(double_it, 3, store=store, run_id="same") == Success(6)


def test_an_unannotated_root_gets_its_input_back_as_the_same_class_on_resume(
    tmp_path: Path,
) -> None:
    from dagfn import interrupt, resume_sync

    def ask(a: Ask) -> str:
        return a.text

    def same(a: Any) -> Any:  # typed Any: the journal cannot read back a precise type
        return a

    first = node(same).named("first")

    def upper(s: str) -> str:
        return s.upper()

    g = first >> interrupt(ask, answer=str) >> node(upper).named("shout")
    with SqliteStore(str(tmp_path / "tagged.sqlite")) as store:
        paused = run_sync(g, Ask("hi"), store=store, run_id="t")
        assert isinstance(paused, Failure)
        assert resume_sync(g, "t", store=store, answer="ok") == Success("OK")


@attrs.frozen
class Ask:
    text: str
