"""The journal of a run: step outputs as JSON rows in a store, and reading them back.

Because steps are pure, a run's durable state is the set of finished steps'
outputs. This module turns outputs into JSON with cattrs (never pickle, never
code) using each step's annotated output type, and back again on resume.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import json
import time
import typing
import weakref
from collections.abc import Callable
from typing import Any, Final, Literal

import attrs
import cattrs
import trio

from dagfn._annotations import produced
from dagfn._convert import make_converter
from dagfn._errors import DagfnError, expected
from dagfn._plan import NOT_TAKEN, Plan, Role
from dagfn._storage import Entry, RunInfo, Store

Durability = Literal["sync", "batched", "exit"]
DURABILITIES: Final = ("sync", "batched", "exit")
OnChange = Literal["refuse", "reuse"]

#: JSON-friendly unstructuring and structuring (datetimes, bytes, enums, attrs...).
converter: Final = make_converter(json=True)


class JournalError(DagfnError, TypeError):
    """A step's output (or a run's input) cannot be written to the journal as JSON."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


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
        elif j in plan.eaches:
            spec = plan.eaches[j]
            element = value_type(spec.body, spec.body.output, {})
            memo[j] = element if spec.fold is not None else tuple.__class_getitem__((element, ...))
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
            elif role is Role.ITEM:  # an element of the input sequence
                memo[j] = Any
            else:  # identity, gates and merges pass a value of their first input's type
                memo[j] = memo[ds[0]] if ds else Any
        stack.pop()
    return memo[i]


def _tuple_of(types: tuple[Any, ...]) -> Any:
    """``tuple[t1, t2, ...]`` (or ``tuple[()]``) built at run time."""
    return tuple.__class_getitem__(types if types else ())


_TAG: Final = "__dagfn_type__"
_NATIVE: Final = (dict, list, str, int, float, bool, type(None))
# Built-in classes a tagged row may name even when no annotation of the graph does
# (a lambda returning a tuple must not come back as a JSON list).
_BUILTINS: Final = {
    f"{t.__module__}.{t.__qualname__}": t
    for t in (tuple, set, frozenset, bytes, datetime.datetime, datetime.date)
}


@attrs.define
class _PlanFacts:
    """What the journal derives from one plan, computed once per plan when first needed."""

    types: dict[int, Any] = attrs.field(factory=dict)  # step -> its value's static type
    value_types: dict[int, Any] = attrs.field(factory=dict)  # `value_type`'s memo
    known: dict[str, type] | None = None  # `known_types`
    fingerprints: dict[str, str] | None = None  # `step_fingerprints`
    steps_json: str | None = None  # the fingerprints as JSON, for a run's meta row


_FACTS: Final[weakref.WeakKeyDictionary[Plan, _PlanFacts]] = weakref.WeakKeyDictionary()


def _facts(plan: Plan) -> _PlanFacts:
    # A renamed copy (a loop iteration, an each element) has its source's types.
    plan = plan.source if plan.source is not None else plan
    facts = _FACTS.get(plan)
    if facts is None:
        facts = _FACTS[plan] = _PlanFacts()
    return facts


def _static_type(plan: Plan, i: int) -> Any:
    blocks = plan.blocks
    if blocks is not None and 0 < i < plan.output:  # an each's elements: the body's types
        body, size = blocks
        return _static_type(body, (i - 1) % size)
    facts = _facts(plan)
    t = facts.types.get(i, _UNKNOWN)
    if t is _UNKNOWN:
        t = facts.types[i] = value_type(plan, i, facts.value_types)
    return t


_UNKNOWN: Final = object()  # not computed yet (a type may be None)
# One encoder for every row: json.dumps with options builds a new one per call.
_encode: Final = json.JSONEncoder(separators=(",", ":")).encode
# Values cattrs passes through unchanged: encoded directly.
_SCALARS: Final = frozenset((str, int, float, bool, type(None)))
# The hot path of a step's row: exact classes (not subclasses such as IntEnum) whose
# JSON text is cheaper to build directly; the same text json.dumps gives.
_FAST: Final[dict[type, Callable[[Any], str]]] = {
    int: int.__repr__,
    str: json.encoder.encode_basestring_ascii,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
}


