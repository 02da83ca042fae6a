"""Human in the loop: draft an email, wait for a typed approval, then send it.

    python examples/review.py                       # pauses, prints the run id and prompt
    python examples/review.py RUN_ID '{"approved": true, "note": "ship it"}'

The answer is checked against `Approval` by cattrs; a wrong shape is refused
and the run stays paused. Steps before the interrupt never run again.
"""

from __future__ import annotations

import json
import sys

import attrs
import trio
from returns.result import Failure, Success

from dagfn import InvalidAnswer, Paused, interrupt, node, resume_sync, run_sync
from dagfn.store import SqliteStore


@attrs.frozen
class Request:
    to: str
    topic: str


@attrs.frozen
class Draft:
    to: str
    body: str


@attrs.frozen
class Approval:
    approved: bool
    note: str = ""


@node
async def draft(r: Request) -> Draft:
    await trio.sleep(0.01)  # the LLM call
    return Draft(r.to, f"Dear {r.to}, here is the update on {r.topic}.")


def ask(d: Draft) -> str:
    return f"Send this to {d.to}? {d.body!r}"


def send(d: Draft, a: Approval) -> str:
    return f"sent to {d.to} ({a.note})" if a.approved else f"not sent ({a.note})"


flow = (draft & (draft >> interrupt(ask, answer=Approval, name="review"))).join(send)


def main(argv: list[str]) -> int:
    with SqliteStore("review.sqlite") as store:
        if argv:
            try:
                result = resume_sync(flow, argv[0], store=store, answer=json.loads(argv[1]))
            except InvalidAnswer as error:
                print(error, file=sys.stderr)
                return 2
        else:
            result = run_sync(flow, Request("ada@example.org", "the Q3 report"), store=store)
    match result:
        case Success(message):
            print(message)
            return 0
        case Failure(Paused() as paused):
            print(f"paused: run {paused.run_id} asks {paused.prompt!r}")
            return 3
        case Failure(failure):
            print(f"failed: {failure}", file=sys.stderr)
            return 1
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
