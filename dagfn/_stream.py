"""`stream(graph, x)`: a run whose streamed steps' chunks are read as they are made.

`Stream` is an async context manager: entering it starts the run in a task of
its own nursery; the run's streamed steps send each `Chunk` into a bounded
trio memory channel (``buffer=``), and iterating the stream receives them, so
a slow reader slows the steps that send (a step waits in ``send`` while the
buffer is full) instead of growing memory. The run closes the channel when it
ends, which ends the iteration; `Stream.result` is then what `run` returned.
Leaving the block while the run goes on cancels it, and the block ends only
when nothing of it runs any more.

State of a stream (its invariants):

- ``_receive`` is None before the block (and set, never reset, when it opens);
- ``_result`` is set once, when the run returned; ``_error`` once, when it
  raised an ``Exception`` instead (the iteration raises it after the last
  chunk, or the block's end does if nobody iterated to it);
- ``_closed``: the block has ended; nothing of the run is running.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar, Unpack

import trio
from returns.result import Result

from dagfn._errors import DagfnError, expected
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._interpret import RunOptions, checked_run, prepare
from dagfn._streamed import Chunk, Send, Streamed, source_of, sources_in

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")
T = TypeVar("T")

#: The default number of chunks a stream holds for a reader before steps wait.
BUFFER = 64


class StreamNotFinished(DagfnError, RuntimeError):
    """`Stream.result` was read for a run that has not returned (still going, or cancelled)."""


class Stream(Generic[O, E]):
    """The chunks of one run of a graph, and its result: made by `stream`.

    ``async with stream(graph, x) as s``: iterate ``s`` for every `Chunk`, or
    ``s.of(step)`` for one streamed step's; after the iteration ends (the run
    has returned), ``s.result`` is what `run` returned. One reader: chunks
    are received once, and ``s.of(step)`` drops the other steps' chunks.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_error",
        "_graph",
        "_manager",
        "_nursery",
        "_raised",
        "_receive",
        "_result",
        "_start",
    )

    def __init__(
        self,
        graph: Graph[Any, O, E],
        start: Callable[[Send], Awaitable[Result[O, RunFailure[E]]]],
        buffer: int,
    ) -> None:
        self._graph = graph
        self._start = start
        self._buffer = buffer
        self._receive: trio.MemoryReceiveChannel[Chunk[Any]] | None = None
        self._manager: Any = None  # trio.open_nursery()'s async context manager
        self._nursery: trio.Nursery | None = None
        self._result: Result[O, RunFailure[E]] | None = None
        self._error: Exception | None = None
        self._raised = False  # _error was raised to the reader
        self._closed = False

    async def __aenter__(self) -> Stream[O, E]:
        if self._receive is not None:
            msg = "a stream runs once: its block was already entered; call stream(...) again"
            raise StreamNotFinished(msg)
        send, self._receive = trio.open_memory_channel[Chunk[Any]](self._buffer)
        self._manager = trio.open_nursery()
        self._nursery = nursery = await self._manager.__aenter__()
        nursery.start_soon(self._produce, send)
        return self

    async def _produce(self, send: trio.MemorySendChannel[Chunk[Any]]) -> None:
        try:
            self._result = await self._start(send.send)
        except Exception as error:  # what run would have raised: the reader gets it
            self._error = error
        finally:
            # Closing ends the reader's iteration after the last chunk. Not `aclose`:
            # its checkpoint would let a cancel replace a BaseException on its way out.
            send.close()

    async def __aexit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._nursery is not None and self._receive is not None
        if self._result is None and self._error is None:
            self._nursery.cancel_scope.cancel()  # left early: the run ends here
        try:
            # The block's own exception is not the nursery's business: it goes on
            # unchanged (not wrapped in an ExceptionGroup) once the run is over.
            await self._manager.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            # Only a BaseException that is no failure (KeyboardInterrupt, a bug) gets
            # here: a lone one is re-raised as itself, as `run` would have.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._closed = True
            self._receive.close()
        if exc is None and self._error is not None and not self._raised:
            self._raised = True
            raise self._error

    def __aiter__(self) -> Stream[O, E]:
        return self

    async def __anext__(self) -> Chunk[object]:
        """The next chunk of any streamed step; the iteration ends when the run has returned."""
        receive = self._reader()
        try:
            return await receive.receive()
        except trio.EndOfChannel:
            if self._error is not None and not self._raised:
                self._raised = True
                raise self._error from None
            raise StopAsyncIteration from None

    def _reader(self) -> trio.MemoryReceiveChannel[Chunk[Any]]:
        if self._receive is None:
            msg = "a stream is read inside its block: `async with stream(graph, x) as s:`"
            raise StreamNotFinished(msg)
        if self._closed:
            msg = "the stream's block has ended: read its chunks inside `async with`"
            raise StreamNotFinished(msg)
        return self._receive

    def of(self, step: Graph[Any, T, Any]) -> AsyncIterator[Chunk[T]]:
        """Only the chunks of the streamed step ``step`` (wherever it runs: in loops, subgraphs).

        ``step`` is the graph `streamed` made (or one renamed or with policies
        added). The other steps' chunks are received and dropped. Raises
        `InvalidArgument` at once for a ``step`` that is not a streamed step of
        this stream's graph.
        """
        if not isinstance(step, Graph):
            raise expected("a streamed step (a graph made by streamed(fn, monoid))", "step", step)
        source = source_of(step._expr)
        if source is None:
            msg = "a streamed step (a graph made by streamed(fn, monoid)), not a composite or node"
            raise expected(msg, "step", step)
        known = sources_in(self._graph._expr)
        if source not in known:
            names = ", ".join(repr(name) for _, name in known) or "none"
            msg = (
                f"a streamed step of this stream's graph; {source[1]!r} is not in it "
                f"(its streamed steps: {names})"
            )
            raise expected(msg, "step", step)
        return _Only(self, source)

    @property
    def result(self) -> Result[O, RunFailure[E]]:
        """What `run` returned: ``Success(output)`` or ``Failure(RunFailure | Paused)``.

        Raises `StreamNotFinished` if the run has not returned: read it once
        the iteration has ended; a block left before that cancelled the run.
        """
        if self._result is not None:
            return self._result
        if self._closed:
            msg = (
                "the run was cancelled: its block was left before the stream ended; "
                "iterate the stream to its end (or run the same run_id again with a store)"
            )
        else:
            msg = "the run has not returned yet: read .result once the stream's iteration ends"
        raise StreamNotFinished(msg)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._receive is not None else "new"
        return f"<Stream of {self._graph!r}, {state}>"


