"""A pipeline shaped by its data: documents known only at run time, each summarised
concurrently, then an answer streamed word by word, all under a token rate.

    python examples/data_shaped.py

`each(g)` runs `g` once per element of a run-time sequence (element `i`'s steps are
`summaries[i]/summarize`), under the run's limits; `streamed(fn, Text())` is a step whose
chunks reach the reader of `stream(...)` as they are made; `Limits(rates=...)` lets a step
declared `.on("tokens", cost)` start only when a bucket refilled at 4,000 tokens a second
holds its cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import trio

from dagfn import Limits, Rate, Trace, each, node, stream, streamed
from dagfn.monoid import Text


@attrs.frozen
class Doc:
    title: str
    text: str


CORPUS = [
    Doc("trio", "Trio is a library for structured concurrency. It has nurseries."),
    Doc("nursery", "A nursery owns its tasks. None outlives it."),
    Doc("cancel", "Cancel scopes nest. A timeout is a cancel scope."),
    Doc("asyncio", "asyncio is the standard library's event loop. It has tasks."),
]


@node
def retrieve(question: str) -> list[Doc]:  # 3 documents or 30: known only at run time
    words = set(question.lower().replace("?", "").split())
    return [d for d in CORPUS if words & set(d.text.lower().replace(".", "").split())]


async def summarize(d: Doc) -> str:
    await trio.sleep(0.02)  # an LLM call
    return f"{d.title}: {d.text.split('.')[0]}."


summaries = each(node(summarize).on("tokens", cost=500).retry(2), name="summaries")


@node
def combine(parts: tuple[str, ...]) -> str:
    return " ".join(parts)


async def generate(context: str) -> AsyncIterator[str]:  # an LLM's tokens
    for word in f"From {context.count(':')} sources: trio runs tasks in nurseries.".split():
        await trio.sleep(0.005)
        yield word + " "


answer = streamed(generate, Text()).on("tokens", cost=1000)
pipeline = retrieve >> summaries >> combine >> answer
limits = Limits(concurrency=8, rates={"tokens": Rate(4_000, per=1.0)})


async def main() -> int:
    trace = Trace()
    async with stream(pipeline, "how does trio cancel tasks?", limits=limits, on_event=trace) as s:
        async for chunk in s.of(answer):  # printed as it streams
            print(chunk.value, end="", flush=True)
        print()
    print(s.result)
    print(sorted(p for p in trace.steps if p.startswith("summaries[")))
    return 0


if __name__ == "__main__":
    raise SystemExit(trio.run(main))
