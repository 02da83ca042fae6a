"""Streamed steps and `stream`: chunks as they are made, their fold, backpressure, cancellation.

Runs use trio's `MockClock` (virtual time) and `wait_all_tasks_blocked`
(a deterministic "everything that can run has run"), never wall time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from _support import failure_of
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import (
    Chunk,
    ChunkFoldError,
    Event,
    Graph,
    InvalidArgument,
    Limits,
    RunFailure,
    StepTimeout,
    StreamNotFinished,
    gather,
    history,
    loop,
    node,
    route,
    run,
    run_sync,
    stream,
    streamed,
)
from dagfn.monoid import Concat, Sum, Text
from dagfn.store import SqliteStore

Clock = trio.testing.MockClock


def virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main`` in virtual time: sleeps jump the clock."""
    return trio.run(main, clock=Clock(autojump_threshold=0))


async def spell(word: str) -> AsyncIterator[str]:
    for letter in word:
        await trio.sleep(0.01)
        yield letter.upper()


gen = streamed(spell, Text())


@node
def shout(text: str) -> str:
    return text + "!"


async def collect(
    graph: Graph[Any, Any, Any], x: object, **kw: Any
) -> tuple[list[Chunk[Any]], Any]:
    """Every chunk of a stream of ``graph`` on ``x``, and its result."""
    async with stream(graph, x, **kw) as s:
        chunks = [c async for c in s]
    return chunks, s.result


# -- building ------------------------------------------------------------------------


def test_streamed_refuses_a_plain_function_naming_it() -> None:
    def tokens(x: str) -> list[str]:
        return list(x)

    with pytest.raises(InvalidArgument, match=r"'tokens' is not one.*fn=<function") as info:
        streamed(tokens, Text())  # type: ignore[arg-type]
    assert info.value.argument == "fn"


def test_streamed_refuses_an_async_function_that_does_not_yield() -> None:
    async def whole(x: str) -> str:
        return x

    with pytest.raises(InvalidArgument, match="'whole' is not one: make it yield"):
        streamed(whole, Text())  # type: ignore[arg-type]


def test_streamed_refuses_bad_monoids_names_and_graphs() -> None:
    with pytest.raises(InvalidArgument, match="Expected a Monoid") as info:
        streamed(spell, "")  # type: ignore[call-overload]
    assert info.value.argument == "monoid"
    with pytest.raises(InvalidArgument, match="name='a/b'"):
        streamed(spell, Text(), name="a/b")
    with pytest.raises(InvalidArgument, match="already a graph"):
        streamed(gen, Text())  # type: ignore[call-overload]
    with pytest.raises(InvalidArgument, match="fn=3"):
        streamed(3, Text())  # type: ignore[call-overload]


def test_node_refuses_an_async_generator_and_points_to_streamed() -> None:
    with pytest.raises(InvalidArgument, match=r"use streamed\(fn, monoid\)"):
        node(spell)


def test_a_callable_object_with_an_async_generator_call_is_streamed() -> None:
    class Repeat:
        async def __call__(self, n: int) -> AsyncIterator[int]:
            for _ in range(n):
                yield 1

    assert run_sync(streamed(Repeat(), Sum(), name="repeat"), 4) == Success(4)


# -- run without a reader: the fold ----------------------------------------------------


def test_under_plain_run_a_streamed_step_outputs_the_fold_of_its_chunks() -> None:
    assert virtual(lambda: run(gen >> shout, "trio")) == Success("TRIO!")


def test_no_chunks_give_the_monoids_identity() -> None:
    async def nothing(x: int) -> AsyncIterator[int]:
        if x:
            yield x

    assert run_sync(streamed(nothing, Sum()), 0) == Success(0)
    assert run_sync(streamed(spell, Text()), "") == Success("")


def test_a_chunk_the_monoid_cannot_fold_fails_the_step_naming_it() -> None:
    async def words(x: str) -> AsyncIterator[Any]:
        yield x
        yield 3

    failure = failure_of(run_sync(streamed(words, Text()).named("talk") >> shout, "a"))
    assert failure.step == "talk"
    assert isinstance(failure.error, ChunkFoldError)
    assert failure.error.seq == 1 and failure.error.chunk == 3
    assert "step 'talk' yielded chunk 1 (3, a int)" in str(failure.error)
    assert failure.not_run == ("shout",)


