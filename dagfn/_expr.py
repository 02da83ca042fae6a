"""The untyped expression tree behind every `Graph`.

`Graph` is a typed facade; this module holds what it wraps. Expressions are
immutable and compared by identity: the same expression object used twice in
one graph (with the same input) is one step. Nothing here runs anything.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable
from typing import Any, Final

import attrs

from dagfn._errors import DagfnError
from dagfn._policy import NO_OPTIONS, StepOptions

#: Step function kinds, fixed when a node is built (never re-detected per call).
SYNC: Final = 0
ASYNC: Final = 1


def callable_name(fn: Callable[..., Any]) -> str:
    """The default step name of a function: its ``__name__``, unwrapping partials."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__name__


def callable_kind(fn: Callable[..., Any]) -> int:
    """`ASYNC` for coroutine functions (also partials and async ``__call__``), else `SYNC`."""
    if inspect.iscoroutinefunction(fn):
        return ASYNC
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object's async __call__
    if call is not None and inspect.iscoroutinefunction(call):
        return ASYNC
    return SYNC


def callable_origin(fn: Callable[..., Any]) -> str:
    """Where a function was defined, as ``file:line``, for error messages."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = inspect.unwrap(fn)  # a checking wrapper (``update``'s) names the user's function
    code = getattr(fn, "__code__", None)
    if code is None:
        return f"{type(fn).__module__}.{type(fn).__qualname__}"
    return f"{code.co_filename}:{code.co_firstlineno}"


class DuplicatePath(DagfnError, ValueError):
    """Two different steps of one graph have the same path (raised when it is built or lowered)."""

    def __init__(self, message: str, *, path: str, places: tuple[str, str]) -> None:
        super().__init__(message)
        self.path = path
        self.places = places


class Expr:
    """Base of expression nodes. Identity is meaningful: no ``__eq__``/``__hash__`` override."""

    __slots__ = ()


@attrs.frozen(eq=False, slots=True)
class Call(Expr):
    """One step calling ``fn`` on the expression's input."""

    fn: Callable[..., Any]
    name: str
    kind: int  # SYNC or ASYNC
    options: StepOptions = NO_OPTIONS


@attrs.frozen(eq=False, slots=True)
class Input(Expr):
    """The expression's own input, unchanged: lowered to its input wire, no step.

    Lets a join see its input next to its branches' outputs (``update`` folds
    deltas into the state it was given). Use the one instance, `INPUT`.
    """


#: The only `Input` expression needed: it is stateless, so sharing it is free.
INPUT: Final = Input()


@attrs.frozen(eq=False, slots=True)
class Then(Expr):
    """``first >> second``: kept binary, so building a long chain is O(1) per link."""

    first: Expr
    second: Expr


@attrs.frozen(eq=False, slots=True)
class Join(Expr):
    """All ``branches`` run on the same input; one step calls ``fn(*outputs)``."""

    branches: tuple[Expr, ...]
    fn: Callable[..., Any]
    name: str
    kind: int
    options: StepOptions = NO_OPTIONS


@attrs.frozen(eq=False, slots=True)
class Gather(Expr):
    """All ``branches`` run on the same input; their outputs become one tuple."""

    branches: tuple[Expr, ...]


@attrs.frozen(eq=False, slots=True)
class Route(Expr):
    """``selector`` picks one key; only the branch under that key runs."""

    selector: Callable[..., Any]
    name: str
    kind: int
    table: tuple[tuple[Hashable, Expr], ...]


@attrs.frozen(eq=False, slots=True)
class Scope(Expr):
    """A named subgraph: the paths of the steps first met inside get ``name/``."""

    inner: Expr
    name: str


@attrs.frozen(eq=False, slots=True)
class Policied(Expr):
    """Default policies for the steps first met inside ``inner`` that do not set their own."""

    inner: Expr
    options: StepOptions


@attrs.frozen(eq=False, slots=True)
class Recover(Expr):
    """If any step of ``inner`` fails, the output is ``fallback`` instead."""

    inner: Expr
    fallback: Any


@attrs.frozen(eq=False, slots=True)
class Fallback(Expr):
    """If any step of ``inner`` fails, ``other`` runs on the same input instead."""

    inner: Expr
    other: Expr


@attrs.frozen(eq=False, slots=True)
class Interrupt(Expr):
    """A step that asks a human: it pauses the run until `resume` brings an answer."""

    prompt: Callable[..., Any]
    answer: Any  # the answer's type, which cattrs structures resume's answer into
    name: str


@attrs.frozen(eq=False, slots=True)
class Loop(Expr):
    """``body`` repeated on its own output until ``until`` holds, at most ``max_steps`` times."""

    body: Expr
    until: Callable[[Any], bool]
    max_steps: int
    name: str


@attrs.frozen(eq=False, slots=True)
class Each(Expr):
    """``body`` run once per element of the input sequence; ``fold`` (a monoid) or a tuple."""

    body: Expr
    name: str
    fold: Any  # a Monoid, or None: the output is the tuple of element outputs
