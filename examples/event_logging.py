"""Run events to the standard `logging` module: one logger per run, step and attempt as extras.

    python examples/event_logging.py

`log_events()` is an `on_event` callable: each run logs to `dagfn.run.<run_id>` (a start at
DEBUG, a finish at INFO with its duration, a retry at WARNING, a failure at ERROR with its
traceback), and every record carries `run_id`, `step`, `attempt` and `event` attributes, so
a formatter (or a JSON log handler) can use them.
"""

from __future__ import annotations

import logging
import sys

from dagfn import log_events, node, run_sync

attempts = {"n": 0}


def fetch(url: str) -> str:
    attempts["n"] += 1
    if attempts["n"] == 1:
        raise ConnectionError("reset by peer")
    return f"<html>{url}</html>"


def size(page: str) -> int:
    return len(page)


pipeline = node(fetch).retry(2, backoff=0.0) >> node(size)


def main() -> int:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)-7s %(step)s#%(attempt)s %(message)s"))
    handler.addFilter(lambda record: getattr(record, "step", None) is not None)  # steps only
    logging.getLogger("dagfn").addHandler(handler)
    logging.getLogger("dagfn").setLevel(logging.INFO)
    print(run_sync(pipeline, "example.org", on_event=log_events()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
