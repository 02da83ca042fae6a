"""Correct programs over `node`, `>>`, `&`/`join`, `gather`, `.named` and `run`.

mypy --strict must accept every line, and each `assert_type` pins down what
must be inferred (see README.md in this directory).
"""

from __future__ import annotations

from typing import Never, assert_type

import attrs
from returns.result import Failure, Result, Success

from dagfn import Fan, Gathered, Graph, RetryPolicy, RunFailure, gather, node, run, run_sync


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Intent:
    factual: bool


@attrs.frozen
class Hits:
    docs: tuple[str, ...]


@attrs.frozen
class Ranked:
    docs: tuple[str, ...]


@attrs.frozen
class Answer:
    text: str


@attrs.frozen
class SearchDown:
    service: str


@attrs.frozen
class RankError:
    reason: str


# --- node: plain results give E = Never, Result[B, Err] gives E = Err --------


@node
def parse(text: str) -> Query:
    return Query(text)


@node
async def classify(q: Query) -> Intent:
    return Intent(factual=True)


@node
def keyword(q: Query) -> Result[Hits, SearchDown]:
    return Success(Hits((q.text,)))


@node
async def semantic(q: Query) -> Result[Hits, SearchDown]:
    return Failure(SearchDown("vectors"))


assert_type(parse, Graph[str, Query, Never])
assert_type(classify, Graph[Query, Intent, Never])
assert_type(keyword, Graph[Query, Hits, SearchDown])
assert_type(semantic, Graph[Query, Hits, SearchDown])


# The keyword form, for all four kinds of function.
@node(name="promote")
def promote(h: Hits) -> Ranked:
    return Ranked(h.docs)


@node(name="answer")
async def generate(r: Ranked) -> Answer:
    return Answer(" ".join(r.docs))


@node(name="first")
def first_doc(r: Ranked) -> Result[str, RankError]:
    return Success(r.docs[0]) if r.docs else Failure(RankError("empty"))


@node(name="checked")
async def checked_rank(h: Hits) -> Result[Ranked, RankError]:
    return Success(Ranked(h.docs))


assert_type(promote, Graph[Hits, Ranked, Never])
assert_type(generate, Graph[Ranked, Answer, Never])
assert_type(first_doc, Graph[Ranked, str, RankError])
assert_type(checked_rank, Graph[Hits, Ranked, RankError])


def requery(a: Answer) -> Query:
    return Query(a.text)


def shout(a: Answer) -> Answer:
    return Answer(a.text.upper())


class Index:
    def lookup(self, q: Query) -> Hits:
        return Hits((q.text,))


# node as a plain call, on a function, a class and a bound method.
assert_type(node(shout), Graph[Answer, Answer, Never])
assert_type(node(name="loud")(shout), Graph[Answer, Answer, Never])
# policies as node keywords keep the types
assert_type(node(shout, retry=3, timeout=2.0, resource="llm"), Graph[Answer, Answer, Never])
assert_type(
    node(retry=RetryPolicy(2), resource={"tokens": 800})(shout), Graph[Answer, Answer, Never]
)
assert_type(node(Query), Graph[str, Query, Never])
assert_type(node(Index().lookup), Graph[Query, Hits, Never])


def with_default(q: Query, limit: int = 10) -> Hits:
    return Hits((q.text,) * limit)


# Extra parameters with defaults are fine: the step passes one argument.
assert_type(node(with_default), Graph[Query, Hits, Never])


# --- >> and .then: an output feeds the next input, errors accumulate ---------

assert_type(parse >> classify, Graph[str, Intent, Never])
assert_type(parse.then(classify), Graph[str, Intent, Never])

pipeline = keyword >> checked_rank >> generate
assert_type(pipeline, Graph[Query, Answer, SearchDown | RankError])
assert_type(keyword.then(checked_rank).then(generate), Graph[Query, Answer, SearchDown | RankError])
assert_type(keyword >> (checked_rank >> generate), Graph[Query, Answer, SearchDown | RankError])
assert_type(parse >> keyword >> promote >> first_doc, Graph[str, str, SearchDown | RankError])

# An infallible step adds nothing to the union; a repeated error appears once.
assert_type(keyword >> promote, Graph[Query, Ranked, SearchDown])
assert_type(
    semantic >> promote >> generate >> node(shout) >> node(requery) >> keyword,
    Graph[Query, Hits, SearchDown],
)


# --- a & b & c is one flat Fan; join checks order and arity ------------------

fan = semantic & keyword & classify
assert_type(fan, Fan[Query, SearchDown, Hits, Hits, Intent])
assert_type(keyword & classify, Fan[Query, SearchDown, Hits, Intent])
assert_type(classify & classify, Fan[Query, Never, Intent, Intent])


def merge(a: Hits, b: Hits, i: Intent) -> Ranked:
    return Ranked(a.docs + b.docs)


async def merge_async(a: Hits, b: Hits, i: Intent) -> Ranked:
    return Ranked(a.docs + b.docs)


