"""`each(g)`: one run of ``g`` per element of a sequence that exists only at run time.

An each is one step of the outer graph (its path is its name); element ``i``'s
steps get the paths ``<name>[i]/<step path>``. The elements run concurrently
under the run's limits and their outputs come back in input order, whatever
order they finish in. `Each.fold` combines them with a monoid instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from dagfn import _expr
from dagfn._errors import DagfnError, expected
from dagfn._graph import Graph, _check_name
from dagfn.monoid import Monoid

T = TypeVar("T", contravariant=True)
U = TypeVar("U", covariant=True)
E = TypeVar("E", covariant=True)
A = TypeVar("A")
B = TypeVar("B")
Err = TypeVar("Err")


class NotASequence(DagfnError, TypeError):
    """An each step was given something that is not a sequence of elements (a failure value).

    A ``str`` (or ``bytes``) counts as wrong: it is a sequence of characters,
    which is almost never what a pipeline means to map over.
    """

    def __init__(self, step: str, value: object) -> None:
        kind = type(value).__name__
        if isinstance(value, str | bytes):
            why = (
                f"got a {kind} ({value[:40]!r}); a {kind} is not taken as a sequence of "
                f"characters: give a list (e.g. [text]) or split it first"
            )
        else:
            why = (
                f"got {kind}; give a list or a tuple (an ordered sequence: outputs come back "
                "in input order)"
            )
        super().__init__(f"each step {step!r} needs a sequence of elements but {why}")
        self.step = step
        self.value = value


class Each(Graph[Sequence[T], tuple[U, ...], E]):
    """The graph `each` returns: element outputs as a tuple, in input order."""

    __slots__ = ()

    def fold(self: Each[A, B, Err], monoid: Monoid[B], /) -> Graph[Sequence[A], B, Err]:
        """Combine the element outputs with ``monoid``, in input order (never completion order).

        The each step's output is the fold (no tuple is kept); no elements give
        ``monoid.empty()``. Raises `InvalidArgument` at once for a ``monoid``
        without ``empty`` and ``combine``; an exception from ``combine`` is a
        run failure of the each step.
        """
        if not (
            callable(getattr(monoid, "empty", None)) and callable(getattr(monoid, "combine", None))
        ):
            raise expected("a Monoid (with empty() and combine(a, b))", "monoid", monoid)
        e = self._expr
        assert isinstance(e, _expr.Each)  # `each` is the only maker of an Each
        if e.fold is not None:
            raise expected("an each that is not folded yet", "self", self)
        return Graph(_expr.Each(e.body, e.name, monoid))


def each(g: Graph[T, U, E], *, name: str | None = None) -> Each[T, U, E]:
    """Run ``g`` once per element of the input sequence, concurrently; outputs in input order.

    The each is one step named ``name`` (default: ``g``'s name); element
    ``i``'s steps have paths ``name[i]/<step>`` in events, traces, history and
    the journal. The elements' steps are steps like any other: the run's
    limits, budgets and policies apply to each of them, they are journaled,
    and a resumed run runs only the elements that had not finished. A failed
    element fails the each step (its `RunFailure` names the element's step,
    ``name[i]/<step>``); the other elements run to the end, unless
    ``fail_fast``. An input that is not a sequence (a ``str`` included) fails
    the each step with `NotASequence`. Policies set on the each apply to its
    elements' steps. Bad arguments raise `InvalidArgument` at once.
    """
    if not isinstance(g, Graph):
        raise expected("a Graph", "g", g)
    if name is None:
        name = default_name(g._expr)
    _check_name(name)
    if "[" in name or "]" in name:
        raise expected("a name without '[' or ']' (they mark element indexes)", "name", name)
    return Each(_expr.Each(g._expr, name, None))


def default_name(e: _expr.Expr) -> str:
    """The name of a graph's expression: a node's, join's, route's, loop's or subgraph's."""
    while isinstance(e, _expr.Policied | _expr.Recover | _expr.Fallback):
        e = e.inner
    if isinstance(e, _expr.Call | _expr.Join | _expr.Route | _expr.Scope | _expr.Loop):
        return e.name
    if isinstance(e, _expr.Interrupt | _expr.Each):
        return e.name
    return "each"
