"""Mistakes only mypy (with dagfn's plugin) rejects: pyright accepts these lines.

pyright strict still checks this file, but may find an ignore here unneeded:
each line says what pyright does not see. Checked, never run.
"""

# mypy: enable-error-code="ignore-without-code"
# pyright: reportUnnecessaryTypeIgnoreComment=false

from __future__ import annotations

import functools

import attrs

from dagfn import node
from dagfn.monoid import record


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Intent:
    factual: bool


@node
def parse(s: str) -> Query:
    return Query(s)


@node
def classify(q: Query) -> Intent:
    return Intent(True)


@functools.lru_cache(maxsize=64)
def cached_score(q: Query) -> float:
    return 1.0


def mistakes() -> None:
    # pyright types a cached function's input as Hashable, which an Intent is.
    parse >> classify >> node(cached_score)  # type: ignore[operator]
    # pyright does not check record's bound (an attrs class).
    record(int)  # type: ignore[type-var]
