"""The StateGraph example of the SynapseKit reference, as one typed dagfn expression.

SynapseKit shares a mutable dict between nodes and merges writes with
reducers named by strings. Here the state is a frozen attrs record whose every
field declares its reducer (a monoid); a node returns a *delta* (a record with
only the fields it changes) and `update` folds the deltas of nodes that run in
parallel in argument order, so the result never depends on which finished
first. Routing on the state is `route(...).cases`, checked by mypy::

    ingest  >>  chunk & classify  >>  route by intent  >>  generate
                                      factual:  retrieve
                                      creative: brainstorm
                                      chitchat: (no retrieval)

Run it (the services are fakes with a little latency, so it runs anywhere)::

    python examples/state_rag.py "what is structured concurrency?"
"""

from __future__ import annotations

import sys
from typing import Literal, Never

import attrs
import trio
from returns.result import Failure, Success

from dagfn import Graph, node, reduced, route, run_sync, update
from dagfn.monoid import Concat, First, Last, Max

Intent = Literal["factual", "creative", "chitchat"]

CORPUS = (
    "Structured concurrency means every task lives in a nursery. "
    "A nursery waits for all its tasks before it exits.",
    "Trio cancels a whole nursery when one of its tasks fails. "
    "Cancellation is delivered at checkpoints.",
    "A DAG scheduler starts a step the moment its inputs exist. "
    "Steps that do not depend on each other run in parallel.",
    "Reducers merge parallel writes to one state field. "
    "A monoid reducer has an identity and is associative.",
)


@attrs.frozen
class RAGState:
    """The whole state of one run; each field says how parallel writes merge."""

    question: str = reduced(Last(""))  # last write wins ("" = unset)
    documents: tuple[str, ...] = reduced(Concat())  # "extend"
    chunks: tuple[str, ...] = reduced(Concat())
    intent: Intent | None = reduced(First(None))  # noqa: RUF009 - the first classification sticks
    context: tuple[str, ...] = reduced(Concat())
    best_score: float = reduced(Max(0.0))  # "max"
    answer: str = reduced(Last(""))
    trail: tuple[str, ...] = reduced(Concat())  # which nodes wrote, in fold order


#: Simulated service latency per node, in seconds (tests permute it).
LATENCY: dict[str, float] = {
    "ingest": 0.01,
    "chunk": 0.03,
    "classify": 0.02,
    "retrieve": 0.02,
    "brainstorm": 0.01,
    "generate": 0.02,
}


def _words(text: str) -> set[str]:
    return {w.strip(".,?!:;'\"").lower() for w in text.split() if len(w) > 3}


@node
async def ingest(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["ingest"])  # a document store
    wanted = _words(s.question)
    found = tuple(d for d in CORPUS if wanted & _words(d)) or CORPUS[:1]
    return RAGState(documents=found, trail=("ingest",))


@node
async def chunk(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["chunk"])
    pieces = tuple(p.strip(". ") + "." for d in s.documents for p in d.split(". ") if p.strip(". "))
    return RAGState(chunks=pieces, trail=("chunk",))


@node
async def classify(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["classify"])  # a small model
    text = s.question.lower()
    intent: Intent
    if text.startswith(("hi", "hello", "thanks")):
        intent = "chitchat"
    elif text.startswith(("write", "imagine", "invent")):
        intent = "creative"
    else:
        intent = "factual"
    return RAGState(intent=intent, trail=("classify",))


@node
async def retrieve(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["retrieve"])  # a vector search
    wanted = _words(s.question)
    scored = sorted(((len(wanted & _words(c)), c) for c in s.chunks), key=lambda sc: -sc[0])
    top = tuple(c for score, c in scored[:2] if score > 0)
    best = scored[0][0] / max(len(wanted), 1) if scored else 0.0
    return RAGState(context=top, best_score=best, trail=("retrieve",))


@node
async def brainstorm(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["brainstorm"])
    return RAGState(context=s.chunks[-1:], trail=("brainstorm",))


@node
def no_retrieval(s: RAGState) -> RAGState:
    return RAGState(trail=("no_retrieval",))


@node
async def generate(s: RAGState) -> RAGState:
    await trio.sleep(LATENCY["generate"])  # the LLM call
    if s.intent == "chitchat":
        answer = "Hello! Ask me about structured concurrency or DAG scheduling."
    elif not s.context:
        answer = "I found nothing relevant."
    else:
        answer = " ".join(s.context)
    return RAGState(answer=answer, trail=("generate",))


def by_intent(s: RAGState) -> Intent:
    return s.intent or "chitchat"


pipeline: Graph[RAGState, RAGState, Never] = (
    update(ingest)
    >> update(chunk, classify)  # in parallel; folded in this order
    >> route(by_intent).cases(
        {
            "factual": update(retrieve),
            "creative": update(brainstorm),
            "chitchat": update(no_retrieval),
        }
    )
    >> update(generate)
)


def main(argv: list[str]) -> int:
    question = " ".join(argv) or "What does a nursery wait for?"
    match run_sync(pipeline, RAGState(question=question)):
        case Success(state):
            print(state.answer)
            print(f"  intent={state.intent} best_score={state.best_score:.2f}")
            print(f"  steps: {' -> '.join(state.trail)}")
            return 0
        case Failure(failure):
            print(f"failed: {failure}", file=sys.stderr)
            return 1
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
