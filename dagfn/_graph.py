"""The typed expression layer: `Graph`, `node`, `>>`, `&`/`Fan.join` and `gather`.

A `Graph[I, O, E]` is an immutable description of a computation from ``I`` to
``O`` that may fail with ``E`` (``Never`` when it cannot fail as a value).
Building a graph never runs anything; mistakes in building raise at once.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, Never, TypeVar, TypeVarTuple, Unpack, overload

from returns.result import Result

from dagfn import _expr
from dagfn._checks import positive_int
from dagfn._errors import InvalidArgument, expected
from dagfn._policy import (
    Breaker,
    RetryPolicy,
    StepExecutor,
    StepOptions,
    check_executor,
    check_resource,
    check_timeout,
)
from dagfn.monoid import Monoid

I = TypeVar("I", contravariant=True)  # noqa: E741 - the input, as in the design
O = TypeVar("O", covariant=True)  # noqa: E741 - the output
E = TypeVar("E", covariant=True)

A = TypeVar("A")
B = TypeVar("B")
R = TypeVar("R")
Err = TypeVar("Err")
O2 = TypeVar("O2")
E2 = TypeVar("E2")
Ts = TypeVarTuple("Ts")
Us = TypeVarTuple("Us")


class Graph(Generic[I, O, E]):
    """A typed, immutable pipeline from ``I`` to ``O`` that may fail with ``E``.

    Graphs are values: combine them with ``>>``, ``&`` and the functions of
    this package, then run them with `dagfn.run`. The same graph value used
    twice in one expression (on the same input) is one step that runs once.
    """

    __slots__ = ("_expr",)

    def __init__(self, expr: _expr.Expr) -> None:
        self._expr = expr

    def __rshift__(self, other: Graph[O, O2, E2]) -> Graph[I, O2, E | E2]:
        """``a >> b``: feed ``a``'s output to ``b``; mypy checks that they fit."""
        if not isinstance(other, Graph):
            return NotImplemented
        return Graph(_expr.Then(self._expr, other._expr))

    def then(self, other: Graph[O, O2, E2]) -> Graph[I, O2, E | E2]:
        """The same as ``self >> other``."""
        if not isinstance(other, Graph):
            raise expected("a Graph", "other", other)
        return Graph(_expr.Then(self._expr, other._expr))

    def __and__(self, other: Graph[I, O2, E2]) -> Fan[I, E | E2, O, O2]:
        """``a & b``: run both on the same input; close with `Fan.join`."""
        if not isinstance(other, Graph):
            return NotImplemented
        return Fan((self._expr, other._expr))

    # Typing only: when the left operand takes a wider input (``anything & b``
    # with ``anything: Graph[object, ...]``), mypy cannot fit ``b`` to
    # ``__and__`` and tries ``b.__rand__(a)``, which takes the narrower input
    # of the two. At run time `__and__` accepts every graph, so this runs only
    # for a left operand that is not a graph (or `Fan`).
    @overload
    def __rand__(self, other: Graph[I, O2, E2]) -> Fan[I, E2 | E, O2, O]: ...
    @overload
    def __rand__(self, other: Fan[I, E2, *Us]) -> Fan[I, E2 | E, *Us, O]: ...
    def __rand__(self, other: object) -> Fan[I, Any, *tuple[Any, ...]]:
        if isinstance(other, Graph):
            return Fan((other._expr, self._expr))
        if isinstance(other, Fan):
            return Fan((*other._branches, self._expr))
        return NotImplemented

    def named(self, name: str) -> Graph[I, O, E]:
        """Give this graph a name.

        A single step (a `node`) is renamed: its path becomes ``name``. Any
        other graph becomes a subgraph: the paths of its steps get the prefix
        ``name/`` (a step shared with the outside keeps the path of its first
        use, in left-to-right order). To name a join step, use
        ``join(fn, name=...)``.
        """
        _check_name(name)
        e = self._expr
        if isinstance(e, _expr.Call):
            return Graph(_expr.Call(e.fn, name, e.kind, e.options))
        return Graph(_expr.Scope(e, name))

    # --- policies: each returns a new graph of the same type -----------------

    def retry(
        self,
        attempts: int,
        *,
        backoff: float = 0.1,
        factor: float = 2.0,
        max_backoff: float = 10.0,
        jitter: bool = True,
        on: type | tuple[type, ...] = (Exception,),
    ) -> Graph[I, O, E]:
        """Make up to ``attempts`` attempts of each step, waiting between them.

        The wait after failed attempt ``k`` is ``min(max_backoff, backoff *
        factor ** (k - 1))`` seconds, scaled by a random factor in ``[0.5, 1]``
        when ``jitter`` (from ``run(..., rng=)``, so tests are deterministic). Only
        errors that are instances of ``on`` are retried: raised exceptions and
        ``Failure`` values alike. On a composite graph, applies to every step
        that does not set its own. Bad arguments raise `InvalidArgument` at once.
        """
        policy = RetryPolicy.checked(attempts, backoff, factor, max_backoff, jitter, on)
        return self._with(StepOptions(retry=policy))

    def timeout(self, seconds: float) -> Graph[I, O, E]:
        """Fail a step attempt that takes longer than ``seconds`` with `StepTimeout`.

        The attempt runs in a cancel scope (a plain function is moved to a
        worker thread so it can be abandoned). On a composite graph, applies to
        every step that does not set its own.
        """
        return self._with(StepOptions(timeout=check_timeout(seconds)))

    def breaker(
        self,
        breaker: Breaker | None = None,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        name: str | None = None,
    ) -> Graph[I, O, E]:
        """Guard steps with a circuit breaker whose state is shared across runs.

        Pass a `Breaker` to share one between graphs, or let this make one
        (``failures`` consecutive failures open it; it half-opens after
        ``cooldown`` seconds). While open, a step fails at once with
        `BreakerOpen` naming the breaker.
        """
        if breaker is None:
            label = name if name is not None else _describe(self._expr).strip("'")
            breaker = Breaker(label, failures=failures, cooldown=cooldown)
        elif not isinstance(breaker, Breaker):
            raise expected("a Breaker", "breaker", breaker)
        return self._with(StepOptions(breaker=breaker))

    def via(self, executor: StepExecutor) -> Graph[I, O, E]:
        """Run the plain functions of these steps on ``executor`` (threads, processes, Dask).

        Async functions always run on the trio thread. Overrides the run's
        ``executor=`` for these steps; `run` opens the executor if needed.
        """
        check_executor(executor)
        return self._with(StepOptions(executor=executor))

    def on(self, resource: str, cost: float = 1) -> Graph[I, O, E]:
        """Take ``cost`` from the run's budget ``resource`` (see `Limits`) while a step runs."""
        return self._with(StepOptions(resources=(check_resource(resource, cost),)))

    @overload
    def recover(  # type: ignore[overload-overlap]
        self: Graph[A, B, Any], fallback: Graph[A, B, E2], /
    ) -> Graph[A, B, E2]: ...
    @overload
    def recover(self: Graph[A, B, Any], fallback: B, /) -> Graph[A, B, Never]: ...
    def recover(self, fallback: Any, /) -> Graph[Any, Any, Any]:
        """On failure of any step of this graph, output ``fallback`` instead.

        ``fallback`` is a value of the output type (the result cannot fail) or a
        graph that runs on the same input (``a.recover(b)`` is ``a | b``). The
        failed attempt's remaining steps do not start. mypy rejects a fallback
        of another type.
        """
        if isinstance(fallback, Graph):
            return Graph(_expr.Fallback(self._expr, fallback._expr))
        return Graph(_expr.Recover(self._expr, fallback))

    def __or__(self: Graph[A, B, Any], other: Graph[A, B, E2]) -> Graph[A, B, E2]:
        """``a | b``: run ``a``; if any step of it fails, run ``b`` on the same input."""
        if not isinstance(other, Graph):
            return NotImplemented
        return Graph(_expr.Fallback(self._expr, other._expr))

    def _with(self, options: StepOptions) -> Graph[I, O, E]:
        e = self._expr
        if isinstance(e, _expr.Call):
            return Graph(_expr.Call(e.fn, e.name, e.kind, options.under(e.options)))
        # A join is a composite (its branches are steps too): like any other
        # composite, its policies apply to every step inside, not the join alone.
        return Graph(_expr.Policied(e, options))

    def __repr__(self) -> str:
        return f"<Graph {_describe(self._expr)}>"


