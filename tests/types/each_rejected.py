"""Programs mypy must reject: each marked line is a planted bug around `each`.

Every `# type: ignore[code]` below is needed (see README.md in this directory).
"""

# mypy: enable-error-code="ignore-without-code"

from __future__ import annotations

import attrs

from dagfn import each, node, run_sync
from dagfn.monoid import Concat, Sum


@attrs.frozen
class Doc:
    text: str


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Summary:
    text: str


@node
def retrieve(q: str) -> list[Doc]:
    return [Doc(q)]


@node
def one_doc(q: str) -> Doc:
    return Doc(q)


@node
def summarize(d: Doc) -> Summary:
    return Summary(d.text)


@node
def on_queries(q: Query) -> Summary:
    return Summary(q.text)


@node
def wants_a_list(summaries: list[Summary]) -> str:
    return ""


@node
def words(d: Doc) -> int:
    return 0


# The elements are Docs, the element graph takes Queries (mypy infers each's element
# type from the edge, so it reports the argument of each).
wrong_element = retrieve >> each(on_queries)  # type: ignore[arg-type]

# One Doc is not a sequence of Docs.
not_a_sequence = one_doc >> each(summarize)  # type: ignore[operator]

# each outputs a tuple, not a list.
tuple_not_list = retrieve >> each(summarize) >> wants_a_list  # type: ignore[operator]

# The monoid must be one of the element output type.
wrong_monoid = each(words).fold(Concat[str]())  # type: ignore[arg-type]


def use() -> None:
    # A str is not a Sequence[Doc] (at run time a str is refused too), nor is a list
    # of Queries: the plugin names both types.
    run_sync(each(summarize), "some text")  # type: ignore[arg-type]
    run_sync(each(words).fold(Sum()), [Query("q")])  # type: ignore[list-item, misc]
