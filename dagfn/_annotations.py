"""What a step's return annotation promises, read one way for every reader.

The builder checks edges with it, the journal reads outputs back with it and
``route_total`` lists a selector's keys with it.

>>> from collections.abc import Awaitable, Coroutine
>>> from returns.result import Result
>>> awaited(Coroutine[None, None, bool])
<class 'bool'>
>>> produced(Awaitable[Result[str, ValueError]])
<class 'str'>
>>> produced(int)
<class 'int'>
>>> from collections.abc import AsyncIterator
>>> produced(AsyncIterator[str])
<class 'str'>
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterable, Awaitable, Coroutine
from typing import Any

from returns.result import Result

__all__ = ["awaited", "produced"]


def awaited(t: Any) -> Any:
    """The type awaiting a ``t`` gives: ``T`` for ``Coroutine[Any, Any, T]`` or an
    ``Awaitable[T]`` (a subclass too), else ``t`` itself."""
    origin = typing.get_origin(t)
    if isinstance(origin, type):
        args = typing.get_args(t)
        if issubclass(origin, Coroutine) and len(args) == 3:
            return args[2]
        if issubclass(origin, Awaitable) and args:
            return args[0]
    return t


def produced(t: Any) -> Any:
    """The value type a step annotated to return ``t`` passes on: awaited, ``O``
    for ``Result[O, E]``, and ``C`` for ``AsyncIterator[C]`` (a streamed step
    passes on the fold of its chunks)."""
    t = awaited(t)
    origin = typing.get_origin(t)
    if isinstance(origin, type) and issubclass(origin, AsyncIterable):
        args = typing.get_args(t)
        return args[0] if args else Any
    if isinstance(origin, type) and issubclass(origin, Result):
        args = typing.get_args(t)
        return args[0] if args else Any
    return t