def _describe(e: _expr.Expr) -> str:
    if isinstance(e, _expr.Call | _expr.Join | _expr.Route | _expr.Scope):
        return repr(e.name)
    return type(e).__name__.lower()


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name or "/" in name or "#" in name:
        msg = "a non-empty str without '/' or '#'"
        raise expected(msg, "name", name)


class Fan(Generic[I, E, *Ts]):
    """Graphs that run side by side on one input, built by ``a & b & c``.

    A fan is not a graph yet: close it with `Fan.join`, which mypy checks for
    the order and number of the branch outputs.
    """

    __slots__ = ("_branches",)

    def __init__(self, branches: tuple[_expr.Expr, ...]) -> None:
        self._branches = branches

    def __and__(self, other: Graph[I, O2, E2]) -> Fan[I, E | E2, *Ts, O2]:
        """Add one more branch (flat: ``a & b & c`` has three branches)."""
        if not isinstance(other, Graph):
            return NotImplemented
        return Fan((*self._branches, other._expr))

    @overload
    def join(
        self, fn: Callable[[Unpack[Ts]], Awaitable[Result[R, Err]]], /, *, name: str | None = ...
    ) -> Graph[I, R, E | Err]: ...
    @overload
    def join(
        self, fn: Callable[[Unpack[Ts]], Result[R, Err]], /, *, name: str | None = ...
    ) -> Graph[I, R, E | Err]: ...
    @overload
    def join(
        self, fn: Callable[[Unpack[Ts]], Awaitable[R]], /, *, name: str | None = ...
    ) -> Graph[I, R, E]: ...
    @overload
    def join(
        self, fn: Callable[[Unpack[Ts]], R], /, *, name: str | None = ...
    ) -> Graph[I, R, E]: ...
    def join(self, fn: Callable[..., Any], /, *, name: str | None = None) -> Graph[I, Any, Any]:
        """One step that calls ``fn(a, b, ...)`` with the branch outputs in order.

        ``fn`` may be sync or async, return a value or a `Result`; an attrs class
        works too. The step's path is ``name``, or ``fn``'s name. Raises
        `InvalidArgument` at once if ``fn`` is not callable or ``name`` is bad.
        """
        if not callable(fn):
            raise expected("a callable", "fn", fn)
        if name is None:
            name = _expr.callable_name(fn)
        _check_name(name)
        return Graph(_expr.Join(self._branches, fn, name, _expr.callable_kind(fn)))

    def __repr__(self) -> str:
        return f"<Fan of {len(self._branches)}>"


