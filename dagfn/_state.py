"""State graphs: `update(*nodes)` folds the deltas of state nodes into one state record.

A state record ``S`` is an attrs class whose every field is `reduced`, so
``S(chunks=("a",))`` is a *delta* that changes one field, and `record` (``S``)
is the monoid that merges deltas field by field. ``update(n1, n2)`` is one
expression: the nodes run concurrently on the state, then one inline step
folds their deltas into it in argument order::

    update(n1, n2)  ==  Join((state, n1, n2), lambda s, d1, d2: combine(combine(s, d1), d2))

Deltas are checked where they are made (see `update`), so a bad one is a run
failure of the step that returned it, never silently dropped or coerced.
"""

from __future__ import annotations

import difflib
import functools
import typing
from collections.abc import Callable, Mapping
from types import CoroutineType, UnionType
from typing import Any, Final, Literal, Never, TypeVar, cast, overload

import attrs
from returns.result import Failure, Success

from dagfn import _expr
from dagfn._convert import make_converter
from dagfn._errors import DagfnError, expected
from dagfn._graph import Graph, _check_name
from dagfn.monoid import Monoid, record

S = TypeVar("S", bound=attrs.AttrsInstance)
E1 = TypeVar("E1")
E2 = TypeVar("E2")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
E5 = TypeVar("E5")
E6 = TypeVar("E6")


class StateError(DagfnError, TypeError):
    """A state node returned something that is not a delta of the state (a run failure value).

    ``step`` is the name of the node that returned it (its path without the
    prefixes of enclosing subgraphs; the `StepFailure` has the full path),
    ``field`` the offending field or dict key (None when the whole value is
    wrong), ``state`` the state class and ``value`` what was returned.
    """

    def __init__(
        self, message: str, *, step: str, field: str | None, state: type, value: object
    ) -> None:
        super().__init__(message)
        self.step = step
        self.field = field
        self.state = state
        self.value = value


# --- checking deltas ---------------------------------------------------------

Check = Callable[[object], bool]

#: What a value must be: an ``isinstance`` tuple of classes, or a predicate.
Rule = tuple[type, ...] | Check


def _rule_of(hint: object) -> Rule | None:
    """A cheap check of a value against an annotation, or None to accept anything.

    One level deep: plain classes by ``isinstance`` (``int`` is fine for
    ``float``, as in mypy), generic aliases by their origin (``tuple[str, ...]``
    checks for a tuple, not its items), unions member by member, ``Literal``
    by value. Type variables, protocols and other special forms pass.
    """
    if hint is Any or hint is object:
        return None
    if hint is float:
        return (int, float)
    if hint is complex:
        return (int, float, complex)
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _rule_of(typing.get_args(hint)[0])
    if origin is Literal:
        allowed = frozenset((type(a), a) for a in typing.get_args(hint))
        return lambda v: (type(v), v) in allowed
    if origin is typing.Union or origin is UnionType:
        rules: list[Rule] = []
        for member in typing.get_args(hint):
            rule = _rule_of(member)
            if rule is None:
                return None
            rules.append(rule)
        classes = tuple(c for r in rules if isinstance(r, tuple) for c in r)
        predicates = [r for r in rules if not isinstance(r, tuple)]
        if not predicates:
            return classes
        return lambda v: isinstance(v, classes) or any(p(v) for p in predicates)
    cls = origin if origin is not None else hint
    if not isinstance(cls, type) or getattr(cls, "_is_protocol", False):
        return None
    return (cls,)


def _compile_check(cls: type, rules: list[tuple[str, Rule]]) -> Callable[[Any], bool]:
    """One generated function that checks every field of a delta, as `record` does for combine.

    For ``x: int`` and ``y: Literal["a"]`` the source is::

        def check(d, /):
            return isinstance(d.x, r0) and r1(d.y)
    """
    terms = [
        f"isinstance(d.{name}, r{i})" if isinstance(rule, tuple) else f"r{i}(d.{name})"
        for i, (name, rule) in enumerate(rules)
    ]
    source = f"def check(d, /):\n    return {' and '.join(terms) or 'True'}\n"
    namespace: dict[str, Any] = {f"r{i}": rule for i, (_, rule) in enumerate(rules)}
    filename = f"<dagfn delta check {cls.__module__}.{cls.__qualname__}>"
    exec(compile(source, filename, "exec"), namespace)
    return cast("Callable[[Any], bool]", namespace["check"])


