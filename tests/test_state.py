"""State graphs: `update` folds deltas in argument order; bad deltas are failures; `fold`."""

from __future__ import annotations

import functools
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing
from _support import vrun
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from dagfn import (
    DuplicatePath,
    Graph,
    InvalidArgument,
    RunFailure,
    StateError,
    gather,
    node,
    reduced,
    route,
    run,
    run_sync,
    update,
)
from dagfn._plan import plan_of
from dagfn.monoid import Concat, First, Last, Merge, Sum, record


@attrs.frozen
class State:
    log: tuple[str, ...] = reduced(Concat())
    total: int = reduced(Sum())
    first: str | None = reduced(First(None))
    last: str = reduced(Last(""))
    seen: dict[str, int] = reduced(Merge())  # noqa: RUF009 - a fresh dict per instance


def writer(name: str, seconds: float) -> Graph[State, State, Any]:
    """A state node that sleeps ``seconds``, then writes one delta touching every field."""

    async def write(s: State) -> State:
        await trio.sleep(seconds)
        return State(log=(name,), total=len(name), first=name, last=name, seen={name: len(s.log)})

    write.__name__ = name
    return node(write)


def run_virtual(graph: Graph[State, State, Any], state: State) -> Result[State, RunFailure[Any]]:
    """Run in virtual time: sleeps take no wall time, and finishing order follows them."""
    return vrun(graph, state)


NAMES = ("ingest", "chunk", "classify", "embed", "rank")


@given(st.permutations(range(len(NAMES))))
def test_update_folds_in_argument_order_whatever_order_the_nodes_finish(
    order: list[int],
) -> None:
    nodes = [writer(name, seconds) for name, seconds in zip(NAMES, order, strict=True)]
    start = State(log=("start",), last="start")
    result = run_virtual(update(*nodes), start)
    m = record(State)
    deltas = [
        State(log=(n,), total=len(n), first=n, last=n, seen={n: 1}) for n in NAMES
    ]  # every node saw the start state, whose log has one line
    expected = functools.reduce(m.combine, deltas, start)
    assert result == Success(expected)
    assert expected.log == ("start", *NAMES)
    assert expected.last == "rank"
    assert expected.first == "ingest"


@given(st.permutations(range(4)))
def test_chained_updates_see_the_folded_state_of_the_update_before(order: list[int]) -> None:
    a, b, c, d = (writer(n, s) for n, s in zip("abcd", order, strict=True))
    result = run_virtual(update(a, b) >> update(c, d), State())
    assert result == Success(
        State(log=tuple("abcd"), total=4, first="a", last="d", seen=dict(a=0, b=0, c=2, d=2))
    )


def test_the_update_step_has_a_path_made_of_the_node_names() -> None:
    g = update(writer("chunk", 0), writer("classify", 0))
    assert repr(g) == "<Graph 'chunk+classify<update>'>"
    assert plan_of(g).paths == ["<input>", "chunk", "classify", "chunk+classify<update>"]
    assert repr(update(writer("chunk", 0), name="split")) == "<Graph 'split'>"


def test_the_state_itself_is_no_step() -> None:
    plan = plan_of(update(writer("a", 0)))
    assert plan.deps[-1] == (0, 1)  # the fold reads the run input directly


def test_two_updates_with_the_same_names_are_rejected_and_name_fixes_it() -> None:
    @node
    def note(s: State) -> State:
        return State(log=("x",))

    g = update(note) >> update(note)
    with pytest.raises(DuplicatePath, match="'note'"):
        plan_of(g)
    h = update(note) >> update(note.named("note2"))
    assert run_sync(h, State()) == Success(State(log=("x", "x")))


def test_a_node_given_twice_runs_once_and_its_delta_is_folded_twice() -> None:
    calls: list[State] = []

    @node
    def count(s: State) -> State:
        calls.append(s)
        return State(total=1)

    assert run_sync(update(count, count), State()) == Success(State(total=2))
    assert len(calls) == 1