class NodeDecorator:
    """What ``node(name=...)`` returns: apply it to a one-argument function."""

    __slots__ = ("_name", "_options")

    def __init__(self, name: str | None, options: StepOptions | None = None) -> None:
        self._name = name
        self._options = options

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[[A], Awaitable[Result[B, Err]]], /
    ) -> Graph[A, B, Err]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[[A], Result[B, Err]], /
    ) -> Graph[A, B, Err]: ...
    @overload
    def __call__(self, fn: Callable[[A], Awaitable[B]], /) -> Graph[A, B, Never]: ...
    @overload
    def __call__(self, fn: Callable[[A], B], /) -> Graph[A, B, Never]: ...
    def __call__(self, fn: Callable[[Any], Any], /) -> Graph[Any, Any, Any]:
        return _node(fn, self._name, self._options)


@overload
def node(  # type: ignore[overload-overlap]
    fn: Callable[[A], Awaitable[Result[B, Err]]],
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> Graph[A, B, Err]: ...
@overload
def node(  # type: ignore[overload-overlap]
    fn: Callable[[A], Result[B, Err]],
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> Graph[A, B, Err]: ...
@overload
def node(
    fn: Callable[[A], Awaitable[B]],
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> Graph[A, B, Never]: ...
@overload
def node(
    fn: Callable[[A], B],
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> Graph[A, B, Never]: ...
@overload
def node(
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> NodeDecorator: ...
def node(
    fn: Callable[[Any], Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | None = None,
    resource: str | Mapping[str, float] | None = None,
) -> Any:
    """Make a one-step graph from a one-argument function.

    The function may be sync or async and may return a plain value (the graph
    cannot fail as a value: ``E`` is ``Never``) or a `returns` ``Result``
    (``Graph[A, B, Err]``). A plain function runs inline on the trio thread; an
    async one runs in its own task. Use ``@node`` or ``@node(name="...")``.

    ``retry`` (an attempt count, or a `RetryPolicy`), ``timeout`` (seconds) and
    ``resource`` (a budget name taking cost 1, or ``{name: cost}``) are
    shorthands for ``.retry(n)``, ``.timeout(s)`` and ``.on(name, cost)``.
    Raises `InvalidArgument` at once for a non-callable or a bad argument,
    naming it.

    >>> @node
    ... def inc(x: int) -> int:
    ...     return x + 1
    >>> inc
    <Graph 'inc'>
    """
    options = _node_options(retry, timeout, resource)
    if fn is None:
        if name is not None:
            _check_name(name)
        return NodeDecorator(name, options)
    return _node(fn, name, options)


def _node_options(retry: object, timeout: object, resource: object) -> StepOptions | None:
    """The policies given to `node` as keywords, checked; None when there are none."""
    if retry is None and timeout is None and resource is None:
        return None
    policy: RetryPolicy | None = None
    if isinstance(retry, RetryPolicy):
        r = retry
        policy = RetryPolicy.checked(r.attempts, r.backoff, r.factor, r.max_backoff, r.jitter, r.on)
    elif retry is not None:
        attempts = positive_int("retry", retry, what="an attempt count >= 1 or a RetryPolicy")
        policy = RetryPolicy.checked(attempts, 0.1, 2.0, 10.0, True, (Exception,))
    resources: tuple[tuple[str, float], ...] = ()
    if isinstance(resource, str):
        resources = (check_resource(resource, 1),)
    elif isinstance(resource, Mapping):
        resources = tuple(check_resource(r, c) for r, c in resource.items())
    elif resource is not None:
        raise expected("a budget name or a mapping of budget name to cost", "resource", resource)
    return StepOptions(
        retry=policy,
        timeout=check_timeout(timeout, "timeout") if timeout is not None else None,
        resources=resources,
    )


def _node(
    fn: Callable[[Any], Any], name: str | None, options: StepOptions | None = None
) -> Graph[Any, Any, Any]:
    if isinstance(fn, Graph):
        raise expected("a function (this is already a graph)", "fn", fn)
    if not callable(fn):
        raise expected("a callable", "fn", fn)
    if inspect.isasyncgenfunction(fn):
        msg = "a function returning its output; for an async generator use streamed(fn, monoid)"
        raise expected(msg, "fn", fn)
    if name is None:
        name = _expr.callable_name(fn)
    _check_name(name)
    _check_one_input(fn)
    kind = _expr.callable_kind(fn)
    if options is None:
        return Graph(_expr.Call(fn, name, kind))
    return Graph(_expr.Call(fn, name, kind, options))


def _takes(fn: Callable[..., Any]) -> tuple[int, int, bool] | None:
    """(required positional, required keyword-only, may take one positional) of ``fn``.

    None when it cannot be told (a builtin without a signature).
    """
    if type(fn) is types.FunctionType:  # the usual case, read off the code object (fast)
        code = fn.__code__
        return (
            code.co_argcount - len(fn.__defaults__ or ()),
            code.co_kwonlyargcount - len(fn.__kwdefaults__ or {}),
            code.co_argcount >= 1 or bool(code.co_flags & inspect.CO_VARARGS),
        )
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    empty = inspect.Parameter.empty
    return (
        sum(p.kind in positional and p.default is empty for p in parameters),
        sum(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is empty for p in parameters),
        any(p.kind in (*positional, inspect.Parameter.VAR_POSITIONAL) for p in parameters),
    )


def _check_one_input(fn: Callable[..., Any]) -> None:
    """A step's function is called with one argument: say so at once if it cannot be."""
    takes = _takes(fn)
    if takes is None:
        return
    required, keyword_only, may_take_one = takes
    if required <= 1 and not keyword_only and may_take_one:
        return
    name = _expr.callable_name(fn)
    shown = f"{name}({', '.join(inspect.signature(fn).parameters)})"
    hint = ""
    if required > 1:
        why = f"takes {required} arguments"
        hint = f"; to call it on several graphs' outputs, write (a & b).join({name})"
    elif keyword_only:
        why = "has required keyword-only arguments"
    else:
        why = "takes no argument"
    msg = (
        f"node({name}): {shown} {why}, but a step is called with one input "
        f"(its input graph's output){hint}"
    )
    raise InvalidArgument(msg, argument="fn")


class Gathered(Graph[I, tuple[O, ...], E]):
    """The graph `gather` returns: a tuple of outputs, in list order."""

    __slots__ = ()

    def fold(
        self: Gathered[A, B, Err], monoid: Monoid[B], /, *, name: str = "fold"
    ) -> Graph[A, B, Err]:
        """Combine the gathered outputs with ``monoid``, in list order (never completion order).

        One plain step (path ``name``) that runs inline once every branch has
        finished; no branches give ``monoid.empty()``. Give each fold of one
        graph its own ``name``. Raises `InvalidArgument` at once for a
        ``monoid`` without ``empty`` and ``combine``, or a bad ``name``; an
        exception from ``combine`` is a run failure of this step.

        >>> from dagfn import run_sync
        >>> from dagfn.monoid import Sum
        >>> @node
        ... def square(x: int) -> int:
        ...     return x * x
        >>> run_sync(gather([square, square.named("again")]).fold(Sum()), 3)
        <Success: 18>
        """
        if not (
            callable(getattr(monoid, "empty", None)) and callable(getattr(monoid, "combine", None))
        ):
            raise expected("a Monoid (with empty() and combine(a, b))", "monoid", monoid)
        _check_name(name)
        gathered = self._expr
        assert isinstance(gathered, _expr.Gather)  # `gather` is the only maker of a Gathered
        branches = gathered.branches
        if not branches:
            return Graph(_expr.Join((_expr.INPUT,), _folder_of_nothing(monoid), name, _expr.SYNC))
        return Graph(_expr.Join(branches, _folder(monoid), name, _expr.SYNC))


def _folder(monoid: Monoid[Any]) -> Callable[..., Any]:
    combine, empty = monoid.combine, monoid.empty

    def fold(*values: Any) -> Any:
        result = empty()
        for value in values:
            result = combine(result, value)
        return result

    return fold


def _folder_of_nothing(monoid: Monoid[Any]) -> Callable[[Any], Any]:
    def fold(_: Any) -> Any:
        return monoid.empty()

    return fold


def gather(graphs: Iterable[Graph[I, O, E]]) -> Gathered[I, O, E]:
    """Run every graph of a list on the same input; the output is a tuple in list order.

    The list is ordinary Python data, so it can be built at run time of the
    program (from configuration, say). Raises `InvalidArgument` at once for an
    item that is not a graph.
    """
    exprs: list[_expr.Expr] = []
    for index, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise expected("a Graph", f"graphs[{index}]", g)
        exprs.append(g._expr)
    return Gathered(_expr.Gather(tuple(exprs)))
