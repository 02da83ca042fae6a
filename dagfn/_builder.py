"""`Builder`: the name-based way to make a graph that comes from data.

``add(name, fn, after=(...))`` records steps; ``build(output=...)`` checks them
(unknown names, cycles, annotations that do not fit) and turns them into the
same expressions the typed operators make, so they lower to the same plan:
a root step is a `node` on the run input, a step after one step is ``dep >>
step``, a step after several is ``(a & b).join(step)``. Everything here is
iterative: a chain of 100,000 steps builds under the default recursion limit.
"""

from __future__ import annotations

import collections
import difflib
import inspect
import typing
from collections.abc import Callable, Sequence
from types import NoneType
from typing import Any, Generic, overload

from typing_extensions import TypeForm, TypeVar

from dagfn import _expr
from dagfn._annotations import produced
from dagfn._errors import DagfnError, InvalidArgument, expected
from dagfn._expr import DuplicatePath
from dagfn._graph import Graph, _check_name

I = TypeVar("I", default=Any)  # noqa: E741 - the graph's input, when declared
O = TypeVar("O", default=Any)  # noqa: E741 - the graph's output, when declared


class CycleError(DagfnError, ValueError):
    """The steps given to a `Builder` form a cycle; ``cycle`` lists it in running order.

    Each step of ``cycle`` comes after the one before it, and the first after
    the last. Use `loop` for repetition: it is the only way to make a cycle.
    """

    def __init__(self, message: str, *, cycle: tuple[str, ...]) -> None:
        super().__init__(message)
        self.cycle = cycle


class UnknownStep(DagfnError, LookupError):
    """A `Builder` refers to step names it does not have.

    ``names`` are the unknown names in the order met; ``suggestions[name]``
    the close names the builder does have.
    """

    def __init__(
        self, message: str, *, names: tuple[str, ...], suggestions: dict[str, tuple[str, ...]]
    ) -> None:
        super().__init__(message)
        self.names = names
        self.suggestions = suggestions


class StepMismatch(DagfnError, TypeError):
    """Connected `Builder` steps whose annotations do not fit.

    ``producer``'s return annotation ``produced`` is not a subclass of
    ``consumer``'s annotation ``expected`` of its parameter ``parameter``.
    """

    def __init__(
        self,
        message: str,
        *,
        producer: str,
        consumer: str,
        parameter: str,
        produced: type,
        expected: type,
    ) -> None:
        super().__init__(message)
        self.producer = producer
        self.consumer = consumer
        self.parameter = parameter
        self.produced = produced
        self.expected = expected


class _Step:
    __slots__ = ("after", "fn", "name")

    def __init__(
        self, name: str, fn: Callable[..., Any] | Graph[Any, Any, Any], after: tuple[str, ...]
    ) -> None:
        self.name = name  # unique in its builder; a valid step name
        self.fn = fn  # a callable, or a graph (then len(after) <= 1)
        self.after = after  # names of the steps whose outputs are fn's arguments, in order

    def origin(self) -> str:
        """Where the step's function comes from, for messages."""
        return "a graph" if isinstance(self.fn, Graph) else _expr.callable_origin(self.fn)


