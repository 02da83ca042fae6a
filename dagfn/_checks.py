"""Argument predicates: one check per kind of argument, with one message shape.

Each check returns the value (as the type it checked) or raises the
`InvalidArgument` that `dagfn._errors.expected` builds: ``Expected <what> but
got name=value (type=...)``. A call site may word ``what`` for its argument
(``"an attempt count >= 1 or a RetryPolicy"``); the rule stays the one here.
A ``bool`` is never a number: ``retry=True`` is a mistake, not one attempt.

>>> positive_int("attempts", 3)
3
>>> positive_int("attempts", True)
Traceback (most recent call last):
    ...
dagfn._errors.InvalidArgument: Expected a positive int but got attempts=True (type=bool)
>>> in_range("commit_interval", 2, 0, 1, what="seconds between 0 and 1")
Traceback (most recent call last):
    ...
dagfn._errors.InvalidArgument: Expected seconds between 0 and 1 but got commit_interval=2 (type=int)
"""

from __future__ import annotations

import math

from dagfn._errors import expected

__all__ = ["in_range", "non_negative", "positive", "positive_int"]


def positive_int(name: str, value: object, *, what: str = "a positive int") -> int:
    """``value`` if it is an int >= 1 (not a bool), else raise `InvalidArgument`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise expected(what, name, value)
    return value


def in_range(name: str, value: object, low: float, high: float = math.inf, *, what: str) -> float:
    """``value`` as a float if it is a finite number with ``low <= value <= high``."""
    number = _finite(value)
    if number is None or not low <= number <= high:
        raise expected(what, name, value)
    return number


def non_negative(name: str, value: object, *, what: str = "a non-negative number") -> float:
    """``value`` as a float if it is a finite number >= 0 (not a bool)."""
    return in_range(name, value, 0.0, what=what)


def positive(name: str, value: object, *, what: str = "a positive number") -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool)."""
    number = _finite(value)
    if number is None or number <= 0:
        raise expected(what, name, value)
    return number


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite int or float; None otherwise (bools too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None