def test_update_works_in_a_route_branch_that_is_not_taken() -> None:
    def pick(s: State) -> bool:
        return s.total > 0

    g = route(pick).cases({True: update(writer("yes", 0)), False: update(writer("no", 0))})
    assert run_sync(g, State(total=1)).unwrap().last == "yes"
    assert run_sync(g, State()).unwrap().last == "no"


def test_a_composite_delta_node_is_folded_like_a_step() -> None:
    @node
    def tag(s: State) -> str:
        return f"{len(s.log)} lines"

    @node
    def as_delta(text: str) -> State:
        return State(log=(text,))

    g = update(writer("a", 0), tag >> as_delta)
    assert repr(g) == "<Graph 'a+as_delta<update>'>"
    assert run_sync(g, State()).unwrap().log == ("a", "0 lines")


# --- bad deltas are failures naming the step and the field -----------------------


def state_error_of(result: Result[Any, RunFailure[Any]]) -> tuple[str, StateError]:
    """The step that failed and its `StateError` (`_support.failure_of` gives the `RunFailure`)."""
    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure.error, StateError)
    return failure.step, failure.error


def test_a_delta_of_another_class_fails_its_own_step() -> None:
    @node
    def wrong(s: State) -> State:
        return cast(State, "not a state")

    step, error = state_error_of(run_sync(update(writer("ok", 0), wrong).named("sub"), State()))
    assert step == "sub/wrong"  # the failure has the full path
    assert error.step == "wrong"
    assert error.field is None
    assert error.state is State
    assert str(error).startswith("step 'wrong' returned 'not a state' (type=str), not a State")


def test_an_ill_typed_field_fails_naming_the_step_and_the_field() -> None:
    @node
    async def sloppy(s: State) -> State:
        return State(total=cast(int, "3"))

    step, error = state_error_of(run_sync(update(sloppy), State()))
    assert (step, error.step, error.field) == ("sloppy", "sloppy", "total")
    assert str(error) == "step 'sloppy' set State.total to '3' (type=str), expected int"


def test_fields_are_checked_one_level_deep() -> None:
    @node
    def items_unchecked(s: State) -> State:
        return State(log=cast(tuple[str, ...], (1, 2)))

    @node
    def container_checked(s: State) -> State:
        return State(log=cast(tuple[str, ...], ["a list"]))

    assert run_sync(update(items_unchecked), State()).unwrap().log == cast(Any, (1, 2))
    _, error = state_error_of(run_sync(update(container_checked), State()))
    assert error.field == "log"
    assert "expected tuple[str, ...]" in str(error)


def test_optional_and_literal_fields_are_checked() -> None:
    @attrs.frozen
    class Mood:
        mood: str | None = reduced(First(None))
        level: int = reduced(Sum())

    @node
    def fine(s: Mood) -> Mood:
        return Mood(mood=None, level=1)

    @node
    def bad(s: Mood) -> Mood:
        return Mood(mood=cast(str, 3))

    assert run_sync(update(fine), Mood()) == Success(Mood(level=1))
    _, error = state_error_of(run_sync(update(bad), Mood()))
    assert error.field == "mood"


def test_a_dict_delta_is_structured_with_cattrs() -> None:
    @node
    def plain(s: State) -> State:
        return cast(State, {"log": ["from", "json"], "total": 2})

    assert run_sync(update(plain), State()) == Success(State(log=("from", "json"), total=2))


def test_a_dict_delta_with_an_unknown_key_fails_naming_it() -> None:
    @node
    def typo(s: State) -> State:
        return cast(State, {"log": ["a"], "totl": 2})

    _, error = state_error_of(run_sync(update(typo), State()))
    assert error.field == "totl"
    assert str(error) == (
        "step 'typo' returned a dict delta with the key 'totl', which is not a field "
        "of State; did you mean 'total'?"
    )


