"""Conditional branches: `route(selector).cases({...})` and `route_total`.

The key type comes from the selector, so a mistyped key in ``cases`` is a mypy
error. All branches share one input and one output type. Only the selected
branch runs; a key with no branch is a run failure naming the key.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Generic, Literal, TypeVar, overload

from dagfn import _expr
from dagfn._annotations import awaited
from dagfn._errors import DagfnError, expected
from dagfn._graph import Graph, _Narrower

I = TypeVar("I", contravariant=True)  # noqa: E741
K = TypeVar("K")
A = TypeVar("A")
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")
B = TypeVar("B")


class NoBranch(DagfnError, LookupError):
    """A route's selector returned a key that has no branch (a run failure value)."""

    def __init__(self, key: object, cases: tuple[object, ...], route: str) -> None:
        listed = ", ".join(repr(c) for c in cases)
        super().__init__(f"route {route!r} selected {key!r}, which has no branch (cases: {listed})")
        self.key = key
        self.cases = cases
        self.route = route


class Router(Generic[I, K]):
    """A selector waiting for its table of branches: call `Router.cases`."""

    __slots__ = ("_kind", "_name", "_selector")

    def __init__(self, selector: Callable[..., Any], name: str) -> None:
        self._selector = selector
        self._name = name
        self._kind = _expr.callable_kind(selector)

    @overload
    def cases(self, table: Mapping[K, Graph[I, O, E]], /) -> Graph[I, O, E]: ...
    @overload
    def cases(self, table: Mapping[K, _Narrower[I, B, O, E]], /) -> Graph[B, O, E]: ...
    # The first again, last: mypy words a mismatch after the first overload and
    # pyright after the last, so both show the plain table type.
    @overload
    def cases(  # type: ignore[overload-cannot-match]
        self, table: Mapping[K, Graph[I, O, E]], /
    ) -> Graph[I, O, E]: ...
    def cases(self, table: Mapping[Any, Any], /) -> Graph[Any, Any, Any]:
        """Close the route with one branch per key (all with the same output type).

        The route's input is the narrowest of the selector's and the branches'
        inputs: a selector typed on a protocol may route branches that take a
        record implementing it.

        Raises `InvalidArgument` at once for an empty table or a value that is
        not a graph.
        """
        if not isinstance(table, Mapping) or not table:
            raise expected("a non-empty mapping of key to Graph", "table", table)
        items: list[tuple[Hashable, _expr.Expr]] = []
        for key, branch in table.items():
            if not isinstance(branch, Graph):
                raise expected("a Graph", f"table[{key!r}]", branch)
            items.append((key, branch._expr))
        return Graph(_expr.Route(self._selector, self._name, self._kind, tuple(items)))

    def __repr__(self) -> str:
        return f"<Router {self._name!r}>"


@overload
def route(selector: Callable[[A], Awaitable[K]], /) -> Router[A, K]: ...
@overload
def route(selector: Callable[[A], K], /) -> Router[A, K]: ...
def route(selector: Callable[[Any], Any], /) -> Router[Any, Any]:
    """Start a conditional: ``route(by_intent).cases({"factual": rag, ...})``.

    ``selector`` (sync or async) takes the route's input and returns a key;
    annotate it with a ``Literal`` or an ``Enum`` return type so mypy checks the
    keys of `Router.cases`. The route step's path is the selector's name.
    """
    if not callable(selector):
        raise expected("a callable", "selector", selector)
    return Router(selector, _expr.callable_name(selector))


class NotEnumerable(DagfnError, TypeError):
    """`route_total` cannot list the keys of a selector's return type."""

    def __init__(self, message: str, *, selector: str) -> None:
        super().__init__(message)
        self.selector = selector


def route_total(
    selector: Callable[[A], K] | Callable[[A], Awaitable[K]],
    table: Callable[[K], Graph[A, O, E]],
    /,
) -> Graph[A, O, E]:
    """A route with a branch for every possible key, so no key can be missing.

    ``table(key)`` is called once per key when the graph is built; write it
    with ``match`` and ``assert_never`` and mypy proves it exhaustive. The
    keys are read from the selector's return annotation, which must be a
    ``Literal``, an ``Enum``, ``bool`` or a union of those; anything else raises
    `NotEnumerable` at once.
    """
    if not callable(selector):
        raise expected("a callable", "selector", selector)
    name = _expr.callable_name(selector)
    keys = _keys_of(selector, name)
    router: Router[A, K] = Router(selector, name)
    return router.cases({key: table(key) for key in keys})


def _keys_of(selector: Callable[..., Any], name: str) -> list[Any]:
    try:
        hints = typing.get_type_hints(selector)
    except Exception as error:  # names that do not resolve, say
        msg = f"route_total: cannot read the return annotation of selector {name!r}: {error}"
        raise NotEnumerable(msg, selector=name) from error
    if "return" not in hints:
        msg = (
            f"route_total: selector {name!r} has no return annotation; annotate it "
            "with a Literal, an Enum or bool so its keys can be listed"
        )
        raise NotEnumerable(msg, selector=name)
    keys: list[Any] = []
    pending = [awaited(hints["return"])]
    while pending:
        t = pending.pop(0)
        origin = typing.get_origin(t)
        if origin is Literal:
            keys.extend(typing.get_args(t))
        elif origin in (typing.Union, _UnionType):
            pending.extend(typing.get_args(t))
        elif isinstance(t, type) and issubclass(t, enum.Enum):
            keys.extend(t)
        elif t is bool:
            keys.extend((False, True))
        else:
            msg = (
                f"route_total: the return type {t!r} of selector {name!r} cannot be "
                "enumerated; use a Literal, an Enum or bool (or route(...).cases)"
            )
            raise NotEnumerable(msg, selector=name)
    return list(dict.fromkeys(keys))


_UnionType = type(int | str)
