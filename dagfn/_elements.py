"""An each step's elements: the input check, the fast path, and what the elements come to.

An each step runs its body's plan once per element of its input. Where no
element step needs the careful path (the run has no limits, remote executors
or ``"sync"`` journal, and the body has no policy, route, recover region,
interrupt or nested body, and its async steps each depend on the one before),
`Elements` runs them here, without a nested run per element: a plain body
inline, element after element, as the plain steps of a chain run; a body with
async steps in one task per element. Events, if the run has them, are sent
as the careful path sends them (start, finish, fail; skip for a step an
earlier failure kept from running). Otherwise `dagfn._execute` runs all the
elements as one nested run of `EachSpec.flattened` (the body laid out once per
element), and `by_element` orders what failed by element.

Either way element ``i``'s steps have the paths ``<each path>[i]/<body path>``,
are journaled under them, reused from them on resume, and a failure reports
them; the outputs are kept by index, so their order is the input's.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import attrs
import trio
from returns.result import Success

from dagfn._attempt import WRAPPED, failure_value
from dagfn._each import NotASequence
from dagfn._events import Event, digest
from dagfn._failures import RunFailure, StepFailure
from dagfn._journal import Journal, JournalError, reuse_for
from dagfn._outcome import MISSING, NestedFailure, completed
from dagfn._plan import ASYNC1, ASYNCN, SYNC1, EachSpec, Plan


def elements_of(value: object, path: str) -> Sequence[Any]:
    """The each step's input as a sequence; `NotASequence` (a failure of the step) otherwise."""
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise NotASequence(path, value)
    return value


@contextlib.contextmanager
def lone_errors() -> Iterator[None]:
    """Around the elements' nursery: a lone BaseException an element raised (a
    KeyboardInterrupt, a crash) leaves as itself, as it would from a plain call."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], trio.Cancelled):
            raise group.exceptions[0] from None
        raise


def by_element(failure: RunFailure[Any], path: str) -> RunFailure[Any]:
    """``failure`` with its failed steps in element order (``path[i]/``), not as they failed."""
    start = len(path) + 1

    def index(f: StepFailure[Any]) -> int:
        return int(f.step[start : f.step.index("]", start)])

    return attrs.evolve(failure, failures=tuple(sorted(failure.failures, key=index)))


def combined(spec: EachSpec, outputs: list[Any]) -> Any:
    """The each step's output: the element outputs as a tuple, or folded, in input order."""
    monoid = spec.fold
    if monoid is None:
        return tuple(outputs)
    combine = monoid.combine
    result = monoid.empty()
    for value in outputs:
        result = combine(result, value)
    return result


@attrs.frozen
class BodyFacts:
    """What the fast path needs to know of a body plan, derived once per plan."""

    simple: bool  # every step can run without the careful path (see the module docstring)
    plain: bool  # no async step: the elements run inline, one after the other
    single: bool  # one one-argument step (plain or async) whose output is the element's


_FACTS: Final[weakref.WeakKeyDictionary[Plan, BodyFacts]] = weakref.WeakKeyDictionary()


def body_facts(body: Plan) -> BodyFacts:
    facts = _FACTS.get(body)
    if facts is None:
        facts = _FACTS[body] = _derive(body)
    return facts


def _derive(body: Plan) -> BodyFacts:
    n = len(body.kinds)
    asynchronous = [j for j in range(1, n) if body.kinds[j] in (ASYNC1, ASYNCN)]
    # Async steps one after the other (each an ancestor of the next): awaiting them
    # in step order is then exactly dataflow; plain steps never overlap anything.
    ordered = all(b in body.descendants([a]) for a, b in itertools.pairwise(asynchronous))
    simple = (
        ordered
        and not any(body.slow[1:])
        and not body.pauses
        and not body.loops
        and not body.eaches
        and body.output != 0
    )
    single = simple and n == 2 and body.kinds[1] in (SYNC1, ASYNC1) and body.output == 1
    return BodyFacts(simple=simple, plain=not asynchronous, single=single)