def known_types(plan: Plan) -> dict[str, type]:
    """Classes named in the graph's own annotations, by qualified name.

    A row written for a step with no output annotation carries its value's
    class name; reading it back only ever uses a class from this table, so a
    journal can never make dagfn import or call anything the graph does not.
    """
    if plan.blocks is not None:  # an each's elements: the body's classes
        return known_types(plan.blocks[0])
    facts = _facts(plan)
    if facts.known is not None:
        return facts.known
    found: dict[str, type] = dict(_BUILTINS)
    pending: list[Any] = [input_type(plan), *plan.pauses.values()]
    for i in plan.user_steps():
        if plan.fns[i] is None:  # a loop step: its body's plan has its own table
            continue
        fn = getattr(plan.fns[i], "__dagfn_wrapped__", plan.fns[i])
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
            found[f"{t.__module__}.{t.__qualname__}"] = t
            if attrs.has(t):
                pending.extend(f.type for f in attrs.fields(t) if f.type is not None)
        pending.extend(typing.get_args(t))
    facts.known = found
    return found


def dumps(value: object, step: str) -> str:
    """The JSON text of a value; raises `JournalError` naming the step."""
    try:
        if value.__class__ in _SCALARS:
            return _encode(value)
        return _encode(converter.unstructure(value))
    except (TypeError, ValueError) as error:
        msg = (
            f"the output of step {step!r} ({type(value).__qualname__}) cannot be journaled "
            f"as JSON: {error}; return attrs classes, dataclasses or plain data, or register "
            "a cattrs hook on dagfn._journal.converter"
        )
        raise JournalError(msg, step=step) from error


def loads(text: str, t: Any, known: dict[str, type] | None = None) -> Any:
    """A value of type ``t`` from its JSON text (``known``: classes for tagged rows)."""
    data = json.loads(text)
    if t is not Any:
        return converter.structure(data, t)
    if isinstance(data, dict) and _TAG in data and known is not None:
        cls = known.get(data[_TAG])
        return data["value"] if cls is None else converter.structure(data["value"], cls)
    return data


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

    def done(self, i: int, value: object, started: float, attempts: int = 1) -> None:
        # ``started`` is trio's clock: a row's duration is trio time (virtual under a
        # MockClock), and its wall-clock times end now.
        """Record that step ``i`` finished with ``value`` (raises `JournalError`).

        A region result in a route branch that was not taken has no value: no row.
        """
        self.done_at(self.plan.paths[i], i, value, started, attempts)

    def done_at(self, path: str, i: int, value: object, started: float, attempts: int = 1) -> None:
        """`done` for step ``i`` of the plan under another ``path`` (an each element's)."""
        if value is NOT_TAKEN:
            return
        now = time.time()
        took = trio.current_time() - started
        entry = Entry(path, "done", self.dumps(i, value, path), now - took, now, attempts)
        if self.durability == "exit":
            self.pending.append(entry)
        else:
            self.store.record(self.run_id, entry)

    def dumps(self, i: int, value: object, path: str | None = None) -> str:
        """Step ``i``'s value as JSON, tagged with its class when no annotation tells it."""
        fast = _FAST.get(value.__class__)
        if fast is not None:
            return fast(value)
        if _static_type(self.plan, i) is Any and not isinstance(value, _NATIVE):
            cls = type(value)
            value = {_TAG: f"{cls.__module__}.{cls.__qualname__}", "value": value}
        return dumps(value, self.plan.paths[i] if path is None else path)

    def failed(self, i: int, error: object, started: float, attempts: int = 1) -> None:
        """Record that step ``i`` failed (for history; it runs again on resume)."""
        self.failed_at(self.plan.paths[i], error, started, attempts)

    def failed_at(self, path: str, error: object, started: float, attempts: int = 1) -> None:
        """`failed` for a step under ``path`` (an each element's)."""
        now = time.time()
        took = trio.current_time() - started
        entry = Entry(path, "failed", None, now - took, now, attempts, repr(error))
        self.store.record(self.run_id, entry)

    def paused(self, i: int, prompt: object) -> None:
        """Record that interrupt step ``i`` waits for an answer to ``prompt``."""
        path = self.plan.paths[i]
        now = time.time()
        self.store.record(self.run_id, Entry(path, "paused", dumps(prompt, path), now, now, 1))

    def flush(self) -> None:
        """Make every recorded row durable (blocking: call from a worker thread)."""
        for entry in self.pending:
            self.store.record(self.run_id, entry)
        self.pending.clear()
        self.store.flush()


