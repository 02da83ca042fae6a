"""The journal of a run: step outputs as JSON rows in a store, and reading them back.

Because steps are pure, a run's durable state is the set of finished steps'
outputs. Rows are written in `dagfn._codec`'s exact encoding (tagged JSON,
never pickle, never code): every value a row holds reads back equal and of
the same type, annotated or not; a value it cannot hold fails its step.

Which record classes a row may build (the rule that keeps a tampered row
from building anything else): a class named by the graph's annotations
(steps' parameters and returns, the run input, interrupt answers, and the
field types of those classes, transitively); a record class defined at the
top level of a module that defines one of the graph's step functions; or a
class some journal of this process wrote (`_PRODUCED`). Nothing is ever
imported by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import inspect
import json
import sys
import time
import typing
import weakref
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs
import cattrs
import trio

from dagfn._annotations import produced
from dagfn._codec import Undecodable, Unencodable, class_name, decode_text, encode_text
from dagfn._convert import make_converter
from dagfn._errors import DagfnError, expected
from dagfn._lease import Ownership
from dagfn._plan import NOT_TAKEN, Plan, Role
from dagfn._storage import Entry, RunInfo, Store

Durability = Literal["sync", "batched", "exit"]
DURABILITIES: Final = ("sync", "batched", "exit")
OnChange = Literal["refuse", "reuse"]

#: Plain JSON from outside (the command line's ``--input``) structured into a type.
converter: Final = make_converter(json=True)


class JournalError(DagfnError, TypeError):
    """A step's output (or a run's input) cannot be journaled exactly, or a row no
    longer reads back; ``.step`` names the step, ``.type_name`` the value's type."""

    def __init__(self, message: str, *, step: str, type_name: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.type_name = type_name


class GraphChanged(DagfnError, ValueError):
    """A run id was resumed with a graph whose plan differs from the journaled one."""

    def __init__(
        self,
        run_id: str,
        *,
        added: tuple[str, ...],
        removed: tuple[str, ...],
        changed: tuple[str, ...],
    ) -> None:
        parts = [
            f"{label}: {_some(paths)}"
            for label, paths in (("added", added), ("removed", removed), ("changed", changed))
            if paths
        ]
        detail = "; ".join(parts) or "the step order or wiring differs"
        super().__init__(
            f"run {run_id!r} was journaled with a different graph ({detail}); resume it with "
            "the same graph, pass on_change='reuse' to reuse only the unchanged steps, or "
            "start a new run id"
        )
        self.run_id = run_id
        self.added = added
        self.removed = removed
        self.changed = changed


def _some(paths: tuple[str, ...], shown: int = 8) -> str:
    """Up to ``shown`` paths, then how many more (the attributes keep them all)."""
    listed = ", ".join(map(repr, paths[:shown]))
    return listed if len(paths) <= shown else f"{listed} and {len(paths) - shown} more"


class InputChanged(DagfnError, ValueError):
    """A run id was run again with a different input than the one it journaled."""

    def __init__(self, run_id: str, journaled: object) -> None:
        super().__init__(
            f"run {run_id!r} was journaled with another input ({_short(journaled)}); its "
            "steps' outputs belong to that input: resume it with the same input (resume() "
            "reads it from the journal) or start a new run id"
        )
        self.run_id = run_id
        self.journaled = journaled


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def output_type(fn: Callable[..., Any] | None) -> Any:
    """A step function's output type from its annotations (``Any`` when unknown)."""
    if fn is None:
        return Any
    fn = getattr(fn, "__dagfn_wrapped__", fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, type):
        return fn  # an attrs class used as a join function, say
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: read the data back as plain JSON
        return Any
    return produced(hints.get("return", Any))


def input_type(plan: Plan) -> Any:
    """The run input's type, from the first annotated parameter of a root step."""
    for i in plan.dependents[0]:
        fn = plan.fns[i]
        if fn is None or plan.internal[i]:
            continue
        fn = getattr(fn, "__dagfn_wrapped__", fn)
        try:
            hints = typing.get_type_hints(fn if inspect.isfunction(fn) else type(fn).__call__)
        except Exception:
            continue
        params = [k for k in hints if k != "return"]
        if params:
            return hints[params[0]]
    return Any


def value_type(plan: Plan, i: int, memo: dict[int, Any]) -> Any:
    """The type of step ``i``'s value, looking through plumbing steps (iteratively)."""
    stack = [i]
    while stack:
        j = stack[-1]
        if j in memo:
            stack.pop()
            continue
        if j == 0:
            memo[j] = input_type(plan)
        elif j in plan.pauses:
            memo[j] = plan.pauses[j]
        elif j in plan.loops:
            body = plan.loops[j].body
            memo[j] = value_type(body, body.output, {})
        elif not plan.internal[j]:
            memo[j] = output_type(plan.fns[j])
        else:
            role, ds = plan.roles[j], plan.deps[j]
            wanted = ds if role is Role.PACK else ds[:1]
            missing = [d for d in wanted if d not in memo]
            if missing:
                stack.extend(missing)
                continue
            if role is Role.PACK:
                memo[j] = _tuple_of(tuple(memo[d] for d in ds))
            elif role is Role.EMPTY:
                memo[j] = tuple[()]
            else:  # identity, gates and merges pass a value of their first input's type
                memo[j] = memo[ds[0]] if ds else Any
        stack.pop()
    return memo[i]


def _tuple_of(types: tuple[Any, ...]) -> Any:
    """``tuple[t1, t2, ...]`` (or ``tuple[()]``) built at run time."""
    return tuple.__class_getitem__(types if types else ())


@attrs.define
class _PlanFacts:
    """What the journal derives from one plan, computed once per plan when first needed."""

    types: dict[int, Any] = attrs.field(factory=dict)  # step -> its value's static type
    value_types: dict[int, Any] = attrs.field(factory=dict)  # `value_type`'s memo
    known: dict[str, type] | None = None  # `known_types`
    defined: dict[str, type] | None = None  # `_defined_types`
    fingerprints: dict[str, str] | None = None  # `step_fingerprints`
    steps_json: str | None = None  # the fingerprints as JSON, for a run's meta row


_FACTS: Final[weakref.WeakKeyDictionary[Plan, _PlanFacts]] = weakref.WeakKeyDictionary()


def _facts(plan: Plan) -> _PlanFacts:
    facts = _FACTS.get(plan)
    if facts is None:
        facts = _FACTS[plan] = _PlanFacts()
    return facts


def _static_type(plan: Plan, i: int) -> Any:
    facts = _facts(plan)
    t = facts.types.get(i, _UNKNOWN)
    if t is _UNKNOWN:
        t = facts.types[i] = value_type(plan, i, facts.value_types)
    return t


_UNKNOWN: Final = object()  # not computed yet (a type may be None)
_SHORT_INT_BITS: Final = 4096  # far within `sys.get_int_max_str_digits()`'s default
# The hot path of a step's row: exact classes (not subclasses such as IntEnum) whose
# JSON text is cheaper to build directly; the same text the codec gives.
_FAST: Final[dict[type, Callable[[Any], str]]] = {
    int: lambda v: int.__repr__(v) if v.bit_length() <= _SHORT_INT_BITS else encode_text(v),
    float: lambda v: float.__repr__(v) if v - v == 0.0 else encode_text(v),
    str: json.encoder.encode_basestring_ascii,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
}
#: Record classes the journals of this process wrote, by `class_name` (see the module
#: docstring: a row may build these).
_PRODUCED: Final[dict[str, type]] = {}


def _is_record(t: object) -> bool:
    return isinstance(t, type) and (
        attrs.has(t)
        or dataclasses.is_dataclass(t)
        or issubclass(t, enum.Enum)
        or (issubclass(t, tuple) and hasattr(t, "_fields"))
    )


def known_types(plan: Plan) -> dict[str, type]:
    """Classes named in the graph's own annotations, by qualified name.

    Also the field types of the attrs classes and dataclasses among them,
    transitively; loop bodies and their annotations included.
    """
    facts = _facts(plan)
    if facts.known is not None:
        return facts.known
    found: dict[str, type] = {}
    pending: list[Any] = []
    for p in plan.iter_plans():
        pending.append(input_type(p))
        pending.extend(p.pauses.values())
        for i in p.user_steps():
            if p.fns[i] is None:
                continue
            fn = getattr(p.fns[i], "__dagfn_wrapped__", p.fns[i])
            while isinstance(fn, functools.partial):
                fn = fn.func
            try:
                target = fn if inspect.isfunction(fn) or isinstance(fn, type) else type(fn).__call__
                pending.extend(typing.get_type_hints(target).values())
            except Exception:
                continue
            if isinstance(fn, type):
                pending.append(fn)
    seen: set[int] = set()
    while pending:
        t = pending.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if isinstance(t, type):
            found[class_name(t)] = t
            if attrs.has(t) or dataclasses.is_dataclass(t):
                with contextlib.suppress(Exception):  # unresolvable: no field types
                    pending.extend(typing.get_type_hints(t).values())
        pending.extend(typing.get_args(t))
    facts.known = found
    return found


def _defined_types(plan: Plan) -> dict[str, type]:
    """Record classes defined at the top level of the modules of the graph's steps."""
    facts = _facts(plan)
    if facts.defined is not None:
        return facts.defined
    found: dict[str, type] = {}
    modules: set[str] = set()
    for p in plan.iter_plans():
        for fn in p.fns:
            fn = getattr(fn, "__dagfn_wrapped__", fn)
            while isinstance(fn, functools.partial):
                fn = fn.func
            name = getattr(fn, "__module__", None)
            if isinstance(name, str):
                modules.add(name)
    for name in modules:
        module = sys.modules.get(name)
        for value in list(vars(module).values()) if module is not None else ():
            if _is_record(value) and value.__module__ == name:
                found[class_name(value)] = value
    facts.defined = found
    return found


def buildable(plan: Plan) -> Callable[[str], type | None]:
    """The classes a row of ``plan``'s journal may build (see the module docstring)."""
    known = known_types(plan)

    def find(name: str) -> type | None:
        cls = known.get(name) or _PRODUCED.get(name)
        return cls if cls is not None else _defined_types(plan).get(name)

    return find


def dumps(value: object, step: str) -> str:
    """A value in the journal's exact encoding; raises `JournalError` naming the step."""
    try:
        return encode_text(value, _PRODUCED)
    except Unencodable as error:
        raise _unencodable(value, step, error) from None


def _unencodable(value: object, step: str, error: Unencodable) -> JournalError:
    outer = type(value).__qualname__
    inner = "" if error.type_name == outer else f", holding a {error.type_name}"
    msg = f"the output of step {step!r} ({outer}{inner}) cannot be journaled exactly: {error}"
    return JournalError(msg, step=step, type_name=error.type_name)


def loads(text: str, t: Any) -> Any:
    """A value of type ``t`` from plain JSON text written outside dagfn (cattrs)."""
    data = json.loads(text)
    return data if t is Any else converter.structure(data, t)


def read_value(plan: Plan, text: str, t: Any) -> Any:
    """A journaled value of ``plan`` from its row's text; raises `Undecodable` (or a
    JSON error) when the text is not in the encoding or does not fit ``t``.

    A row written before the exact encoding (cattrs JSON, guided by ``t``, or
    tagged with ``__dagfn_type__``) reads back as it did then.
    """
    find = buildable(plan)
    value = decode_text(text, find)
    if isinstance(value, dict) and value.keys() == {_LEGACY_TAG, "value"}:
        cls = find(value[_LEGACY_TAG]) if isinstance(value[_LEGACY_TAG], str) else None
        if cls is None:
            raise Undecodable(f"an older row names class {value[_LEGACY_TAG]!r}")
        return converter.structure(value["value"], cls)
    if not _fits(value, t):
        try:  # a row an older version wrote from the annotation
            return converter.structure(json.loads(text), t)
        except Exception:
            raise Undecodable(f"a {type(value).__qualname__} is not a {_type_name(t)}") from None
    return value


_LEGACY_TAG: Final = "__dagfn_type__"  # how rows of steps without annotations were tagged


def _fits(value: object, t: Any) -> bool:
    """A shallow check that a value read back is of its annotated class (when one is)."""
    origin = typing.get_origin(t) or t
    if not isinstance(origin, type) or origin is object:
        return True
    if origin is float:
        return isinstance(value, int | float)
    if origin is complex:
        return isinstance(value, int | float | complex)
    try:
        return isinstance(value, origin)
    except TypeError:  # a Protocol that is not runtime-checkable, say
        return True


def _type_name(t: Any) -> str:
    return str(getattr(t, "__name__", repr(t)))


def step_fingerprints(plan: Plan) -> dict[str, str]:
    """Per user step: its kind and the paths it depends on (how it is wired)."""
    facts = _facts(plan)
    if facts.fingerprints is None:
        facts.fingerprints = {
            plan.paths[
                i
            ]: f"{plan.kinds[i]}|{','.join(plan.paths[d] for d in _user_inputs(plan, i))}"
            for i in plan.user_steps()
        }
    return facts.fingerprints


def _user_inputs(plan: Plan, i: int) -> list[int]:
    """The user steps (or the input, 0) that feed step ``i``, looking through plumbing."""
    found: list[int] = []
    stack = list(plan.deps[i])
    seen: set[int] = set()
    while stack:
        d = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        if d == 0 or not plan.internal[d]:
            found.append(d)
        else:
            stack.extend(plan.deps[d])
    return sorted(found)


@attrs.define
class Journal:
    """One run's connection to its store (used by the interpreter)."""

    store: Store
    run_id: str
    plan: Plan
    durability: Durability
    entries: dict[str, Entry] = attrs.field(factory=dict)  # the journal as it was opened
    pending: list[Entry] = attrs.field(factory=list)  # durability "exit": kept until the end
    took: dict[str, float] = attrs.field(factory=dict)  # seconds per step computed in this run
    token: int | None = None  # the run's lease token: every write is fenced by it
    released: bool = False  # the lease was released with the run's outcome

    def done(self, i: int, value: object, started: float, attempts: int = 1) -> None:
        # ``started`` is trio's clock: a row's duration is trio time (virtual under a
        # MockClock), and its wall-clock times end now.
        """Record that step ``i`` finished with ``value`` (raises `JournalError`).

        A region result in a route branch that was not taken has no value: no row.
        """
        if value is NOT_TAKEN:
            return
        path = self.plan.paths[i]
        now = time.time()
        took = self.took[path] = trio.current_time() - started
        entry = Entry(path, "done", self.dumps(i, value), now - took, now, attempts)
        if self.durability == "exit":
            self.pending.append(entry)
        else:
            self.store.record(self.run_id, entry, self.token)

    def dumps(self, i: int, value: object) -> str:
        """Step ``i``'s value in the exact encoding; `JournalError` naming the step."""
        fast = _FAST.get(value.__class__)
        if fast is None:
            return dumps(value, self.plan.paths[i])
        try:
            return fast(value)
        except Unencodable as error:
            raise _unencodable(value, self.plan.paths[i], error) from None

    def failed(self, i: int, error: object, started: float, attempts: int = 1) -> None:
        """Record that step ``i`` failed (for history; it runs again on resume)."""
        now = time.time()
        took = trio.current_time() - started
        entry = Entry(
            self.plan.paths[i], "failed", None, now - took, now, attempts, safe_repr(error)
        )
        self.store.record(self.run_id, entry, self.token)

    def paused(self, i: int, prompt: object) -> None:
        """Record that interrupt step ``i`` waits for an answer to ``prompt``."""
        path = self.plan.paths[i]
        now = time.time()
        entry = Entry(path, "paused", dumps(prompt, path), now, now, 1)
        self.store.record(self.run_id, entry, self.token)

    def flush(self) -> None:
        """Make every recorded row durable (blocking: call from a worker thread)."""
        for entry in self.pending:
            self.store.record(self.run_id, entry, self.token)
        self.pending.clear()
        self.store.flush()


#: Seconds a run that raises (cancelled, interrupted) still gives its store to commit
#: the rows of its finished steps: short, so that a blocked store cannot hold a
#: cancelled run past its deadline by more than this.
KEEP_ROWS_GRACE: Final = 0.5


async def keep_rows(journal: Journal) -> None:
    """The run is raising: commit its finished steps' rows, within `KEEP_ROWS_GRACE`.

    Shielded from the cancellation that may be under way; a store that fails
    or does not answer in time is left to its writer (and to the exit flush).
    """
    # The run's own exception is what the caller sees, not the store's.
    with trio.move_on_after(KEEP_ROWS_GRACE, shield=True), contextlib.suppress(Exception):
        await trio.to_thread.run_sync(journal.flush, abandon_on_cancel=True)


def open_journal(
    store: Store,
    run_id: str,
    plan: Plan,
    x: object,
    durability: Durability,
    on_change: OnChange,
    owner: Ownership | None = None,
) -> tuple[Journal, RunInfo, dict[int, Any]]:
    """Open (or reopen) a run: its journal, its record, and the outputs to reuse by step.

    With an ``owner``, the run's lease is taken as it is opened (`RunInProgress`
    if another owner holds it) and the journal's writes carry its token.
    Raises `GraphChanged` if the run was journaled with another plan and
    ``on_change`` is ``"refuse"``; `JournalError` if the input is not JSON.
    """
    fingerprints = step_fingerprints(plan)
    facts = _facts(plan)
    if facts.steps_json is None:
        facts.steps_json = json.dumps(fingerprints)
    steps_json = facts.steps_json
    # {"input": ..., "steps": ...} without encoding the plan's part again on every run.
    head = '{"input":' + _input_json(plan, x) + ',"steps":'
    meta_json = head + steps_json + "}"
    if owner is None:
        info = store.open_run(run_id, fingerprint=plan.fingerprint, meta_json=meta_json)
    else:
        info = owner.take(plan.fingerprint, meta_json)
    if not info.meta_json.startswith(head):
        old_input = json.loads(info.meta_json).get("input")
        if old_input != json.loads(head[len('{"input":') : -len(',"steps":')]):
            raise InputChanged(run_id, old_input)
    journal = Journal(store, run_id, plan, durability)
    journal.token = None if owner is None else owner.token
    reuse: dict[int, Any] = {}
    if info.fingerprint == plan.fingerprint and info.status == "succeeded":
        return journal, info, reuse
    entries = store.entries(run_id)
    journal.entries = entries
    if not entries:
        return journal, info, reuse
    usable = set(plan.paths[i] for i in plan.user_steps())
    if info.fingerprint != plan.fingerprint:
        old = json.loads(info.meta_json).get("steps", {})
        added = tuple(sorted(set(fingerprints) - set(old)))
        removed = tuple(sorted(set(old) - set(fingerprints)))
        changed = tuple(sorted(p for p in fingerprints if p in old and old[p] != fingerprints[p]))
        if on_change == "refuse":
            raise GraphChanged(run_id, added=added, removed=removed, changed=changed)
        usable = _unchanged_closure(plan, set(added) | set(changed))
        # The run now belongs to this graph: drop the rows it cannot use, so that
        # neither graph is later handed the other's rows or result.
        store.reset_run(run_id, fingerprint=plan.fingerprint, meta_json=meta_json, keep=usable)
        entries = {path: e for path, e in entries.items() if path in usable}
        journal.entries = entries
    changed_graph = info.fingerprint != plan.fingerprint
    return journal, info, reuse_for(plan, entries, usable if changed_graph else None)


def _input_json(plan: Plan, x: object) -> str:
    """The run input in the exact encoding (`JournalError` naming ``<input>``)."""
    return dumps(x, "<input>")


def read_input(plan: Plan, info: RunInfo) -> Any:
    """A journaled run's input, as the value it was (for resume and replay)."""
    text = json.dumps(json.loads(info.meta_json)["input"])
    try:
        return read_value(plan, text, input_type(plan))
    except (Undecodable, ValueError) as error:
        msg = f"the journaled input of run {info.run_id!r} no longer reads back: {error}"
        raise JournalError(msg, step="<input>") from error


def read_result(plan: Plan, info: RunInfo) -> Any:
    """A finished run's journaled result (``info.result_json`` must be set)."""
    assert info.result_json is not None
    return _read_row(plan, plan.output, info.result_json)


def safe_repr(value: object) -> str:
    """``repr(value)``, or a description when that raises (history never fails a run)."""
    try:
        return repr(value)
    except Exception as error:
        return f"<{type(value).__qualname__} whose repr raised {type(error).__qualname__}>"


def reuse_for(
    plan: Plan, entries: dict[str, Entry], usable: set[str] | None = None
) -> dict[int, Any]:
    """The journaled outputs of ``plan``'s steps, by step number (only ``usable`` paths)."""
    reuse: dict[int, Any] = {}
    if not entries:
        return reuse
    for i in plan.user_steps():
        path = plan.paths[i]
        entry = entries.get(path)
        if entry is None or entry.status != "done" or entry.output_json is None:
            continue
        if usable is None or path in usable:
            reuse[i] = _read_row(plan, i, entry.output_json)
    for region in plan.regions if usable is None else ():
        entry = entries.get(plan.paths[region.result])
        if entry is not None and entry.status == "done" and entry.output_json is not None:
            reuse[region.result] = _read_row(plan, region.result, entry.output_json)
    return reuse


def _read_row(plan: Plan, i: int, text: str) -> Any:
    """Step ``i``'s journaled output; `JournalError` naming the step if it no longer fits."""
    t = _static_type(plan, i)
    try:
        return read_value(plan, text, t)
    except (Undecodable, ValueError) as error:
        msg = (
            f"the journaled output of step {plan.paths[i]!r} no longer reads as "
            f"{_type_name(t)}: {error} (did its output type change?); start "
            "a new run id, or replay from that step into a new run id"
        )
        raise JournalError(msg, step=plan.paths[i]) from error


def durations_seen(store: Store, plan: Plan, runs: int = 3) -> dict[str, float]:
    """Seconds per step path seen in earlier finished runs of the same plan.

    These weight the ``critical_path`` policy's ranks (blocking: call from a
    worker thread). One read of the store's summary for the plan
    (`Store.durations`); a store without one (written before it existed) has
    the mean over its latest ``runs`` succeeded runs of the plan read instead.
    Empty when the store has no such run.
    """
    summary = getattr(store, "durations", None)
    if summary is not None:
        seen: dict[str, float] = summary(plan.fingerprint)
        return seen
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    matching = [
        info
        for info in store.list_runs()
        if info.fingerprint == plan.fingerprint and info.status == "succeeded"
    ]
    for info in matching[:runs]:
        for path, entry in store.entries(info.run_id).items():
            if entry.status == "done":
                totals[path] = totals.get(path, 0.0) + (entry.finished_at - entry.started_at)
                counts[path] = counts.get(path, 0) + 1
    return {path: totals[path] / counts[path] for path in totals}


def add_durations(journal: Journal) -> None:
    """Fold the seconds of the steps this run computed into its plan's summary (enqueued)."""
    add = getattr(journal.store, "add_durations", None)
    if add is not None and journal.took:
        add(journal.plan.fingerprint, journal.took)


def _unchanged_closure(plan: Plan, dirty: set[str]) -> set[str]:
    """User steps neither changed nor downstream of a changed step."""
    bad = {i for i in plan.user_steps() if plan.paths[i] in dirty}
    for i in plan.descendants(sorted(bad)):
        bad.add(i)
    return {plan.paths[i] for i in plan.user_steps() if i not in bad}


def check_durability(durability: Any) -> Durability:
    """Validate ``durability``."""
    if durability not in DURABILITIES:
        raise expected(f"one of {', '.join(map(repr, DURABILITIES))}", "durability", durability)
    return typing.cast(Durability, durability)


def check_on_change(on_change: Any) -> OnChange:
    """Validate ``on_change``."""
    if on_change not in ("refuse", "reuse"):
        raise expected("'refuse' or 'reuse'", "on_change", on_change)
    return typing.cast(OnChange, on_change)


_ = cattrs  # cattrs is the serialization contract of this module
