"""Streamed steps: `streamed(fn, monoid)` and the `Chunk` records they send.

A streamed step calls an async generator function; every value it yields is a
*chunk*, and the step's output is the fold of its chunks with a monoid. The
step is an ordinary `Call` whose function is a `Streamed`: every policy, name
and path works as for any node. Here is only what the step *is* and what one
of its attempts does with a place to send chunks; the interpreter decides
whether there is one (`dagfn.stream`) and gives each attempt its path and
number. Nothing here imports trio: a chunk is handed to an awaitable ``send``.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Never, TypeVar, cast, overload

import attrs

from dagfn import _expr
from dagfn._annotations import produced
from dagfn._errors import DagfnError, expected
from dagfn._graph import Graph, _check_name
from dagfn.monoid import Concat, Monoid, Text

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T", covariant=True)

#: Where an attempt sends its chunks (one awaitable call per chunk), if anywhere.
Send = Callable[["Chunk[Any]"], Awaitable[None]]


class Chunk(Generic[T]):
    """One value a streamed step yielded: ``Chunk(step, attempt, seq, value)``.

    ``step`` is the step's path as it ran (``generate``, ``answer/generate``,
    ``refine#2``); ``attempt`` counts from 1 and a retried attempt starts its
    chunks again; ``seq`` counts the attempt's chunks from 0. Immutable.
    """

    __slots__ = ("_attempt", "_seq", "_source", "_step", "_value")
    __match_args__ = ("step", "attempt", "seq", "value")

    def __init__(self, step: str, attempt: int, seq: int, value: T) -> None:
        self._step = step
        self._attempt = attempt
        self._seq = seq
        self._value = value
        self._source: object = None  # the streamed step that made it (`Streamed.source`)

    @property
    def step(self) -> str:
        """The path of the step that yielded it."""
        return self._step

    @property
    def attempt(self) -> int:
        """The attempt that yielded it, from 1."""
        return self._attempt

    @property
    def seq(self) -> int:
        """Its place among its attempt's chunks, from 0."""
        return self._seq

    @property
    def value(self) -> T:
        """What the step yielded."""
        return self._value

    def _key(self) -> tuple[str, int, int, object]:
        return (self._step, self._attempt, self._seq, self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chunk):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Chunk(step={self._step!r}, attempt={self._attempt!r}, "
            f"seq={self._seq!r}, value={self._value!r})"
        )


class ChunkFoldError(DagfnError, TypeError):
    """A streamed step yielded a chunk its monoid could not fold: the step fails with this."""

    def __init__(
        self, step: str, seq: int, chunk: object, monoid: object, error: Exception
    ) -> None:
        hint = ""
        if isinstance(chunk, str) and type(monoid).__name__ == "Concat":
            hint = "; Concat() folds tuples: for text use dagfn.monoid.Text()"
        super().__init__(
            f"step {step!r} yielded chunk {seq} ({chunk!r}, a {type(chunk).__qualname__}) "
            f"that {monoid!r} cannot fold: {error!r}{hint}"
        )
        self.step = step
        self.seq = seq
        self.chunk = chunk


class Streamed:
    """The function of a streamed step: an async generator function and its monoid.

    Called plainly (``await s(x)``), it folds the chunks and sends none: that is
    a streamed step in a run nobody streams. `attempt` is one attempt that
    also sends its chunks. ``__dagfn_wrapped__`` lets the journal read the
    generator's annotations (``AsyncIterator[O]`` promises an ``O``).
    """

    __slots__ = ("__dagfn_wrapped__", "fn", "monoid")

    def __init__(self, fn: Callable[[Any], AsyncGenerator[Any]], monoid: Monoid[Any]) -> None:
        self.fn = fn
        self.monoid = monoid
        self.__dagfn_wrapped__ = fn

    async def __call__(self, x: Any) -> Any:
        return await self.attempt(x, "", 1, None, None)

    async def attempt(
        self, x: Any, path: str, attempt: int, send: Send | None, source: object
    ) -> Any:
        """One attempt on ``x``: the fold of its chunks, each sent as it comes (if ``send``).

        A chunk is folded before it is sent, so a consumer sees only chunks that
        are part of the output; one the monoid cannot fold fails the attempt
        with `ChunkFoldError` naming the step.
        """
        monoid = self.monoid
        combine = monoid.combine
        folded = monoid.empty()
        # Text is joined once at the end: folding n chunks by `+` would copy O(n^2) bytes.
        parts: list[str] | None = [] if monoid.__class__ is Text else None
        seq = 0
        # aclosing: a cancelled or failed attempt closes its generator now, not at GC.
        async with contextlib.aclosing(self.fn(x)) as chunks:
            async for value in chunks:
                try:
                    if parts is None:
                        folded = combine(folded, value)
                    elif isinstance(value, str):
                        parts.append(value)
                    else:
                        combine("", value)  # raises the TypeError `+` raises
                        raise TypeError(f"{type(value).__qualname__} is not a str")
                except Exception as error:
                    raise ChunkFoldError(path, seq, value, monoid, error) from error
                if send is not None:
                    chunk = Chunk(path, attempt, seq, value)
                    chunk._source = source
                    await send(chunk)
                seq += 1
        return folded if parts is None else "".join(parts)

    def __repr__(self) -> str:
        return f"streamed({_expr.callable_name(self.fn)}, {self.monoid!r})"


