"""A loop with retry, timeout and recover: refine a draft until it is short enough.

    python examples/loop_refine.py

`loop(body, until=, max_steps=)` runs the body on the state, then on its own output. The
flaky `critique` step is retried; `polish` has a timeout, and a slow attempt falls back to
the unpolished text through `.recover`; every iteration's steps get `#n` paths.
"""

from __future__ import annotations

import attrs
import trio

from dagfn import Trace, loop, node, reduced, run_sync, update
from dagfn.monoid import Last, Sum


@attrs.frozen
class Draft:
    text: str = reduced(Last(""))
    rounds: int = reduced(Sum())


flaky = {"calls": 0}


def critique(d: Draft) -> Draft:
    flaky["calls"] += 1
    if flaky["calls"] % 3 == 1:  # the reviewer service fails now and then
        raise ConnectionError("reviewer unreachable")
    return Draft(text=" ".join(d.text.split()[:-1]), rounds=1)  # drop the last word


async def polish(d: Draft) -> Draft:
    await trio.sleep(0.5 if d.rounds == 2 else 0.0)  # one slow call, cut by the timeout
    return Draft(text=d.text.capitalize())


refine = update(node(critique).retry(3, backoff=0.0, on=(ConnectionError,))) >> update(
    node(polish).timeout(0.1).recover(Draft())  # an empty delta: keep the text as it is
)
flow = loop(refine, until=lambda d: len(d.text.split()) <= 3, max_steps=10, name="refine")


def main() -> int:
    trace = Trace()
    result = run_sync(flow, Draft(text="a long draft with far too many words"), on_event=trace)
    draft = result.unwrap()
    print(f"{draft.text!r} after {draft.rounds} rounds")
    for path in ("critique#1", "polish#2"):
        record = trace.steps[path]
        print(f"{path}: {record.attempts} attempts, {record.status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
