"""What mypy must reject for update and fold: each marked line is an error (never run)."""

from __future__ import annotations

import attrs

from dagfn import gather, node, reduced, update
from dagfn.monoid import Concat, Sum


@attrs.frozen
class Doc:
    chunks: tuple[str, ...] = reduced(Concat())
    tokens: int = reduced(Sum())


@attrs.frozen
class Other:
    notes: tuple[str, ...] = reduced(Concat())


@node
def chunk(s: Doc) -> Doc:
    return Doc(chunks=("a",))


@node
def note(s: Other) -> Other:
    return Other(notes=("n",))


@node
def reads_only(s: Doc) -> int:
    return s.tokens


@node
def length(text: str) -> int:
    return len(text)


@node
def bad_delta(s: Doc) -> Doc:
    return Doc(tokens="3")  # type: ignore[arg-type]  # a delta field of the wrong type


def checks() -> None:
    # With dagfn's plugin each names the node (mypy alone: 'Cannot infer value of
    # type parameter "S" of "update"'). A node over another state type:
    update(chunk, note)  # type: ignore[arg-type]
    update(reads_only)  # type: ignore[arg-type]  # a node must return a delta of the state
    update(length)  # type: ignore[arg-type]
    gather([length, length]).fold(Concat[str]())  # type: ignore[arg-type]  # int items
    gather([chunk]).fold(Sum[int]())  # type: ignore[arg-type]
