"""The typed forms of issue 16 at run time: node.bind, failure_of, typed builders,
type-form answers, narrower fallbacks and routes, and ``dagfn check`` on edges."""

from __future__ import annotations

import functools
import io
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import attrs
import pytest
from returns.result import Failure, Result, Success

from dagfn import (
    Builder,
    InvalidAnswer,
    InvalidArgument,
    Paused,
    StepMismatch,
    cli,
    failure_of,
    interrupt,
    node,
    resume_sync,
    route,
    run_sync,
)
from dagfn._edgecheck import check_edges
from dagfn.store import SqliteStore

T = TypeVar("T")


@attrs.frozen
class Query:
    text: str


@attrs.frozen
class Scored:
    text: str
    score: float


class HasText(Protocol):
    @property
    def text(self) -> str: ...


def score(q: Query, weight: float, *, boost: int = 0) -> Scored:
    return Scored(q.text, len(q.text) * weight + boost)


async def score_async(q: Query, weight: float) -> Result[Scored, str]:
    return Success(Scored(q.text, weight)) if q.text else Failure("empty")


def test_node_bind_calls_the_function_with_the_input_first_then_the_bound_arguments() -> None:
    assert run_sync(node.bind(score, 2.0, boost=1), Query("abc")) == Success(Scored("abc", 7.0))
    g = node.bind(score_async, 0.5)
    assert repr(g) == "<Graph 'score_async'>"
    assert run_sync(g, Query("q")) == Success(Scored("q", 0.5))
    failure = failure_of(run_sync(g, Query("")))
    assert failure is not None and failure.error == "empty" and failure.step == "score_async"


def _text_of(s: Scored) -> str:
    return s.text


def test_a_bound_step_is_journaled_with_its_function_s_types(tmp_path: Path) -> None:
    ask = interrupt(_text_of, answer=bool, name="ok")
    g = node.bind(score, 1.0) >> ask
    with SqliteStore(str(tmp_path / "b.sqlite")) as store:
        first = failure_of(run_sync(g, Query("hi"), store=store, run_id="b"))
        assert isinstance(first, Paused)
        # The resumed run reads score's output back as a Scored (its return annotation).
        assert resume_sync(g, "b", store=store, answer=True) == Success(True)


def test_node_bind_rejects_what_is_not_callable() -> None:
    with pytest.raises(InvalidArgument, match="fn"):
        node.bind(3)  # type: ignore[call-overload]
    with pytest.raises(InvalidArgument, match="fn"):
        node.bind(node.bind(score, 1.0), 1.0)  # type: ignore[call-overload]


def test_failure_of_is_the_run_failure_or_none() -> None:
    @node
    def boom(q: Query) -> Result[str, KeyError]:
        return Failure(KeyError(q.text))

    assert failure_of(run_sync(node.bind(score, 1.0), Query("a"))) is None
    failure = failure_of(run_sync(boom, Query("x")))
    assert failure is not None
    assert isinstance(failure.error, KeyError) and failure.step == "boom"


def read(s: str) -> Query:
    return Query(s)


def shout(q: Query) -> str:
    return q.text.upper()


def test_a_typed_builder_checks_its_declared_input_and_output() -> None:
    b = Builder(input=str, output=str)
    b.add("read", read)
    b.add("shout", shout, after=("read",))
    assert run_sync(b.build(output="shout"), "hey") == Success("HEY")
    with pytest.raises(StepMismatch, match="declared output is str") as caught:
        b.build(output="read")
    assert caught.value.producer == "read" and caught.value.consumer == "<output>"
    wrong = Builder(input=int, output=str)
    wrong.add("read", read)  # type: ignore[arg-type]  # the checkers see it as well
    with pytest.raises(StepMismatch, match=r"step 'read' takes s: str, .*declared input is int"):
        wrong.build(output="read")


def ask_choice(q: Query) -> str:
    return f"publish {q.text}?"