def test_unannotated_text_chunks_given_to_concat_fail_with_a_hint_to_use_text() -> None:
    async def letters(word):  # type: ignore[no-untyped-def]  # nothing says they are text
        for letter in word:
            yield letter

    wrong: Any = Concat()
    failure = failure_of(virtual(lambda: run(streamed(letters, wrong), "ab")))
    assert "for text use dagfn.monoid.Text()" in str(failure.error)


# -- the chunks a stream yields ---------------------------------------------------------


def test_a_stream_yields_every_chunk_with_its_step_attempt_and_seq_then_the_result() -> None:
    chunks, result = virtual(lambda: collect(gen >> shout, "abc"))
    assert chunks == [Chunk("spell", 1, i, v) for i, v in enumerate("ABC")]
    assert result == Success("ABC!")


@attrs.frozen
class Story:
    text: str
    rounds: int


def test_chunks_of_steps_in_subgraphs_loops_and_route_branches_name_their_paths() -> None:
    async def more(s: Story) -> AsyncIterator[str]:
        for part in (f"r{s.rounds}", "."):
            await trio.sleep(0.001)
            yield part

    @node
    def start(x: str) -> Story:
        return Story(x, 0)

    @node
    def absorb(pair: tuple[Story, str]) -> Story:
        return Story(pair[0].text + pair[1], pair[0].rounds + 1)

    @node
    def keep(s: Story) -> Story:
        return s

    talk = streamed(more, Text(), name="talk")
    body = (keep & talk).join(lambda s, t: (s, t), name="pair") >> absorb
    refine = loop(body, until=lambda s: s.rounds >= 2, max_steps=5)

    def kind(s: Story) -> str:
        return "long"

    @node
    def text_of(s: Story) -> str:
        return s.text

    branch = route(kind).cases({"long": (text_of >> gen).named("long"), "short": text_of})
    graph = start >> refine.named("draft") >> branch

    chunks, result = virtual(lambda: collect(graph, "x"))
    assert result == Success("XR0.R1.")
    assert [(c.step, c.value) for c in chunks] == [
        ("draft/talk#1", "r0"),
        ("draft/talk#1", "."),
        ("draft/talk#2", "r1"),
        ("draft/talk#2", "."),
        *[("long/long/spell", v) for v in "XR0.R1."],
    ]


