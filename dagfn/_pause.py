"""Typed human-in-the-loop: `interrupt(prompt_fn, answer=T)`.

An interrupt step computes a prompt from its input and pauses the run
durably; `resume` supplies the answer, which cattrs checks against ``T``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Never, TypeVar, overload

from typing_extensions import TypeForm

from dagfn import _expr
from dagfn._errors import expected
from dagfn._graph import Graph, _check_name

A = TypeVar("A")
T = TypeVar("T")


@overload
def interrupt(
    prompt: Callable[[A], Any], /, *, answer: type[T], name: str | None = None
) -> Graph[A, T, Never]: ...
@overload
def interrupt(
    prompt: Callable[[A], Any], /, *, answer: TypeForm[T], name: str | None = None
) -> Graph[A, T, Never]: ...
def interrupt(
    prompt: Callable[[A], Any], /, *, answer: Any, name: str | None = None
) -> Graph[A, Any, Never]:
    """A step that asks a human and outputs their answer, a ``T``.

    When the run reaches it, ``prompt(input)`` (a plain function) computes what
    to ask; the run goes on with everything that does not need the answer,
    then stops with ``Failure(Paused(run_id, step, prompt))``. `resume` with
    the answer continues it (in any process, from the store); steps that
    finished before never run again. ``answer`` is a class or any type form
    cattrs can structure (``Literal["approve", "edit"]``, ``int | None``,
    ``tuple[str, ...]``). The step's path is ``name`` or the prompt
    function's name. Raises `InvalidArgument` at once for bad arguments.
    """
    if not callable(prompt):
        raise expected("a callable", "prompt", prompt)
    if name is None:
        name = _expr.callable_name(prompt)
    _check_name(name)
    return Graph(_expr.Interrupt(prompt, answer, name))