def test_an_interrupt_answer_may_be_a_literal(tmp_path: Path) -> None:
    decide = interrupt(ask_choice, answer=Literal["approve", "edit", "remove"])
    with SqliteStore(str(tmp_path / "l.sqlite")) as store:
        assert isinstance(failure_of(run_sync(decide, Query("x"), store=store, run_id="l")), Paused)
        with pytest.raises(InvalidAnswer):
            resume_sync(decide, "l", store=store, answer="publish")
        assert resume_sync(decide, "l", store=store, answer="edit") == Success("edit")


@node
def primary(x: HasText) -> Result[str, str]:
    return Failure("down")


@node
def backup(q: Query) -> str:
    return "backup " + q.text


def test_a_narrower_fallback_runs_either_way_round() -> None:
    assert run_sync(primary | backup, Query("q")) == Success("backup q")
    assert run_sync(primary.recover(backup), Query("q")) == Success("backup q")
    with pytest.raises(TypeError):
        object() | backup  # type: ignore[operator]  # __ror__ is for type checkers only


def by_length(x: HasText) -> Literal["short", "long"]:
    return "short" if len(x.text) < 5 else "long"


def test_a_protocol_selector_routes_record_branches() -> None:
    g = route(by_length).cases({"short": backup, "long": node(shout)})
    assert run_sync(g, Query("hi")) == Success("backup hi")
    assert run_sync(g, Query("longer")) == Success("LONGER")


# --- dagfn check ---------------------------------------------------------------------


def _logged(fn: Callable[[T], Any]) -> Callable[[T], Any]:
    @functools.wraps(fn)
    def wrapper(x: Any) -> Any:
        return fn(x)

    return wrapper


def test_check_edges_names_both_steps_and_follows_wrapped_functions() -> None:
    @node
    def count(q: Query) -> int:
        return len(q.text)

    def words(text: str) -> tuple[str, ...]:
        return tuple(text.split())

    hidden = node(_logged(words))  # typed Any to a checker: only check sees the clash
    [mismatch] = check_edges(count >> hidden)
    assert str(mismatch) == "step 'words' takes text: str, but step 'count' gives int"
    assert (mismatch.consumer, mismatch.producer) == ("words", "step 'count'")
    assert check_edges(node(words) >> node(_logged(len))) == []


def test_check_edges_sees_joins_routes_the_input_and_containers() -> None:
    @node
    def parts(q: Query) -> tuple[int, ...]:
        return (1,)

    def join(a: tuple[str, ...], b: Query) -> str:
        return ""

    wrong = (parts & node(shout)).join(join)  # type: ignore[arg-type]  # mypy sees it too
    found = [str(m) for m in check_edges(wrong)]
    assert found == [
        "step 'join' takes a: tuple[str, ...], but step 'parts' gives tuple[int, ...]",
        "step 'join' takes b: Query, but step 'shout' gives str",
    ]
    g = route(by_length).cases({"short": backup, "long": node(shout)})
    assert check_edges(g) == []
    assert [str(m) for m in check_edges(node(read) >> g)] == []


def test_dagfn_check_exits_1_naming_each_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "edgy_graphs.py"
    module.write_text(
        textwrap.dedent(
            """
            from dagfn import Builder, node

            def length(text: str) -> int:
                return len(text)

            def upper(text: str) -> str:
                return text.upper()

            b = Builder()
            b.add("length", length)
            b.add("upper", node(upper).named("upper"), after=("length",))
            built = b.build(output="upper")
            lambdas = node(length) >> node(lambda n: n + 1) >> node(upper)
            fine = node(upper) >> node(length)
            """
        )
    )
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["check", "edgy_graphs:built"], out=out, err=err) == cli.FAILED
    assert err.getvalue() == (
        "mismatch: step 'upper' takes text: str, but step 'length' gives int\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["check", "edgy_graphs:lambdas"], out=out, err=err) == cli.OK  # Any hides it
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["check", "edgy_graphs:fine"], out=out, err=err) == cli.OK
    assert out.getvalue().startswith("ok: 2 steps")
