"""Errors raised while *building* graphs or using the library wrongly.

Failures while *running* are values (`Failure(RunFailure(...))`), never these.
Every error subclasses the builtin it refines, so generic handlers still work,
and carries typed attributes instead of data hidden in ``args``.
"""

from __future__ import annotations

from typing import Any


class DagfnError(Exception):
    """Base class of every exception dagfn raises."""


class InvalidArgument(DagfnError, ValueError):
    """An argument has the wrong value; the message names it."""

    def __init__(self, message: str, *, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


def expected(what: str, name: str, value: Any) -> InvalidArgument:
    """Build the one message shape for bad arguments (raise the result).

    >>> str(expected("a positive int", "attempts", 0))
    'Expected a positive int but got attempts=0 (type=int)'
    """
    message = f"Expected {what} but got {name}={value!r} (type={type(value).__name__})"
    return InvalidArgument(message, argument=name)