class Builder(Generic[I, O]):
    """Collect named steps with ``add``, then ``build`` one graph from them.

    ``Builder()`` builds a ``Graph[Any, Any, Any]`` (its types come from data).
    ``Builder(input=Query, output=Answer)`` builds a ``Graph[Query, Answer, Any]``
    that type checkers check the edges around, and `build` checks the declared
    types against the annotations of the root steps and the output step.

    Mistakes raise at once: `add` rejects bad arguments and a name used twice
    (`DuplicatePath`); `build` rejects unknown names (`UnknownStep`), cycles
    (`CycleError`), arities and annotations that do not fit (`InvalidArgument`,
    `StepMismatch`). Running the built graph behaves like any graph: failures
    come back as ``Failure(RunFailure(...))``.

    >>> from dagfn import run_sync
    >>> def fetch(q: str) -> str:
    ...     return q.upper()
    >>> def semantic(text: str) -> int:
    ...     return len(text)
    >>> def keyword(text: str) -> int:
    ...     return text.count("A")
    >>> def rerank(a: int, b: int) -> int:
    ...     return a * 10 + b
    >>> b = Builder()
    >>> b.add("fetch", fetch)
    >>> b.add("semantic", semantic, after=("fetch",))
    >>> b.add("keyword", keyword, after=("fetch",))
    >>> b.add("rerank", rerank, after=("semantic", "keyword"))
    >>> run_sync(b.build(output="rerank"), "banana")
    <Success: 63>
    """

    __slots__ = ("_input", "_output", "_steps")

    @overload
    def __init__(self: Builder[Any, Any]) -> None: ...
    @overload
    def __init__(self, *, input: TypeForm[I], output: TypeForm[O]) -> None: ...
    def __init__(self, *, input: Any = None, output: Any = None) -> None:
        self._steps: dict[str, _Step] = {}  # in the order added
        self._input: Any = input  # the declared run input type, or None
        self._output: Any = output  # the declared output type, or None

    # Overloads by the number of ``after`` names, so that a lambda gets typed
    # parameters (``Any``, or the declared input for a root step) and pyright
    # strict accepts it; the last takes any sequence.
    @overload
    def add(
        self, name: str, fn: Callable[[I], Any] | Graph[Any, Any, Any], *, after: tuple[()] = ...
    ) -> None: ...
    @overload
    def add(
        self, name: str, fn: Callable[[Any], Any] | Graph[Any, Any, Any], *, after: tuple[str]
    ) -> None: ...
    @overload
    def add(self, name: str, fn: Callable[[Any, Any], Any], *, after: tuple[str, str]) -> None: ...
    @overload
    def add(
        self, name: str, fn: Callable[[Any, Any, Any], Any], *, after: tuple[str, str, str]
    ) -> None: ...
    @overload
    def add(
        self, name: str, fn: Callable[..., Any] | Graph[Any, Any, Any], *, after: Sequence[str]
    ) -> None: ...
    def add(
        self,
        name: str,
        fn: Callable[..., Any] | Graph[Any, Any, Any],
        *,
        after: Sequence[str] = (),
    ) -> None:
        """Add the step ``name`` that calls ``fn`` with the outputs of ``after``, in order.

        A step with no ``after`` gets the run input. ``fn`` may be sync or async
        and return a value or a `Result`; it may also be a graph, which becomes
        the subgraph ``name`` (paths ``name/...``; a one-step graph is renamed
        ``name``) and takes at most one ``after``. The steps named in ``after``
        may be added later. Raises `InvalidArgument` for a bad argument and
        `DuplicatePath` for a name already added.
        """
        _check_name(name)
        if isinstance(after, str) or not isinstance(after, Sequence):
            raise expected(
                f"a sequence of step names (you probably want after=({after!r},))",
                "after",
                after,
            )
        for index, dep in enumerate(after):
            if not isinstance(dep, str):
                raise expected("a step name (str)", f"after[{index}]", dep)
        if isinstance(fn, Graph):
            if len(after) > 1:
                msg = "at most one step name: a graph step takes one input"
                raise expected(msg, "after", tuple(after))
        elif not callable(fn):
            raise expected("a callable or a Graph", "fn", fn)
        step = _Step(name, fn, tuple(after))
        first = self._steps.get(name)
        if first is not None:
            places = (first.origin(), step.origin())
            msg = (
                f"the builder already has a step {name!r} ({places[0]}); "
                f"give the new one ({places[1]}) another name"
            )
            raise DuplicatePath(msg, path=name, places=places)
        self._steps[name] = step

    def build(self, *, output: str) -> Graph[I, O, Any]:
        """Check the steps and make the graph whose output is step ``output``'s.

        Only ``output`` and the steps it depends on are in the graph (a step
        nothing leads from is left out, as in a makefile). The graph is typed
        ``Graph[Any, Any, Any]``: its types come from data, so mypy cannot know
        them; `build` checks what it can instead. Raises `UnknownStep` (naming
        every unknown name and suggesting close ones), `CycleError` (naming the
        cycle in running order), `InvalidArgument` for a step that cannot take
        as many arguments as it has ``after`` names, and `StepMismatch` when a
        step returns a plain class that is not a subclass of the plain class its
        consumer's parameter is annotated with (annotations that are generic,
        unions, protocols, missing or unresolvable are not checked). With the
        types declared (``Builder(input=..., output=...)``), a root step whose
        parameter does not take the input, or an output step that does not
        return the output type, is a `StepMismatch` too.
        """
        steps = self._steps
        self._check_names(output)
        order = self._order()
        _check_signatures(steps)
        self._check_declared(output)
        needed = {output}
        pending = [output]
        while pending:
            for dep in steps[pending.pop()].after:
                if dep not in needed:
                    needed.add(dep)
                    pending.append(dep)
        exprs: dict[str, _expr.Expr] = {}
        kinds: dict[int, int] = {}  # by id(fn): detecting a coroutine function is not free
        for name in order:
            if name not in needed:
                continue
            step = steps[name]
            fn = step.fn
            if isinstance(fn, Graph):
                own = fn.named(name)._expr
            else:
                kind = kinds.get(id(fn))
                if kind is None:
                    kind = kinds[id(fn)] = _expr.callable_kind(fn)
                if len(step.after) > 1:
                    branches = tuple(exprs[dep] for dep in step.after)
                    exprs[name] = _expr.Join(branches, fn, name, kind)
                    continue
                own = _expr.Call(fn, name, kind)
            exprs[name] = _expr.Then(exprs[step.after[0]], own) if step.after else own
        return Graph(exprs[output])

    def _check_declared(self, output: str) -> None:
        """The declared input fits every root step; the output step returns the declared output."""
        cache: dict[int, _Signature] = {}
        if self._input is not None:
            for step in self._steps.values():
                if step.after or isinstance(step.fn, Graph):
                    continue
                signature, hints, _ = _signature_of(step.fn, cache)
                if signature is None or not signature.parameters:
                    continue
                parameter = next(iter(signature.parameters))
                wanted: Any = hints.get(parameter)
                if not _fits(self._input, wanted):
                    msg = (
                        f"step {step.name!r} takes {parameter}: {_name(wanted)}, but the "
                        f"builder's declared input is {_name(self._input)}"
                    )
                    raise StepMismatch(
                        msg,
                        producer="<input>",
                        consumer=step.name,
                        parameter=parameter,
                        produced=self._input,
                        expected=wanted,
                    )
        fn = self._steps[output].fn
        if self._output is not None and not isinstance(fn, Graph):
            produced = _signature_of(fn, cache)[2]
            if not _fits(produced, self._output):
                msg = (
                    f"the output step {output!r} returns {_name(produced)}, but the "
                    f"builder's declared output is {_name(self._output)}"
                )
                raise StepMismatch(
                    msg,
                    producer=output,
                    consumer="<output>",
                    parameter="return",
                    produced=produced,
                    expected=self._output,
                )

    def _check_names(self, output: str) -> None:
        steps = self._steps
        unknown: dict[str, str] = {}  # name -> where it was used
        if not isinstance(output, str):
            raise expected("a step name (str)", "output", output)
        if output not in steps:
            unknown[output] = "output"
        for step in steps.values():
            for dep in step.after:
                if dep not in steps and dep not in unknown:
                    unknown[dep] = f"after= of step {step.name!r}"
        if not unknown:
            return
        known = list(steps)
        suggestions: dict[str, tuple[str, ...]] = {}
        lines = []
        for name, where in unknown.items():
            close = tuple(difflib.get_close_matches(name, known, n=3))
            suggestions[name] = close
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            lines.append(f"{name!r} in {where}{hint}")
        msg = f"unknown step names: {'; '.join(lines)}"
        raise UnknownStep(msg, names=tuple(unknown), suggestions=suggestions)

    def _order(self) -> list[str]:
        """Every step, each after its dependencies (Kahn's algorithm); raises `CycleError`."""
        steps = self._steps
        waiting = {name: len(set(step.after)) for name, step in steps.items()}
        dependents: dict[str, list[str]] = {name: [] for name in steps}
        for step in steps.values():
            for dep in dict.fromkeys(step.after):
                dependents[dep].append(step.name)
        ready = collections.deque(name for name, n in waiting.items() if n == 0)
        order: list[str] = []
        while ready:
            name = ready.popleft()
            order.append(name)
            for d in dependents[name]:
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)
        if len(order) < len(steps):
            cycle = self._cycle(waiting)
            shown = " -> ".join(map(repr, (*cycle, cycle[0])))
            msg = (
                f"the steps form a cycle: {shown}; a builder makes a DAG "
                "(use loop(...) to repeat steps)"
            )
            raise CycleError(msg, cycle=cycle)
        return order

    def _cycle(self, waiting: dict[str, int]) -> tuple[str, ...]:
        """A cycle among the steps Kahn's algorithm could not order, in running order.

        Each of those steps waits on at least one other, so walking from one
        to a waiting dependency must come back to a step already seen.
        """
        steps = self._steps
        stuck = {name for name, n in waiting.items() if n > 0}
        name = next(n for n in steps if n in stuck)  # the first one added, for stable messages
        walk: list[str] = []
        seen: dict[str, int] = {}
        while name not in seen:
            seen[name] = len(walk)
            walk.append(name)
            name = next(dep for dep in steps[name].after if dep in stuck)
        cycle = walk[seen[name] :][::-1]  # dependencies first: running order
        position = {n: i for i, n in enumerate(steps)}
        start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        return tuple(cycle[start:] + cycle[:start])

    def __repr__(self) -> str:
        return f"<Builder of {len(self._steps)} steps>"