def test_of_yields_only_that_steps_chunks_whatever_its_name_or_policies() -> None:
    async def count(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await trio.sleep(0.001)
            yield i

    counter = streamed(count, Sum())
    graph = (counter.named("a").retry(2) & counter.named("b")).join(lambda a, b: a + b, name="add")

    async def main() -> tuple[list[tuple[str, int]], Result[int, Any]]:
        async with stream(graph, 3) as s:
            got = [(c.step, c.value) async for c in s.of(counter.named("b"))]
        return got, s.result

    got, result = virtual(main)
    assert got == [("b", 0), ("b", 1), ("b", 2)]
    assert result == Success(6)


def test_of_a_step_not_in_the_graph_or_not_streamed_is_an_error_naming_it() -> None:
    async def main() -> None:
        async with stream(gen >> shout, "a") as s:
            with pytest.raises(InvalidArgument, match=r"'other' is not in it.*: 'spell'\)"):
                s.of(gen.named("other"))
            with pytest.raises(InvalidArgument, match="not a composite or node"):
                s.of(shout)
            with pytest.raises(InvalidArgument, match="step=3"):
                s.of(3)  # type: ignore[arg-type]
            async for _ in s:
                pass

    virtual(main)


# -- retries: every attempt starts its chunks again ----------------------------------------


@given(
    attempts=st.lists(st.lists(st.integers(0, 9), max_size=4), min_size=1, max_size=4),
    succeeds=st.booleans(),
    buffer=st.integers(0, 3),
    slow_reader=st.booleans(),
)
def test_chunk_sequences_under_retries(
    attempts: list[list[int]], succeeds: bool, buffer: int, slow_reader: bool
) -> None:
    """Per attempt, seq counts from 0 in order; the output is the successful attempt's fold."""
    calls = itertools.count()

    async def flaky(x: int) -> AsyncIterator[tuple[int, ...]]:
        n = next(calls)
        for value in attempts[n]:
            await trio.sleep(0.001)
            yield (value,)
        if n < len(attempts) - 1 or not succeeds:
            raise ValueError(f"attempt {n + 1}")

    step = streamed(flaky, Concat[int]()).retry(len(attempts), backoff=0.5)

    async def main() -> tuple[list[Chunk[Any]], Any]:
        async with stream(step, 0, buffer=buffer) as s:
            got = []
            async for c in s:
                got.append(c)
                if slow_reader:
                    await trio.sleep(0.01)
        return got, s.result

    chunks, result = virtual(main)
    assert chunks == [
        Chunk("flaky", a + 1, seq, (v,))
        for a, values in enumerate(attempts)
        for seq, v in enumerate(values)
    ]
    if succeeds:
        assert result == Success(tuple(attempts[-1]))
    else:
        failure = failure_of(result)
        assert (failure.step, str(failure.error)) == ("flaky", f"attempt {len(attempts)}")


def test_a_timed_out_attempt_closes_its_generator_and_the_retry_streams_again() -> None:
    closed: list[int] = []
    calls = itertools.count(1)

    async def slow(x: str) -> AsyncIterator[str]:
        n = next(calls)
        try:
            for part in ("a", "b"):
                await trio.sleep(1.0 if n == 1 else 0.1)
                yield part
        finally:
            closed.append(n)

    step = streamed(slow, Text()).timeout(1.5).retry(2, backoff=0)
    events: list[Event] = []
    chunks, result = virtual(lambda: collect(step, "", on_event=events.append))
    assert [(c.attempt, c.seq, c.value) for c in chunks] == [(1, 0, "a"), (2, 0, "a"), (2, 1, "b")]
    assert result == Success("ab")
    assert closed == [1, 2]
    retry = [e for e in events if e.kind == "retry"]
    assert len(retry) == 1 and isinstance(retry[0].error, StepTimeout)
    assert [e.kind for e in events if e.kind != "retry"] == ["start", "start", "finish"]


def test_a_recovered_streamed_step_keeps_its_sent_chunks_and_outputs_the_fallback() -> None:
    async def broken(x: str) -> AsyncIterator[str]:
        yield "par"
        raise ConnectionError("lost")

    step = streamed(broken, Text()).recover("(unavailable)") >> shout
    chunks, result = virtual(lambda: collect(step, ""))
    assert [c.value for c in chunks] == ["par"]
    assert result == Success("(unavailable)!")


def test_streamed_steps_take_budgets_under_limits() -> None:
    running: list[int] = []
    most = 0

    async def tokens(x: int) -> AsyncIterator[int]:
        nonlocal most
        running.append(x)
        most = max(most, len(running))
        for i in range(3):
            await trio.sleep(0.1)
            yield i
        running.remove(x)

    steps = [streamed(tokens, Sum(), name=f"s{i}").on("llm") for i in range(4)]
    graph = (steps[0] & steps[1] & steps[2] & steps[3]).join(lambda *xs: sum(xs), name="total")
    chunks, result = virtual(lambda: collect(graph, 1, limits=Limits(resources={"llm": 2})))
    assert result == Success(12) and len(chunks) == 12 and most == 2


# -- backpressure, leaving early, errors ----------------------------------------------------


@pytest.mark.parametrize("buffer", [0, 1, 5])
def test_a_full_buffer_blocks_the_step_until_the_reader_takes_a_chunk(buffer: int) -> None:
    made: list[int] = []

    async def fast(n: int) -> AsyncIterator[int]:
        for i in range(n):
            made.append(i)  # just before the yield: the chunk exists
            yield i

    async def main() -> None:
        async with stream(streamed(fast, Sum()), 50, buffer=buffer) as s:
            await trio.testing.wait_all_tasks_blocked()
            # ``buffer`` chunks wait in the buffer; one more waits in its send.
            assert len(made) == buffer + 1
            first = await s.__anext__()
            await trio.testing.wait_all_tasks_blocked()
            assert first.value == 0 and len(made) == buffer + 2
            with pytest.raises(StreamNotFinished, match="has not returned yet"):
                s.result  # noqa: B018
            rest = [c.value async for c in s]
        assert rest == list(range(1, 50)) and s.result == Success(sum(range(50)))

    trio.run(main)


def test_leaving_the_block_early_cancels_the_run_and_leaves_nothing_running() -> None:
    closed: list[str] = []

    async def forever(x: int) -> AsyncIterator[int]:
        try:
            for i in itertools.count():
                yield i
        finally:
            closed.append("generator")

    async def wait(x: int) -> int:
        try:
            await trio.sleep(1000)
        finally:
            closed.append("sibling")
        return x

    graph = (streamed(forever, Sum()) & node(wait)).join(lambda a, b: a + b, name="add")

    async def main() -> None:
        living = trio.lowlevel.current_statistics().tasks_living
        async with stream(graph, 0) as s:
            async for c in s:
                if c.seq == 3:
                    break
        assert trio.lowlevel.current_statistics().tasks_living == living
        assert sorted(closed) == ["generator", "sibling"]
        assert trio.current_time() < 1000
        with pytest.raises(StreamNotFinished, match="cancelled: its block was left"):
            s.result  # noqa: B018
        with pytest.raises(StreamNotFinished, match="block has ended"):
            await s.__anext__()

    virtual(main)


def test_an_exception_in_the_block_cancels_the_run_and_propagates_unchanged() -> None:
    async def main() -> None:
        with pytest.raises(KeyError, match="reader"):
            async with stream(gen >> shout, "abcdef") as s:
                async for _ in s:
                    raise KeyError("reader")
        assert trio.current_time() < 0.05  # the rest of the letters never came

    virtual(main)


def test_cancelling_around_the_block_cancels_the_run() -> None:
    async def main() -> None:
        got: list[object] = []
        with trio.move_on_after(0.025) as scope:
            async with stream(gen, "abcdefgh") as s:
                async for c in s:
                    got.append(c.value)
        assert scope.cancelled_caught
        assert got == ["A", "B"]  # made at 0.01 and 0.02
        with pytest.raises(StreamNotFinished, match="cancelled"):
            s.result  # noqa: B018

    virtual(main)


def test_a_stream_is_entered_once_and_read_inside_its_block() -> None:
    async def main() -> None:
        s = stream(gen, "a")
        with pytest.raises(StreamNotFinished, match="read inside its block"):
            await s.__anext__()
        async with s:
            assert [c.value async for c in s] == ["A"]
        with pytest.raises(StreamNotFinished, match="runs once"):
            async with s:
                pass

    virtual(main)


def test_stream_checks_its_arguments_before_anything_runs() -> None:
    with pytest.raises(InvalidArgument, match="buffer=-1") as info:
        stream(gen, "a", buffer=-1)
    assert info.value.argument == "buffer"
    with pytest.raises(InvalidArgument, match="buffer=True"):
        stream(gen, "a", buffer=True)
    with pytest.raises(InvalidArgument, match="policy='best'"):
        stream(gen, "a", policy="best")
    with pytest.raises(InvalidArgument, match="graph=3"):
        stream(3, "a")  # type: ignore[arg-type]


def test_an_exception_the_run_raises_reaches_the_reader_after_the_last_chunk() -> None:
    def explode(event: Event) -> None:
        if event.kind == "finish":
            raise RuntimeError("on_event broke")

    async def main() -> None:
        got: list[str] = []
        async with stream(gen >> shout, "ab", on_event=explode) as s:
            with pytest.raises(RuntimeError, match="on_event broke"):
                async for c in s:
                    got.append(c.value)  # type: ignore[arg-type]
        assert got == ["A", "B"]

    virtual(main)


def test_events_are_those_of_run() -> None:
    async def main() -> list[tuple[str, str]]:
        events: list[Event] = []

        async def record(e: Event) -> None:  # an async on_event too
            events.append(e)

        async with stream(gen >> shout, "ab", on_event=record) as s:
            async for _ in s:
                pass
        return [(e.kind, e.step) for e in events]

    assert virtual(main) == [
        ("start", "spell"),
        ("finish", "spell"),
        ("start", "shout"),
        ("finish", "shout"),
    ]


# -- journal and resume ---------------------------------------------------------------------


def test_a_resumed_run_reuses_a_journaled_streamed_step_which_sends_no_chunks(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    broken = [True]

    async def words(x: str) -> AsyncIterator[tuple[str, ...]]:
        calls.append(x)
        for w in x.split():
            yield (w,)

    @node
    def count(ws: tuple[str, ...]) -> int:
        if broken[0]:
            raise ConnectionError("down")
        return len(ws)

    graph = streamed(words, Concat[str]()) >> count
    path = tmp_path / "runs.sqlite"
    with SqliteStore(path) as store:
        chunks, result = virtual(lambda: collect(graph, "a b c", store=store, run_id="r1"))
        assert [c.value for c in chunks] == [("a",), ("b",), ("c",)]
        assert failure_of(result).step == "count"
    broken[0] = False
    with SqliteStore(path) as store:  # a new process would open the file again
        chunks, result = virtual(lambda: collect(graph, "a b c", store=store, run_id="r1"))
        assert chunks == [] and result == Success(3) and calls == ["a b c"]
        rows = {row.step: row.status for row in history(store, "r1")}
        assert rows == {"words": "done", "count": "done"}


def test_a_stream_left_early_resumes_from_what_it_journaled(tmp_path: Path) -> None:
    calls: list[str] = []

    async def numbers(x: int) -> AsyncIterator[int]:
        calls.append("numbers")
        for i in range(x):
            yield i

    async def endless(total: int) -> AsyncIterator[int]:
        calls.append("endless")
        for i in range(total):
            await trio.sleep(1)
            yield i

    first, second = streamed(numbers, Sum()), streamed(endless, Sum())
    graph = first >> second

    async def leave_early(store: SqliteStore) -> None:
        async with stream(graph, 5, store=store, run_id="r") as s:
            async for c in s.of(second):
                assert c.value == 0
                break

    path = tmp_path / "runs.sqlite"
    with SqliteStore(path) as store:
        virtual(lambda: leave_early(store))
    assert calls == ["numbers", "endless"]
    with SqliteStore(path) as store:
        chunks, result = virtual(lambda: collect(graph, 5, store=store, run_id="r"))
    assert calls == ["numbers", "endless", "endless"]
    assert [(c.step, c.value) for c in chunks] == [("endless", i) for i in range(10)]
    assert result == Success(45)


def test_a_streamed_steps_journaled_fold_reads_back_as_its_annotated_type(tmp_path: Path) -> None:
    async def pieces(x: int) -> AsyncIterator[tuple[int, ...]]:
        yield (x,)
        yield (x + 1,)

    graph = streamed(pieces, Concat[int]())
    with SqliteStore(tmp_path / "runs.sqlite") as store:
        first = run_sync(graph, 1, store=store, run_id="t")
        again = run_sync(graph, 1, store=store, run_id="t")  # the journaled result
    assert first == again == Success((1, 2))
    assert isinstance(again.unwrap(), tuple)


def test_paused_and_failed_results_are_what_run_returns() -> None:
    async def main() -> tuple[Result[Any, RunFailure[Any]], Result[Any, RunFailure[Any]]]:
        async def bad(x: str) -> AsyncIterator[str]:
            yield x
            raise ValueError("no")

        graph = streamed(bad, Text()) >> shout
        _, streamed_result = await collect(graph, "a")
        return streamed_result, await run(graph, "a")

    streamed_result, plain = virtual(main)
    assert isinstance(streamed_result, Failure) and isinstance(plain, Failure)
    a, b = streamed_result.failure(), plain.failure()
    assert (a.step, a.not_run, repr(a.error)) == (b.step, b.not_run, repr(b.error))


# -- Chunk values and the README --------------------------------------------------------------


def test_a_chunk_is_an_immutable_value() -> None:
    c = Chunk("gen", 1, 0, "a")
    assert c == Chunk("gen", 1, 0, "a") and hash(c) == hash(Chunk("gen", 1, 0, "a"))
    assert c != Chunk("gen", 2, 0, "a") and c != ("gen", 1, 0, "a")
    assert repr(c) == "Chunk(step='gen', attempt=1, seq=0, value='a')"
    with pytest.raises(AttributeError):
        c.value = "b"  # type: ignore[misc]
    match c:
        case Chunk(step, attempt, seq, value):
            assert (step, attempt, seq, value) == ("gen", 1, 0, "a")


def test_the_readme_streaming_example_runs_and_prints_what_it_claims(
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Streamed steps", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    code = block.group(1)
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    # The tokens, printed as they stream, make the first line; then the result.
    streamed_line = re.search(r"end=\"\", flush=True\)  # (.*)$", code, re.M)
    result_line = re.search(r"print\(s\.result\)  # (<.*>)$", code, re.M)
    assert streamed_line is not None and result_line is not None
    printed = capsys.readouterr().out.splitlines()
    assert printed == [streamed_line.group(1), result_line.group(1)]


class Stop(BaseException):
    """Not a failure: it must come out of the block as itself."""


def test_a_base_exception_in_a_step_comes_out_of_the_block_as_itself() -> None:
    async def halting(x: str) -> AsyncIterator[str]:
        yield x
        raise Stop

    async def main() -> None:
        got: list[Chunk[Any]] = []
        with pytest.raises(Stop):
            async with stream(streamed(halting, Text()) >> shout, "a") as s:
                async for c in s:
                    got.append(c)
        assert [c.value for c in got] == ["a"]

    virtual(main)


def test_a_finished_run_id_streams_no_chunks_and_returns_its_journaled_result(
    sqlite: SqliteStore,
) -> None:
    first = virtual(lambda: collect(gen >> shout, "ab", store=sqlite, run_id="done"))
    again = virtual(lambda: collect(gen >> shout, "ab", store=sqlite, run_id="done"))
    assert len(first[0]) == 2 and first[1] == Success("AB!")
    assert again == ([], Success("AB!"))


def test_an_open_breaker_refuses_a_streamed_step_before_it_sends_anything() -> None:
    calls: list[str] = []

    async def flaky(x: str) -> AsyncIterator[str]:
        calls.append(x)
        yield x
        raise ConnectionError("down")

    step = streamed(flaky, Text()).breaker(failures=1, cooldown=60, name="llm")
    first = virtual(lambda: collect(step, "a"))
    second = virtual(lambda: collect(step, "b"))
    assert [c.value for c in first[0]] == ["a"] and second[0] == []
    assert isinstance(failure_of(first[1]).error, ConnectionError)
    assert type(failure_of(second[1]).error).__name__ == "BreakerOpen"
    assert calls == ["a"]


@given(
    n=st.integers(1, 30), stop=st.integers(0, 29), buffer=st.integers(0, 4), steps=st.integers(1, 3)
)
def test_leaving_at_any_chunk_leaves_nothing_running(
    n: int, stop: int, buffer: int, steps: int
) -> None:
    """Whatever chunk the reader leaves at, every generator is closed when the block ends."""
    stop = min(stop, n - 1)
    open_generators: set[int] = set()
    ids = itertools.count()

    async def numbers(x: int) -> AsyncIterator[int]:
        me = next(ids)
        open_generators.add(me)
        try:
            for i in range(n):
                await trio.sleep(0.001)
                yield i
        finally:
            open_generators.discard(me)

    branches = [streamed(numbers, Sum(), name=f"s{k}") for k in range(steps)]
    graph = gather(branches)

    async def main() -> list[int]:
        living = trio.lowlevel.current_statistics().tasks_living
        seen: list[int] = []
        async with stream(graph, 1, buffer=buffer) as s:
            async for c in s.of(branches[0]):
                seen.append(c.value)
                if c.seq == stop:
                    break
        assert trio.lowlevel.current_statistics().tasks_living == living
        return seen

    assert virtual(main) == list(range(stop + 1))
    assert open_generators == set()


def test_concat_given_text_chunks_folds_them_into_text() -> None:
    """The issue's wording: `streamed(fn, Concat())` for text gives the text."""

    async def tokens(q: str) -> AsyncIterator[str]:
        for word in q.split():
            yield word + " "

    assert run_sync(streamed(tokens, Concat()), "a b c") == Success("a b c ")
    assert run_sync(streamed(tokens, Concat()), "") == Success("")  # none: the empty text