class _Only(Generic[T]):
    """A stream's iteration that keeps only one streamed step's chunks."""

    __slots__ = ("_source", "_stream")

    def __init__(self, stream: Stream[Any, Any], source: tuple[Streamed, str]) -> None:
        self._stream = stream
        self._source = source

    def __aiter__(self) -> _Only[T]:
        return self

    async def __anext__(self) -> Chunk[T]:
        source, stream = self._source, self._stream
        while True:
            chunk = await stream.__anext__()
            if chunk._source == source:
                return chunk  # type: ignore[return-value] # the step's chunks are its T


def stream(
    graph: Graph[I, O, E], x: I, *, buffer: int = BUFFER, **options: Unpack[RunOptions]
) -> Stream[O, E]:
    """Run ``graph`` on ``x`` in an ``async with`` block that receives its chunks as made.

    ``async with stream(graph, x) as s: async for chunk in s: ...`` yields a
    `Chunk` (``.step``, ``.attempt``, ``.seq``, ``.value``) for every value a
    streamed step yields, in subgraphs and loops too; ``s.of(step)`` only
    that step's, typed as its output. After the iteration (or the block),
    ``s.result`` is what `run` would have returned. At most ``buffer`` chunks
    wait for the reader; past that, a step that yields waits for it. Leaving
    the block before the stream ends cancels the run. A step reused from the
    journal (a resumed run) does not run again, so it sends no chunks: its
    output is in the result. ``options`` are `run`'s keyword arguments,
    checked here: bad ones raise `InvalidArgument` before anything runs.
    """
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
        raise expected("a number of chunks >= 0", "buffer", buffer)
    settings: dict[str, Any] = dict(options)
    store, run_id = settings.pop("store", None), settings.pop("run_id", None)
    execution = prepare(graph, store, run_id, settings)
    start = functools.partial(checked_run, execution, x, store, run_id, settings)
    return Stream(graph, start, buffer)