def is_async_generator_function(fn: object) -> bool:
    """An ``async def`` with ``yield`` (a partial of one, or an object whose ``__call__`` is)."""
    if inspect.isasyncgenfunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and inspect.isasyncgenfunction(call)


@overload
def streamed(
    fn: Callable[[A], AsyncIterator[str]], monoid: Concat[Any], /, *, name: str | None = None
) -> Graph[A, str, Never]: ...
@overload
def streamed(
    fn: Callable[[A], AsyncIterator[B]], monoid: Monoid[B], /, *, name: str | None = None
) -> Graph[A, B, Never]: ...
def streamed(
    fn: Callable[[A], AsyncIterator[Any]], monoid: Monoid[Any], /, *, name: str | None = None
) -> Graph[A, Any, Never]:
    """A step whose chunks are streamed as they are made and whose output is their fold.

    ``fn`` is an async generator function of one argument; every value it
    yields is a chunk, sent at once to the consumers of `dagfn.stream` (a
    `Chunk` with the step's path, attempt and sequence number), and the step's
    output is the chunks folded with ``monoid`` in order (``monoid.empty()``
    for none; `dagfn.monoid.Text` for text, and ``Concat()`` given a ``fn``
    annotated to yield ``str`` folds text the same way). It is a node like any other:
    every policy applies, and a retried attempt starts its chunks again. Under
    plain `run` the chunks are only folded.

    Raises `InvalidArgument` at once, naming the argument, for a ``fn`` that
    is not an async generator function, a ``monoid`` without ``empty`` and
    ``combine``, or a bad ``name``.

    >>> from collections.abc import AsyncIterator
    >>> from dagfn import run_sync
    >>> from dagfn.monoid import Text
    >>> async def spell(word: str) -> AsyncIterator[str]:
    ...     for letter in word:
    ...         yield letter.upper()
    >>> run_sync(streamed(spell, Text()), "trio")
    <Success: TRIO>
    """
    if isinstance(fn, Graph):
        raise expected("an async generator function (this is already a graph)", "fn", fn)
    if not is_async_generator_function(fn):
        what = "an async generator function (`async def` with `yield`)"
        if callable(fn):
            what += f"; {_expr.callable_name(fn)!r} is not one: make it yield its chunks"
        raise expected(what, "fn", fn)
    if not all(callable(getattr(monoid, m, None)) for m in ("empty", "combine")):
        raise expected("a Monoid (with empty() and combine(a, b))", "monoid", monoid)
    if isinstance(monoid, Concat) and _chunk_type(fn) is str:
        monoid = Text()  # text chunks under Concat() make text, not a tuple of pieces
    if name is None:
        name = _expr.callable_name(fn)
    _check_name(name)
    # An async generator function makes AsyncGenerators, whatever its annotation says.
    generator = cast(Callable[[Any], AsyncGenerator[Any]], fn)
    return Graph(_expr.Call(Streamed(generator, monoid), name, _expr.ASYNC))


def source_of(e: _expr.Expr) -> tuple[Streamed, str] | None:
    """What identifies a streamed step's chunks: its `Streamed` and its name; None if not one."""
    if isinstance(e, _expr.Call) and isinstance(e.fn, Streamed):
        return (e.fn, e.name)
    return None


def sources_in(root: _expr.Expr) -> list[tuple[Streamed, str]]:
    """The streamed steps of an expression (in loops, subgraphs and branches too), once each."""
    found: list[tuple[Streamed, str]] = []
    seen: set[int] = set()
    pending: list[object] = [root]
    while pending:
        item = pending.pop()
        if isinstance(item, tuple):  # branches, and a route's (key, branch) pairs
            pending.extend(item)
            continue
        if not isinstance(item, _expr.Expr) or id(item) in seen:
            continue
        seen.add(id(item))
        source = source_of(item)
        if source is not None:
            if source not in found:
                found.append(source)
        else:  # every expression node is an attrs class: walk its fields, whatever they are
            cls: Any = type(item)
            if attrs.has(cls):
                pending.extend(getattr(item, f.name) for f in attrs.fields(cls))
    return found


def _chunk_type(fn: Callable[..., Any]) -> Any:
    """What ``fn``'s return annotation says it yields (``Any`` when it says nothing)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: nothing known
        return Any
    return produced(hints.get("return", Any))
