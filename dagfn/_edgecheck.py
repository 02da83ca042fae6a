"""`check_edges`: every edge of a graph, its producer's and consumer's annotations compared.

``dagfn check MODULE:GRAPH`` runs it, for users with no type checker and for
what ``Any`` hides from one (a lambda, a `Builder` graph, a step typed ``Any``).
It reads annotations at run time, following wrappers (``__wrapped__``, as
``functools.wraps`` sets it, and dagfn's own), so it sees what the function a
step calls declares:

>>> from dagfn import node
>>> @node
... def count(text: str) -> int:
...     return len(text)
>>> @node
... def shout(text: str) -> str:
...     return text.upper()
>>> [str(m) for m in check_edges(count >> shout)]
["step 'shout' takes text: str, but step 'count' gives int"]

Only what is clearly wrong is reported: classes that are not subclasses,
protocols whose members a class lacks, ``Literal`` values of another type,
containers whose element types clash. Type variables, ``Any``, missing or
unresolvable annotations pass.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Literal

import attrs

from dagfn._graph import Graph
from dagfn._journal import value_type
from dagfn._plan import Plan, Role, plan_of

__all__ = ["EdgeMismatch", "check_edges"]


@attrs.frozen
class EdgeMismatch:
    """One edge whose value does not fit the parameter it is passed to.

    ``consumer`` is the path of the step that takes the value, ``parameter``
    its parameter and ``expected`` that parameter's annotation; ``producer``
    describes where the value comes from (a step's path in quotes, or "the run
    input") and ``produced`` its type.
    """

    consumer: str
    parameter: str
    expected: Any
    producer: str
    produced: Any

    def __str__(self) -> str:
        return (
            f"step {self.consumer!r} takes {self.parameter}: {_show(self.expected)}, "
            f"but {self.producer} gives {_show(self.produced)}"
        )


def check_edges(graph: Graph[Any, Any, Any]) -> list[EdgeMismatch]:
    """The edges of ``graph`` (loop bodies included) whose annotations do not fit, in plan order."""
    found: list[EdgeMismatch] = []
    pending: list[Plan] = [plan_of(graph)]
    while pending:
        plan = pending.pop(0)
        memo: dict[int, Any] = {}
        for i in range(1, len(plan)):
            if i in plan.loops:
                pending.append(plan.loops[i].body)
            fn = plan.fns[i]
            if fn is None or plan.internal[i]:
                continue
            params = _parameters(fn)
            deps = plan.deps[i]
            for k, p in enumerate(params):
                if p[0].startswith("*"):  # *args: the remaining values, each checked
                    params = [*params[:k], *[p] * (len(deps) - k)]
                    break
            for k, d in enumerate(deps):
                if k >= len(params):
                    break
                name, wanted = params[k]
                try:
                    given = value_type(plan, d, memo)
                except Exception:  # a type the journal cannot read: nothing to say
                    continue
                from_input = _producer(plan, d) == "the run input"
                # The run input's type is only what one root step declares: two roots
                # may declare a protocol and a record implementing it (the input is
                # then the record), so only types that fit neither way clash.
                if _fits(given, wanted) is False and not (
                    from_input and _fits(wanted, given) is not False
                ):
                    found.append(
                        EdgeMismatch(
                            plan.paths[i], name.lstrip("*"), wanted, _producer(plan, d), given
                        )
                    )
    return found


def _parameters(fn: Any) -> list[tuple[str, Any]]:
    """(name, annotation) of the parameters ``fn`` is called with, in order."""
    fn = getattr(fn, "__dagfn_wrapped__", fn)
    target = fn
    if not isinstance(fn, type):
        target = inspect.unwrap(fn)
        while hasattr(target, "func") and hasattr(target, "args"):  # functools.partial
            target = target.func
    try:
        signature = inspect.signature(target)
        hints = typing.get_type_hints(
            target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
        )
    except Exception:
        return []
    result = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD or p.kind is p.KEYWORD_ONLY:
            break
        prefix = "*" if p.kind is p.VAR_POSITIONAL else ""
        result.append((prefix + p.name, hints.get(p.name, Any)))
    return result


def _producer(plan: Plan, d: int) -> str:
    """Where step ``d``'s value comes from, looking through plumbing."""
    while d != 0 and plan.internal[d]:
        if plan.roles[d] is Role.PACK:
            listed = ", ".join(repr(_producer(plan, x)) for x in plan.deps[d])
            return f"the gather of {listed}"
        if not plan.deps[d]:
            return "a gather of no graphs"
        d = plan.deps[d][0]
    return "the run input" if d == 0 else f"step {plan.paths[d]!r}"


def _show(t: Any) -> str:
    if isinstance(t, type) and not typing.get_args(t):
        return t.__qualname__
    return repr(t).replace("typing.", "")


_UNION_TYPES = (typing.Union, types.UnionType)


def _fits(given: Any, wanted: Any) -> bool | None:
    """False when a ``given`` value clearly cannot be a ``wanted``; None when unknown."""
    if given is Any or wanted is Any or wanted is object:
        return None
    if isinstance(given, typing.TypeVar | str) or isinstance(wanted, typing.TypeVar | str):
        return None
    if wanted is None:
        wanted = types.NoneType
    if given is None:
        given = types.NoneType
    g_origin, w_origin = typing.get_origin(given), typing.get_origin(wanted)
    if g_origin is typing.Annotated:
        return _fits(typing.get_args(given)[0], wanted)
    if w_origin is typing.Annotated:
        return _fits(given, typing.get_args(wanted)[0])
    if g_origin in _UNION_TYPES:
        results = [_fits(m, wanted) for m in typing.get_args(given)]
        return False if False in results else (True if all(results) else None)
    if w_origin in _UNION_TYPES:
        results = [_fits(given, m) for m in typing.get_args(wanted)]
        return True if True in results else (None if None in results else False)
    if g_origin is Literal:
        values = typing.get_args(given)
        if w_origin is Literal:
            return set(values) <= set(typing.get_args(wanted))
        results = [_fits(type(v), wanted) for v in values]
        return False if False in results else None
    if w_origin is Literal:
        return None  # a plain type may hold the values: not clearly wrong
    g_class = g_origin if g_origin is not None else given
    w_class = w_origin if w_origin is not None else wanted
    if not isinstance(g_class, type) or not isinstance(w_class, type):
        return None
    if getattr(w_class, "_is_protocol", False):
        return _has_members(g_class, w_class)
    if (w_class is float and g_class is int) or (w_class is complex and g_class in (int, float)):
        return True  # the numeric promotions every checker makes
    try:
        if not issubclass(g_class, w_class):
            return False
    except TypeError:
        return None
    return _element_types_fit(given, wanted, g_class)


def _has_members(cls: type, protocol: type) -> bool | None:
    """Whether ``cls`` has every member of ``protocol`` (its names only)."""
    if getattr(protocol, "__module__", "").startswith(("collections.abc", "typing")):
        try:
            return issubclass(cls, protocol)
        except TypeError:
            return None
    members = getattr(protocol, "__protocol_attrs__", None)
    if members is None:
        try:
            members = typing._get_protocol_attrs(protocol)  # type: ignore[attr-defined]
        except Exception:
            return None
    fields = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    annotated: set[str] = set()
    for base in cls.__mro__:
        annotated.update(getattr(base, "__annotations__", {}))
    return all(hasattr(cls, m) or m in fields or m in annotated for m in members)


def _element_types_fit(given: Any, wanted: Any, g_class: type) -> bool | None:
    """Element types of containers whose classes fit: ``tuple[int, ...]`` vs ``Sequence[str]``."""
    g_args, w_args = typing.get_args(given), typing.get_args(wanted)
    if not g_args or not w_args:
        return True
    if issubclass(g_class, tuple):
        items = [a for a in g_args if a is not Ellipsis]
        if (len(w_args) == 2 and w_args[1] is Ellipsis) or typing.get_origin(wanted) is not tuple:
            target = w_args[0]
            results = [_fits(a, target) for a in items]
        elif len(w_args) == len(g_args) and Ellipsis not in g_args:
            results = [_fits(a, b) for a, b in zip(g_args, w_args, strict=True)]
        else:
            return None
        return False if False in results else (True if all(results) else None)
    if issubclass(g_class, collections.abc.Mapping) and len(g_args) == len(w_args) == 2:
        results = [_fits(a, b) for a, b in zip(g_args, w_args, strict=True)]
        return False if False in results else (True if all(results) else None)
    if len(g_args) == 1 and len(w_args) == 1:
        return _fits(g_args[0], w_args[0])
    return None