def test_a_dict_delta_never_coerces_scalars() -> None:
    @node
    def text(s: State) -> State:
        return cast(State, {"total": "2"})

    _, error = state_error_of(run_sync(update(text), State()))
    assert error.field == "total"
    assert "expected int" in str(error)


def test_a_composite_nodes_bad_delta_fails_the_update_step() -> None:
    @node
    def count(s: State) -> int:
        return len(s.log)

    @node
    def bad(n: int) -> State:
        return State(last=cast(str, n))

    step, error = state_error_of(run_sync(update(count >> bad), State()))
    assert step == "bad<update>"
    assert (error.step, error.field) == ("bad", "last")


def test_failure_values_of_delta_nodes_pass_through_unchecked() -> None:
    @node
    def refuses(s: State) -> Result[State, str]:
        return Failure("no")

    @node
    def agrees(s: State) -> Result[State, str]:
        return Success(State(total=1))

    result = run_sync(update(refuses), State())
    assert isinstance(result, Failure)
    assert result.failure().error == "no"
    assert run_sync(update(agrees), State()) == Success(State(total=1))


def test_a_state_that_is_not_a_record_fails() -> None:
    @attrs.frozen
    class Plain:
        text: str

    @node
    def touch(s: Plain) -> Plain:
        return s

    result = run_sync(update(touch), Plain("x"))
    assert isinstance(result, Failure)
    assert "Plain.text has no reducer" in str(result.failure().error)


def test_update_rejects_bad_arguments_at_once() -> None:
    with pytest.raises(InvalidArgument, match="at least one state node"):
        update()
    with pytest.raises(InvalidArgument, match=r"nodes\[1\]"):
        update(writer("a", 0), cast(Graph[State, State, Any], "b"))
    with pytest.raises(InvalidArgument, match="name"):
        update(writer("a", 0), name="a/b")


# --- gather(...).fold(monoid) -------------------------------------------------------


def say_after(name: str, seconds: float) -> Graph[int, tuple[str, ...], Any]:
    """A step ``name`` that sleeps ``seconds``, then returns ``(f"{name}{x}",)`` to be folded."""

    async def say(x: int) -> tuple[str, ...]:
        await trio.sleep(seconds)
        return (f"{name}{x}",)

    say.__name__ = name
    return node(say)


@given(st.permutations(range(5)))
def test_fold_combines_in_list_order_whatever_order_the_branches_finish(
    order: list[int],
) -> None:
    g = gather([say_after(n, s) for n, s in zip("abcde", order, strict=True)]).fold(Concat[str]())
    call = functools.partial(run, g, 1)
    result = trio.run(call, clock=trio.testing.MockClock(autojump_threshold=0))
    assert result == Success(("a1", "b1", "c1", "d1", "e1"))


def test_fold_of_nothing_is_the_identity() -> None:
    assert run_sync(gather(list[Graph[int, int, Any]]()).fold(Sum()), 5) == Success(0)


def test_fold_is_one_step_with_a_path() -> None:
    @node
    def one(x: int) -> int:
        return 1

    g = gather([one, one.named("two")]).fold(Sum(), name="total")
    assert plan_of(g).paths == ["<input>", "one", "two", "total"]
    assert run_sync(g, 0) == Success(2)


def test_a_failing_combine_is_a_failure_of_the_fold_step() -> None:
    class Broken:
        def empty(self) -> int:
            return 0

        def combine(self, a: int, b: int, /) -> int:
            raise ValueError("broken")

    @node
    def one(x: int) -> int:
        return 1

    result = run_sync(gather([one]).fold(Broken()), 0)
    assert isinstance(result, Failure)
    assert result.failure().step == "fold"


def test_fold_rejects_a_non_monoid_at_once() -> None:
    with pytest.raises(InvalidArgument, match="Monoid"):
        gather([writer("a", 0)]).fold(cast(Any, object()))
