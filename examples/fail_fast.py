"""`fail_fast`: the first failure cancels every running step and starts nothing more.

    python examples/fail_fast.py

By default a failed step's dependents do not run but independent branches run to the end,
so `RunFailure` lists everything that finished. With `fail_fast=True` the first failure
cancels the slow branch at once; `.cancelled` names what was cut short.
"""

from __future__ import annotations

import trio
from returns.result import Failure

from dagfn import RunFailure, node, run


def validate(order: str) -> str:
    raise ValueError(f"order {order!r} has no address")


async def slow_quote(order: str) -> str:
    await trio.sleep(5.0)  # a slow service: with fail_fast nobody waits for it
    return f"quote for {order}"


pipeline = (node(validate) & node(slow_quote)).join(lambda v, q: f"{v}: {q}", name="confirm")


async def main() -> int:
    started = trio.current_time()
    result = await run(pipeline, "order-7", fail_fast=True)
    elapsed = trio.current_time() - started
    assert isinstance(result, Failure)
    failure: RunFailure[object] = result.failure()
    print(f"failed: {failure.step}: {failure.error}")
    print(f"cancelled: {list(failure.cancelled)}; not run: {list(failure.not_run)}")
    print(f"returned after {elapsed:.2f} s, not 5")
    return 0


if __name__ == "__main__":
    raise SystemExit(trio.run(main))