def open_journal(
    store: Store,
    run_id: str,
    plan: Plan,
    x: object,
    durability: Durability,
    on_change: OnChange,
) -> tuple[Journal, RunInfo, dict[int, Any]]:
    """Open (or reopen) a run: its journal, its record, and the outputs to reuse by step.

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
    info = store.open_run(run_id, fingerprint=plan.fingerprint, meta_json=meta_json)
    if not info.meta_json.startswith(head):
        old_input = json.loads(info.meta_json).get("input")
        if old_input != json.loads(head[len('{"input":') : -len(',"steps":')]):
            raise InputChanged(run_id, old_input)
    journal = Journal(store, run_id, plan, durability)
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
    """The run input as JSON, tagged with its class when no root step annotates it."""
    if input_type(plan) is Any and not isinstance(x, _NATIVE):
        cls = type(x)
        return dumps({_TAG: f"{cls.__module__}.{cls.__qualname__}", "value": x}, "<input>")
    return dumps(x, "<input>")


def read_input(plan: Plan, info: RunInfo) -> Any:
    """A journaled run's input, as the value it was (for resume and replay)."""
    data = json.loads(info.meta_json)["input"]
    return loads(json.dumps(data), input_type(plan), known_types(plan))


def reuse_for(
    plan: Plan, entries: dict[str, Entry], usable: set[str] | None = None, prefix: str = ""
) -> dict[int, Any]:
    """The journaled outputs of ``plan``'s steps, by step number (only ``usable`` paths).

    ``prefix`` goes before every path (``docs[3]/``: an each element's steps).
    """
    reuse: dict[int, Any] = {}
    if not entries:
        return reuse
    for i in plan.user_steps():
        path = prefix + plan.paths[i]
        entry = entries.get(path)
        if entry is None or entry.status != "done" or entry.output_json is None:
            continue
        if usable is None or path in usable:
            reuse[i] = _read_row(plan, i, entry.output_json, path)
    for region in plan.regions if usable is None else ():
        path = prefix + plan.paths[region.result]
        entry = entries.get(path)
        if entry is not None and entry.status == "done" and entry.output_json is not None:
            reuse[region.result] = _read_row(plan, region.result, entry.output_json, path)
    return reuse


def _read_row(plan: Plan, i: int, text: str, path: str) -> Any:
    """Step ``i``'s journaled output; `JournalError` naming the step if it no longer fits."""
    t = _static_type(plan, i)
    try:
        return loads(text, t, known_types(plan))
    except Exception as error:
        detail = "; ".join(cattrs.transform_error(error))
        name = getattr(t, "__name__", repr(t))
        msg = (
            f"the journaled output of step {path!r} no longer reads as {name}: "
            f"{detail or repr(error)} (did its output type change?); start a new run id, or "
            "replay from that step into a new run id"
        )
        raise JournalError(msg, step=path) from error


def durations_seen(store: Store, plan: Plan, runs: int = 3) -> dict[str, float]:
    """Mean seconds per step path over the latest finished runs of the same plan.

    These weight the ``critical_path`` policy's ranks (blocking: call from a
    worker thread). Empty when the store has no such run.
    """
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
