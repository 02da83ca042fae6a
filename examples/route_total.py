"""`route_total`: a branch for every key of the selector's return type, proved by mypy.

    python examples/route_total.py

The selector returns a `Literal`; the table is a function written with `match` and
`assert_never`, so adding a key to `Kind` without a branch is a mypy error, and dagfn
checks at build time that every key has a branch.
"""

from __future__ import annotations

from typing import Literal, assert_never

import attrs

from dagfn import Graph, node, route_total, run_sync

Kind = Literal["billing", "bug", "other"]


@attrs.frozen
class Ticket:
    text: str


def kind_of(t: Ticket) -> Kind:
    if "invoice" in t.text:
        return "billing"
    return "bug" if "crash" in t.text else "other"


def refund(t: Ticket) -> str:
    return f"billing team: {t.text}"


def triage(t: Ticket) -> str:
    return f"engineering: {t.text}"


def answer(t: Ticket) -> str:
    return f"help desk: {t.text}"


def table(kind: Kind) -> Graph[Ticket, str, object]:
    match kind:
        case "billing":
            return node(refund)
        case "bug":
            return node(triage)
        case "other":
            return node(answer)
        case _:
            assert_never(kind)


desk = route_total(kind_of, table)


def main() -> int:
    for text in ("my invoice is wrong", "the app crashes", "hello"):
        print(run_sync(desk, Ticket(text)).unwrap())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