class Elements:
    """One each step's elements on the fast path: outputs by index, failures, what was cut short.

    Invariants: ``outputs[i]`` is `MISSING` until element ``i`` finished, then
    its output; ``values[i]`` holds element ``i``'s step values (`MISSING` for
    a step that did not finish) once it started, except on the single-step
    path, where they are ``(element, output)``; ``failures`` lists (element,
    step, error) as they happened; under ``fail_fast`` the first failure
    starts no more steps and cancels the element tasks.
    """

    __slots__ = (
        "body",
        "cancelled",
        "emit",
        "entries",
        "fail_fast",
        "failures",
        "journal",
        "outputs",
        "path",
        "scope",
        "seq",
        "skipped",
        "values",
    )

    def __init__(
        self,
        body: Plan,
        path: str,
        fail_fast: bool,
        journal: Journal | None,
        emit: Callable[[Event], Any] | None,
    ) -> None:
        self.body = body
        self.path = path
        self.fail_fast = fail_fast
        self.journal = journal
        self.emit = emit  # the run's on_event as steps call it (sync), or None
        self.skipped: set[str] = set()  # steps that got a skip event (only with events)
        self.entries = journal.entries if journal is not None else {}
        self.seq: Sequence[Any] = ()
        self.outputs: list[Any] = []
        self.values: list[list[Any] | None] = []
        self.failures: list[tuple[int, int, object]] = []
        self.cancelled: list[str] = []
        self.scope: trio.CancelScope | None = None

    async def run(self, seq: Sequence[Any]) -> list[Any]:
        """Run every element of ``seq``; their outputs in input order, or raise `NestedFailure`."""
        self.seq = seq
        self.outputs = [MISSING] * len(seq)
        self.values = [None] * len(seq)
        facts = body_facts(self.body)
        # One step, no journal, no events: the hot loops, with nothing per element to keep.
        quick = facts.single and self.journal is None and self.emit is None
        if quick and facts.plain:
            self._single()
        elif facts.plain:
            for i, x in enumerate(seq):
                if self.fail_fast and self.failures:
                    break
                coro = self._element(i, x)
                try:
                    coro.send(None)  # no step awaits anything: it ends at once
                except StopIteration:
                    pass
                else:  # pragma: no cover - a plain body never suspends
                    raise AssertionError("dagfn: a plain each element suspended; a bug")
        else:
            element = self._single_async if quick else self._element
            with lone_errors():
                async with trio.open_nursery() as nursery:
                    self.scope = nursery.cancel_scope
                    for i, x in enumerate(seq):
                        nursery.start_soon(element, i, x)
        if self.failures:
            failure = self._failure()
            if self.emit is not None:  # a skip for each step the failures kept from running
                for f in failure.failures:
                    for path in f.not_run:
                        self._skip(path)
            raise NestedFailure(failure)
        return self.outputs

    def _single(self) -> None:
        """The hot loop: one plain step per element, no journal."""
        fn: Any = self.body.fns[1]
        outputs, fail_fast = self.outputs, self.fail_fast
        for i, x in enumerate(self.seq):
            try:
                out = fn(x)
            except Exception as error:
                self._fail(i, 1, error, 0.0)
                if fail_fast:
                    return
                continue
            if out.__class__ in WRAPPED:
                out = self._unwrapped(i, 1, out, 0.0)
                if out is MISSING:
                    if fail_fast:
                        return
                    continue
            outputs[i] = out

    async def _single_async(self, i: int, x: Any) -> None:
        """The hot task: one async step for element ``i``, no journal."""
        if self.fail_fast and self.failures:
            return  # started after a failure under fail_fast
        fn: Any = self.body.fns[1]
        try:
            out = await fn(x)
        except Exception as error:
            self._fail(i, 1, error, 0.0)
            return
        except BaseException:  # cancelled (fail_fast, a timeout around the run)
            self.cancelled.append(f"{self.path}[{i}]/{self.body.paths[1]}")
            raise
        if out.__class__ in WRAPPED:
            out = self._unwrapped(i, 1, out, 0.0)
        self.outputs[i] = out

    def _unwrapped(self, i: int, j: int, out: Any, started: float) -> Any:
        """A ``Success``'s value; for a ``Failure`` (or a stray coroutine), fail and `MISSING`."""
        if out.__class__ is Success:
            return out.unwrap()
        self._fail(i, j, failure_value(f"{self.path}[{i}]/{self.body.paths[j]}", out), started)
        return MISSING

    async def _element(self, i: int, x: Any) -> None:
        """Element ``i``: steps in step order (async ones awaited), each when its inputs exist."""
        body, journal, emit = self.body, self.journal, self.emit
        kinds, fns, deps, paths = body.kinds, body.fns, body.deps, body.paths
        internal = body.internal
        prefix = f"{self.path}[{i}]/"
        values = [MISSING] * len(kinds)
        values[0] = x
        self.values[i] = values
        needed: list[bool] | None = None
        if self.entries:  # a resumed run: journaled steps are not computed again
            reuse = reuse_for(body, self.entries, prefix=prefix)
            for j, value in reuse.items():
                values[j] = value
            needed = body.needed(reuse) if reuse else None
        for j in range(1, len(kinds)):
            if self.fail_fast and self.failures:
                return
            if values[j] is not MISSING or (needed is not None and not needed[j]):
                continue
            args = [values[d] for d in deps[j]]
            if any(a is MISSING for a in args):
                continue  # an input failed: this step does not run
            started = trio.current_time() if journal is not None else 0.0
            if emit is not None and not internal[j]:
                at = trio.current_time()
                emit(Event("start", prefix + paths[j], at, attempt=1, digest=digest(args)))
            fn: Any = fns[j]
            try:
                if kinds[j] == ASYNC1 or kinds[j] == ASYNCN:
                    out = await fn(*args)
                else:
                    out = fn(*args)
            except Exception as error:
                self._fail(i, j, error, started)
                continue
            except BaseException:  # cancelled (fail_fast, a timeout around the run)
                self.cancelled.append(prefix + paths[j])
                with contextlib.suppress(Exception):  # a closed async on_event must not mask it
                    self._skip(prefix + paths[j])
                raise
            if out.__class__ in WRAPPED:
                out = self._unwrapped(i, j, out, started)
                if out is MISSING:
                    continue
            if journal is not None and not internal[j]:
                try:
                    journal.done_at(prefix + paths[j], j, out, started)
                except JournalError as error:
                    self._fail(i, j, error, started)
                    continue
            values[j] = out
            if emit is not None and not internal[j]:
                at = trio.current_time()
                emit(Event("finish", prefix + paths[j], at, attempt=1, digest=digest(out)))
        self.outputs[i] = values[body.output]

    def _fail(self, i: int, j: int, error: object, started: float) -> None:
        self.failures.append((i, j, error))
        path = f"{self.path}[{i}]/{self.body.paths[j]}"
        if self.journal is not None and not self.body.internal[j]:
            self.journal.failed_at(path, error, started)
        if self.emit is not None and not self.body.internal[j]:
            self.emit(Event("fail", path, trio.current_time(), attempt=1, error=error))
        if self.fail_fast and self.scope is not None:
            self.scope.cancel()

    def _skip(self, path: str) -> None:
        if self.emit is not None and path not in self.skipped:
            self.skipped.add(path)
            self.emit(Event("skip", path, trio.current_time()))

    def _values(self, i: int) -> list[Any] | None:
        if self.values[i] is not None or not body_facts(self.body).single:
            return self.values[i]
        return [self.seq[i], self.outputs[i]] if i < len(self.seq) else None

    def _failure(self) -> RunFailure[Any]:
        """The failed elements' steps (by element index), what completed, what was cut short."""
        body = self.body
        paths, internal = body.paths, body.internal
        steps: list[StepFailure[Any]] = []
        for i, j, error in sorted(self.failures, key=lambda f: (f[0], f[1])):
            prefix = f"{self.path}[{i}]/"
            values = self._values(i) or [MISSING] * len(paths)
            not_run = tuple(
                prefix + paths[d]
                for d in body.descendants([j])
                if not internal[d] and values[d] is MISSING
            )
            steps.append(StepFailure(prefix + paths[j], error, not_run))
        done: list[str] = []
        for i in range(len(self.seq)):
            found = self._values(i)
            if found is not None:
                prefix = f"{self.path}[{i}]/"
                done.extend(prefix + p for p in completed(body, found))
        return RunFailure(tuple(steps), tuple(done), tuple(self.cancelled))