def _fits(value: object, rule: Rule) -> bool:
    return isinstance(value, rule) if isinstance(rule, tuple) else rule(value)


def _describe_type(hint: object) -> str:
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else repr(hint)


# Structures dict deltas; strict on scalars (cattrs would turn 3 into "3" for a str).
_converter: Final = make_converter(forbid_extra_keys=True, strict_scalars=True)


class _Spec:
    """What `update` needs to know about one state class; built once per class."""

    __slots__ = ("cls", "combine", "fields", "fits", "hints", "rules")

    def __init__(self, cls: type) -> None:
        monoid: Monoid[Any] = record(cls)  # raises NoReducer naming a field without one
        self.cls = cls
        self.combine = monoid.combine
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception:  # annotations that do not resolve here: check classes only
            hints = {}
        fields = attrs.fields(cls)
        self.fields: dict[str, str] = {f.name: f.alias for f in fields}  # name -> init arg
        self.hints: dict[str, Any] = {f.name: hints.get(f.name, Any) for f in fields}
        # (field name, rule), only for the fields that can be checked.
        self.rules: list[tuple[str, Rule]] = [
            (name, rule)
            for name, hint in self.hints.items()
            if (rule := _rule_of(hint)) is not None
        ]
        self.fits = _compile_check(cls, self.rules)  # the fast path: all fields at once

    def check(self, delta: object, step: str) -> Any:
        """``delta`` if it is a well-typed delta (a dict is structured into one), else raise."""
        cls = self.cls
        if not isinstance(delta, cls):
            if isinstance(delta, Mapping):
                return self._structure(delta, step)
            msg = (
                f"step {step!r} returned {delta!r} (type={type(delta).__name__}), not a "
                f"{cls.__qualname__} delta; build one with only the fields it changes, "
                f"e.g. {cls.__qualname__}({next(iter(self.fields), 'field')}=...)"
            )
            raise StateError(msg, step=step, field=None, state=cls, value=delta)
        if self.fits(delta):
            return delta
        for name, rule in self.rules:
            value = getattr(delta, name)
            if not _fits(value, rule):
                raise self._ill_typed(step, name, value, delta)
        return delta

    def _ill_typed(self, step: str, name: str, value: object, delta: object) -> StateError:
        msg = (
            f"step {step!r} set {self.cls.__qualname__}.{name} to {value!r} "
            f"(type={type(value).__name__}), expected {_describe_type(self.hints[name])}"
        )
        return StateError(msg, step=step, field=name, state=self.cls, value=delta)

    def _structure(self, delta: Mapping[Any, Any], step: str) -> Any:
        cls = self.cls
        kwargs: dict[str, object] = {}
        for key, value in delta.items():
            if key not in self.fields:
                close = difflib.get_close_matches(str(key), list(self.fields), n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                msg = (
                    f"step {step!r} returned a dict delta with the key {key!r}, which is "
                    f"not a field of {cls.__qualname__}{hint}"
                )
                raise StateError(msg, step=step, field=str(key), state=cls, value=delta)
            hint_type = self.hints[key]
            try:
                kwargs[self.fields[key]] = _converter.structure(value, hint_type)
            except Exception as error:
                raise self._ill_typed(step, key, value, delta) from error
        return self.check(cls(**kwargs), step)


@functools.lru_cache(maxsize=256)  # bounded: classes made at run time must not pile up
def _spec(cls: type[Any]) -> _Spec:
    if not attrs.has(cls):
        msg = (
            f"update(...) runs on a state record (an attrs class whose fields are all "
            f"reduced), but got a {cls.__qualname__}"
        )
        raise StateError(msg, step="update", field=None, state=cls, value=None)
    return _Spec(cls)


def _checked(out: Any, state: Any, step: str) -> Any:
    """The output of a delta step, checked against the class of the state it ran on."""
    cls = out.__class__
    if cls is Success:
        delta = out._inner_value
        checked = _spec(state.__class__).check(delta, step)
        return out if checked is delta else Success(checked)
    if cls is Failure or cls is CoroutineType:
        return out  # a failure value, or a mistake the interpreter words itself
    return _spec(state.__class__).check(out, step)


def _checking_call(e: _expr.Call) -> _expr.Call:
    """The same step, whose function checks its delta against the state it is given."""
    fn, name = e.fn, e.name
    # The fast path: a delta of exactly the state's class whose fields all fit.
    # ``fits[cls]`` is that class's compiled check (a dict: cheaper than lru_cache).
    fits: dict[type, Callable[[Any], bool]] = {}

    def checked(out: Any, state: Any) -> Any:
        cls = out.__class__
        if cls is state.__class__:
            check = fits.get(cls)
            if check is None:
                check = fits[cls] = _spec(cls).fits
            if check(out):
                return out
        return _checked(out, state, name)  # Result values, dicts and every failure

    if e.kind == _expr.ASYNC:

        async def check_async(state: Any) -> Any:
            return checked(await fn(state), state)

        wrapper: Callable[[Any], Any] = check_async
    else:

        def check_sync(state: Any) -> Any:
            return checked(fn(state), state)

        wrapper = check_sync
    functools.update_wrapper(wrapper, fn)
    return _expr.Call(wrapper, name, e.kind, e.options)


def _label(e: _expr.Expr) -> str:
    """A short name for a delta graph: its last step's name."""
    while True:
        if isinstance(e, _expr.Call | _expr.Join | _expr.Route | _expr.Scope):
            return e.name
        if isinstance(e, _expr.Then):
            e = e.second
        elif isinstance(e, _expr.Policied | _expr.Recover | _expr.Fallback):
            e = e.inner
        else:
            return type(e).__name__.lower()


def _fold(labels: tuple[str | None, ...]) -> Callable[..., Any]:
    """The update step: fold the deltas into the state, in argument order.

    ``labels[k]`` names delta ``k`` when it still needs checking here (it came
    from a composite graph, whose last step does not see the state), else None.
    """
    if all(label is None for label in labels):
        combines: dict[type, Callable[[Any, Any], Any]] = {}  # state class -> record combine

        def fold(state: Any, *deltas: Any) -> Any:
            cls = state.__class__
            combine = combines.get(cls)
            if combine is None:
                combine = combines[cls] = _spec(cls).combine
            for delta in deltas:
                state = combine(state, delta)
            return state

        return fold

    def check_and_fold(state: Any, *deltas: Any) -> Any:
        spec = _spec(state.__class__)
        combine = spec.combine
        for delta, label in zip(deltas, labels, strict=True):
            if label is not None:
                delta = spec.check(delta, label)
            state = combine(state, delta)
        return state

    return check_and_fold


# --- update --------------------------------------------------------------------


@overload
def update(n1: Graph[S, S, E1], /, *, name: str | None = None) -> Graph[S, S, E1]: ...
# Infallible nodes first: pyright turns a union of type variables all solved to
# Never into Unknown, so these say Never outright.
@overload
def update(
    n1: Graph[S, S, Never],
    n2: Graph[S, S, Never],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, Never]: ...
@overload
def update(
    n1: Graph[S, S, Never],
    n2: Graph[S, S, Never],
    n3: Graph[S, S, Never],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, Never]: ...
@overload
def update(
    n1: Graph[S, S, Never],
    n2: Graph[S, S, Never],
    n3: Graph[S, S, Never],
    n4: Graph[S, S, Never],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, Never]: ...
@overload
def update(
    n1: Graph[S, S, Never],
    n2: Graph[S, S, Never],
    n3: Graph[S, S, Never],
    n4: Graph[S, S, Never],
    n5: Graph[S, S, Never],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, Never]: ...
@overload
def update(
    n1: Graph[S, S, Never],
    n2: Graph[S, S, Never],
    n3: Graph[S, S, Never],
    n4: Graph[S, S, Never],
    n5: Graph[S, S, Never],
    n6: Graph[S, S, Never],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, Never]: ...
@overload
def update(
    n1: Graph[S, S, E1], n2: Graph[S, S, E2], /, *, name: str | None = None
) -> Graph[S, S, E1 | E2]: ...
@overload
def update(
    n1: Graph[S, S, E1],
    n2: Graph[S, S, E2],
    n3: Graph[S, S, E3],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, E1 | E2 | E3]: ...
@overload
def update(
    n1: Graph[S, S, E1],
    n2: Graph[S, S, E2],
    n3: Graph[S, S, E3],
    n4: Graph[S, S, E4],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, E1 | E2 | E3 | E4]: ...
@overload
def update(
    n1: Graph[S, S, E1],
    n2: Graph[S, S, E2],
    n3: Graph[S, S, E3],
    n4: Graph[S, S, E4],
    n5: Graph[S, S, E5],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, E1 | E2 | E3 | E4 | E5]: ...
@overload
def update(
    n1: Graph[S, S, E1],
    n2: Graph[S, S, E2],
    n3: Graph[S, S, E3],
    n4: Graph[S, S, E4],
    n5: Graph[S, S, E5],
    n6: Graph[S, S, E6],
    /,
    *,
    name: str | None = None,
) -> Graph[S, S, E1 | E2 | E3 | E4 | E5 | E6]: ...
@overload
def update(*nodes: Graph[S, S, E1], name: str | None = None) -> Graph[S, S, E1]: ...
def update(*nodes: Graph[Any, Any, Any], name: str | None = None) -> Graph[Any, Any, Any]:
    """Run state nodes concurrently on the state and fold their deltas into it, in argument order.

    Each node takes the state ``S`` (an attrs class whose every field is
    `reduced`) and returns a delta: an ``S`` built with only the fields it
    changes. The result is ``combine(combine(state, d1), d2)...`` with
    ``record(S)``, whatever order the nodes finish in. The fold is one inline
    step whose path is ``name``, by default the nodes' names and
    ``<update>`` (``update(chunk, classify)`` is ``chunk+classify<update>``).

    Deltas are checked, and a bad one is a run failure (`StateError`, with
    ``.step`` and ``.field``): a value that is not an ``S`` (a ``dict`` is
    accepted and structured with cattrs: an unknown key fails naming it, and
    scalars are never coerced), or a field whose value does not fit its
    annotation (checked one level deep: ``tuple[str, ...]`` must be a tuple,
    its items are not looked at). A node that is one step is checked by that
    step, so the failure has its path; a composite node's delta is checked by
    the fold step. Raises `InvalidArgument` at once when given no nodes, a
    value that is not a graph, or a bad ``name``.

    >>> import attrs
    >>> from dagfn import node, reduced, run_sync
    >>> from dagfn.monoid import Concat
    >>> @attrs.frozen
    ... class Notes:
    ...     lines: tuple[str, ...] = reduced(Concat())
    >>> @node
    ... def hello(s: Notes) -> Notes:
    ...     return Notes(lines=("hello",))
    >>> @node
    ... def world(s: Notes) -> Notes:
    ...     return Notes(lines=("world",))
    >>> g = update(hello, world)
    >>> g
    <Graph 'hello+world<update>'>
    >>> run_sync(g, Notes(lines=("notes:",)))
    <Success: Notes(lines=('notes:', 'hello', 'world'))>
    """
    if not nodes:
        raise expected("at least one state node", "nodes", nodes)
    wrapped: dict[int, _expr.Expr] = {}  # one check per distinct node, so sharing holds
    labels: list[str] = []
    checked_here: list[str | None] = []
    for index, g in enumerate(nodes):
        if not isinstance(g, Graph):
            raise expected("a Graph", f"nodes[{index}]", g)
        e = g._expr
        label = _label(e)
        labels.append(label)
        if isinstance(e, _expr.Call):
            if id(e) not in wrapped:
                wrapped[id(e)] = _checking_call(e)
            checked_here.append(None)
        else:
            wrapped[id(e)] = e
            checked_here.append(label)
    if name is None:
        name = "+".join(dict.fromkeys(labels)) + "<update>"
    _check_name(name)
    branches = (_expr.INPUT, *(wrapped[id(g._expr)] for g in nodes))
    return Graph(_expr.Join(branches, _fold(tuple(checked_here)), name, _expr.SYNC))
