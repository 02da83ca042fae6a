"""A retrieval-augmented generation pipeline: classify, search in parallel, rerank, generate.

The pipeline of the "chains break in production" reference document, as one
typed dagfn expression. mypy checks every edge; the retrievers are fake async
services so the example runs anywhere:

    python examples/rag.py "explain async-native design"

Every run is journaled in the embedded SQLite store (``rag.sqlite``, or
``--db PATH``): run it again with ``--run-id ID`` and the finished run's answer
comes back without calling any step.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Literal

import attrs
import trio
from returns.result import Failure, Result, Success

from dagfn import Graph, node, route, run_sync
from dagfn.store import SqliteStore

CORPUS = (
    "trio runs structured concurrency: every task lives in a nursery",
    "async-native design means the event loop is the program's spine",
    "BM25 ranks documents by term frequency and inverse document frequency",
    "a DAG scheduler starts a step the moment its inputs exist",
    "rerankers reorder retrieved passages by relevance to the query",
)


@attrs.frozen
class Query:
    text: str


Intent = Literal["lookup", "explain"]


@attrs.frozen
class Classified:
    query: Query
    intent: Intent


@attrs.frozen
class Hits:
    source: str
    docs: tuple[str, ...]


@attrs.frozen
class Ranked:
    query: Query
    docs: tuple[str, ...]


@attrs.frozen
class Answer:
    text: str
    sources: tuple[str, ...]


@attrs.frozen
class SearchDown:
    """A retriever was unreachable: a failure value, not an exception."""

    service: str


@node
async def classify(q: Query) -> Classified:
    await trio.sleep(0.01)  # a small model call
    intent: Intent = "explain" if q.text.split()[0] in {"explain", "why", "how"} else "lookup"
    return Classified(q, intent)


STOP_WORDS = frozenset({"the", "and", "what", "how", "why", "explain", "its", "for"})


def _words(text: str) -> set[str]:
    words = {w.strip(".,:-'").lower() for w in text.split()}
    return {w for w in words if len(w) > 2 and w not in STOP_WORDS}


@node
async def semantic(c: Classified) -> Result[Hits, SearchDown]:
    await trio.sleep(0.05)  # a vector store round trip
    wanted = _words(c.query.text)
    scored = sorted(CORPUS, key=lambda d: -len(wanted & _words(d)))
    return Success(Hits("semantic", tuple(scored[:3])))


@node
async def keyword(c: Classified) -> Result[Hits, SearchDown]:
    await trio.sleep(0.03)  # a BM25 index
    wanted = _words(c.query.text)
    found = tuple(d for d in CORPUS if wanted & _words(d))
    if not found:
        return Failure(SearchDown("bm25"))
    return Success(Hits("keyword", found[:3]))


def rerank_hits(a: Hits, b: Hits) -> tuple[str, ...]:
    """Merge two hit lists, keeping the first occurrence of each document."""
    return tuple(dict.fromkeys(a.docs + b.docs))


@node
def query_of(c: Classified) -> Query:
    return c.query


def _rank(q: Query, docs: tuple[str, ...]) -> Ranked:
    wanted = _words(q.text)
    return Ranked(q, tuple(sorted(docs, key=lambda d: -len(wanted & _words(d)))))


@node
async def generate(r: Ranked) -> Answer:
    await trio.sleep(0.02)  # the LLM call
    best = r.docs[0] if r.docs else "nothing relevant was found"
    return Answer(f"{r.query.text!r}: {best}", r.docs)


def by_intent(c: Classified) -> Intent:
    return c.intent


# "explain" questions use both retrievers in parallel and rerank; lookups use BM25 alone.
both = (query_of & semantic & keyword).join(
    lambda q, a, b: _rank(q, rerank_hits(a, b)), name="rerank"
)
keyword_only = (query_of.named("lookup_query") & keyword.named("lookup_keyword")).join(
    lambda q, h: _rank(q, h.docs), name="rank_lookup"
)
retrieve: Graph[Classified, Ranked, SearchDown] = route(by_intent).cases(
    {"explain": both, "lookup": keyword_only}
)
pipeline: Graph[Query, Answer, SearchDown] = classify >> retrieve >> generate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="classify, search in parallel, rerank, generate")
    parser.add_argument("question", nargs="*", default=["explain", "async-native", "design"])
    parser.add_argument(
        "--db", default="rag.sqlite", help="the SQLite journal (default rag.sqlite)"
    )
    parser.add_argument("--run-id", default=None, help="journal under this id (resumes it)")
    args = parser.parse_args(argv)
    run_id = args.run_id or uuid.uuid4().hex[:12]
    with SqliteStore(args.db) as store:
        result = run_sync(pipeline, Query(" ".join(args.question)), store=store, run_id=run_id)
    print(f"run {run_id} journaled in {args.db}")
    match result:
        case Success(answer):
            print(answer.text)
            for doc in answer.sources:
                print(f"  - {doc}")
            return 0
        case Failure(failure):
            print(f"failed: {failure}", file=sys.stderr)
            return 1
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