def rerank(a: Hits, b: Hits, i: Intent) -> Result[Ranked, RankError]:
    return Success(Ranked(a.docs + b.docs))


async def rerank_async(a: Hits, b: Hits, i: Intent) -> Result[Ranked, RankError]:
    return Failure(RankError("model down"))


@attrs.frozen
class Evidence:
    semantic: Hits
    keyword: Hits
    intent: Intent


assert_type(fan.join(merge), Graph[Query, Ranked, SearchDown])
assert_type(fan.join(merge_async), Graph[Query, Ranked, SearchDown])
assert_type(fan.join(rerank), Graph[Query, Ranked, SearchDown | RankError])
assert_type(fan.join(rerank_async), Graph[Query, Ranked, SearchDown | RankError])
assert_type(fan.join(Evidence), Graph[Query, Evidence, SearchDown])
assert_type((classify & classify).join(lambda a, b: a == b), Graph[Query, bool, Never])

# The design's RAG shape, end to end.
rag = parse >> (semantic & keyword & classify).join(rerank_async) >> generate
assert_type(rag, Graph[str, Answer, SearchDown | RankError])


# --- gather: a homogeneous list built at run time ----------------------------

shards = [keyword.named(f"shard{i}") for i in range(3)]
assert_type(gather(shards), Gathered[Query, Hits, SearchDown])
assert_type(gather([keyword, semantic]), Gathered[Query, Hits, SearchDown])
assert_type(gather(g for g in (classify, classify)), Gathered[Query, Intent, Never])
gathered: Graph[Query, tuple[Hits, ...], SearchDown] = gather(shards)
assert_type(parse >> gather(shards), Graph[str, tuple[Hits, ...], SearchDown])


def flatten(hits: tuple[Hits, ...]) -> Hits:
    return Hits(tuple(d for h in hits for d in h.docs))


assert_type(gather(shards) >> node(flatten), Graph[Query, Hits, SearchDown])


@node
def strict_keyword(q: Query) -> Result[Hits, RankError]:
    return Failure(RankError("no exact match"))


# Different error types in one list join to `object` (a mypy join, not a
# union); a declared type keeps the union.
either: Gathered[Query, Hits, SearchDown | RankError] = gather([keyword, strict_keyword])


# --- .named keeps the type ---------------------------------------------------

assert_type(keyword.named("kw"), Graph[Query, Hits, SearchDown])
assert_type(pipeline.named("retrieval"), Graph[Query, Answer, SearchDown | RankError])
assert_type(fan.join(merge).named("merge2"), Graph[Query, Ranked, SearchDown])
assert_type(gather(shards).named("all"), Graph[Query, tuple[Hits, ...], SearchDown])


# --- run and run_sync: Result[O, RunFailure[E]] ------------------------------


async def main() -> None:
    result = await run(pipeline, Query("q"))
    assert_type(result, Result[Answer, RunFailure[SearchDown | RankError]])
    assert_type(await run(classify, Query("q")), Result[Intent, RunFailure[Never]])
    assert_type(
        await run(rag, "q", policy="fifo", fail_fast=True),
        Result[Answer, RunFailure[SearchDown | RankError]],
    )


def check_run_sync() -> None:
    """Not called: importing a type test runs no graph."""
    assert_type(run_sync(pipeline, Query("q")), Result[Answer, RunFailure[SearchDown | RankError]])
    assert_type(
        run_sync(gather(shards), Query("q")), Result[tuple[Hits, ...], RunFailure[SearchDown]]
    )

    # returns narrows a `match` on Success/Failure to Success[Any], so read the
    # typed value with its methods.
    outcome = run_sync(rag, "what is dagfn?")
    assert_type(outcome.unwrap(), Answer)
    assert_type(outcome.value_or(None), Answer | None)
    assert_type(outcome.failure(), RunFailure[SearchDown | RankError])
    assert_type(outcome.failure().error, SearchDown | RankError | Exception)
    assert_type(outcome.failure().failures[0].error, SearchDown | RankError | Exception)
    assert_type(outcome.failure().not_run, tuple[str, ...])
    assert_type(outcome.failure().completed, tuple[str, ...])


# --- join(fn, name=...) names the step and keeps the same types --------------

assert_type(fan.join(merge, name="merged"), Graph[Query, Ranked, SearchDown])
assert_type(fan.join(merge_async, name="merged"), Graph[Query, Ranked, SearchDown])
assert_type(fan.join(rerank, name="ranked"), Graph[Query, Ranked, SearchDown | RankError])
assert_type(fan.join(rerank_async, name="ranked"), Graph[Query, Ranked, SearchDown | RankError])

# A cached graph keeps its type (unlike functools.lru_cache, which erases the input's).
assert_type(checked_rank.cache(), Graph[Hits, Ranked, RankError])
assert_type(checked_rank.cache(ttl=60.0), Graph[Hits, Ranked, RankError])
