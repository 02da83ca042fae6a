"""The only cycle: `loop(body, until=, max_steps=)`.

A loop is one step of the outer graph. Each iteration runs the body as a
nested run of its own plan, whose step paths get the iteration number
(``refine#3``); the state flows from one iteration to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from dagfn import _expr
from dagfn._checks import positive_int
from dagfn._errors import DagfnError, expected
from dagfn._graph import Graph, _check_name

S = TypeVar("S")
E = TypeVar("E")


class MaxStepsExceeded(DagfnError, RuntimeError):
    """A loop's ``until`` was still false after ``max_steps`` iterations (a failure value)."""

    def __init__(self, loop: str, limit: int, last_step: str, last: object) -> None:
        super().__init__(
            f"loop {loop!r} reached max_steps={limit} and `until` is still false; "
            f"the last state came from step {last_step!r}"
        )
        self.loop = loop
        self.limit = limit
        self.last_step = last_step
        self.last = last


def loop(
    body: Graph[S, S, E],
    *,
    until: Callable[[S], bool],
    max_steps: int,
    name: str = "loop",
) -> Graph[S, S, E | MaxStepsExceeded]:
    """Run ``body`` on the state, then again on its output, until ``until(state)`` holds.

    The body runs at least once and at most ``max_steps`` times; if ``until``
    is still false after the last, the loop fails with `MaxStepsExceeded`
    (naming the limit and the step that made the last state). The loop is
    one step named ``name``; the body's steps get paths suffixed with the
    iteration (``refine#3``). Loops nest. Bad arguments raise
    `InvalidArgument` at once.
    """
    if not isinstance(body, Graph):
        raise expected("a Graph", "body", body)
    if not callable(until):
        raise expected("a callable returning bool", "until", until)
    positive_int("max_steps", max_steps)
    _check_name(name)
    return Graph(_expr.Loop(body._expr, until, max_steps, name))