# --- annotations -----------------------------------------------------------------

_Signature = tuple[inspect.Signature | None, dict[str, Any], Any]


def _check_signatures(steps: dict[str, _Step]) -> None:
    """Check each step's arity and, where both sides are plain classes, its edges' types."""
    # Caches by id(fn) (every fn is kept alive by `steps`): a pipeline from data
    # often calls one function in many steps.
    cache: dict[int, _Signature] = {}
    parameters: dict[tuple[int, int], list[str]] = {}  # (fn, arguments) -> parameter names
    fitting: set[tuple[int, int, str]] = set()  # (producer fn, consumer fn, parameter) checked
    for step in steps.values():
        fn = step.fn
        if isinstance(fn, Graph):
            continue
        count = max(len(step.after), 1)
        params = parameters.get((id(fn), count))
        if params is None:
            signature, hints, _ = _signature_of(fn, cache)
            if signature is None:
                continue
            try:
                bound = signature.bind(*range(count))
            except TypeError as error:
                gives = f"after={step.after!r}" if step.after else "the run input"
                msg = (
                    f"step {step.name!r} gets {count} argument(s) ({gives}), but its "
                    f"function {_expr.callable_name(fn)}{signature} cannot take them: {error}"
                )
                raise InvalidArgument(msg, argument="after") from None
            params = []
            for parameter, value in bound.arguments.items():
                params.extend([parameter] * (len(value) if isinstance(value, tuple) else 1))
            parameters[(id(fn), count)] = params
        if not step.after:
            continue
        hints = cache[id(fn)][1]
        for dep, parameter in zip(step.after, params, strict=True):
            producer = steps[dep].fn
            if isinstance(producer, Graph) or (id(producer), id(fn), parameter) in fitting:
                continue
            fitting.add((id(producer), id(fn), parameter))
            produced = _signature_of(producer, cache)[2]
            wanted: Any = hints.get(parameter)
            if not _fits(produced, wanted):
                msg = (
                    f"step {step.name!r} takes {parameter}: {_name(wanted)}, but step "
                    f"{dep!r} (which it comes after) returns {_name(produced)}"
                )
                raise StepMismatch(
                    msg,
                    producer=dep,
                    consumer=step.name,
                    parameter=parameter,
                    produced=produced,
                    expected=wanted,
                )


