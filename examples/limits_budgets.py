"""Limits and budgets: at most 3 steps at once, at most 2 LLM calls, a token budget.

    python examples/limits_budgets.py

Twelve summaries of one text run as a fan-out of async steps. `Limits(concurrency=3,
resources={"llm": 2, "tokens": 3000})` caps them: a step declared `.on("llm")` holds one
of the two LLM slots, and `.on("tokens", cost=1000)` a thousand tokens, while it runs. The
`on_event` hook counts how many ran at once, to show the limits held.
"""

from __future__ import annotations

import trio

from dagfn import Event, Limits, gather, node, run_sync


async def summarize(doc: str) -> str:
    await trio.sleep(0.01)  # the LLM call
    return doc.upper()


def word_count(doc: str) -> int:  # plain, takes no budget: runs inline at once
    return len(doc.split())


summaries = gather(
    [node(summarize).named(f"summarize{i}").on("llm").on("tokens", cost=1000) for i in range(12)]
)
counts = gather([node(word_count).named(f"count{i}") for i in range(12)])
pipeline = (summaries & counts).join(lambda s, c: (s, sum(c)), name="combine")


class Peak:
    """An `on_event` hook: the largest number of `summarize` steps running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    def __call__(self, event: Event) -> None:
        if not event.step.startswith("summarize"):
            return
        if event.kind == "start":
            self.running += 1
            self.peak = max(self.peak, self.running)
        elif event.kind in ("finish", "fail"):
            self.running -= 1


def main() -> int:
    peak = Peak()
    limits = Limits(concurrency=3, resources={"llm": 2, "tokens": 3000})
    result = run_sync(pipeline, "one two three", limits=limits, on_event=peak)
    texts, words = result.unwrap()
    print(f"{len(texts)} summaries, {words} words counted; at most {peak.peak} LLM calls at once")
    assert peak.peak <= 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