def _signature_of(fn: Callable[..., Any], cache: dict[int, _Signature]) -> _Signature:
    """(signature or None, resolved parameter annotations, resolved return type or None)."""
    key = id(fn)
    found = cache.get(key)
    if found is not None:
        return found
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: no checks
        signature = None
    hints: dict[str, Any] = {}
    returns: Any = None
    if signature is not None:
        try:
            resolved = inspect.signature(fn, eval_str=True)
        except Exception:  # annotations that do not resolve: check the arity only
            resolved = signature
        for p in resolved.parameters.values():
            if p.annotation is not p.empty and not isinstance(p.annotation, str):
                hints[p.name] = NoneType if p.annotation is None else p.annotation
        returns = fn if isinstance(fn, type) else resolved.return_annotation
        if returns is None:
            returns = NoneType
        elif returns is inspect.Signature.empty or isinstance(returns, str):
            returns = None  # unknown: not checked
        else:
            returns = produced(returns)
    found = (signature, hints, returns)
    cache[key] = found
    return found


def _plain(t: Any) -> bool:
    return (
        isinstance(t, type)
        and typing.get_origin(t) is None
        and t is not Any
        and not getattr(t, "_is_protocol", False)
    )


def _fits(produced: Any, wanted: Any) -> bool:
    """False only when both are plain classes and clearly incompatible."""
    if not (_plain(produced) and _plain(wanted)):
        return True
    if wanted is float and produced is int:
        return True  # mypy's numeric promotions
    if wanted is complex and produced in (int, float):
        return True
    try:
        return issubclass(produced, wanted)
    except TypeError:
        return True


def _name(t: Any) -> str:
    return t.__qualname__ if isinstance(t, type) else repr(t)
