"""Lowering an expression to a flat, validated DAG of numbered steps.

The plan is plain data in parallel lists indexed by step number, so the
interpreter's hot loop reads lists, not objects. Steps are numbered in
topological order (every dependency has a smaller number); step 0 is the run
input. Lowering is iterative (an explicit stack), linear in steps plus edges,
and never recursion whose depth follows the graph's: a chain of 100,000 steps
lowers under the default recursion limit. The plan never does I/O.

What a step is for is its `Role` (a user's step, or which piece of plumbing);
other layers ask the role, never compare functions. A loop step's body is a
plan of its own (`Plan.loops`); `Plan.iter_plans` walks a plan and its bodies.
`plan_of` lowers a graph once and keeps the plan while the expression lives.
"""

from __future__ import annotations

import enum
import gc
import hashlib
import weakref
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from dagfn import _expr
from dagfn._errors import expected
from dagfn._expr import DuplicatePath
from dagfn._policy import NO_OPTIONS, StepOptions
from dagfn._route import NoBranch
from dagfn._streamed import Streamed

if TYPE_CHECKING:
    from dagfn._graph import Graph

# Step kinds, as the interpreter dispatches on them.
INPUT: Final = -1  # step 0: holds the run input, never executed
SYNC1: Final = 0  # fn(value of the single dependency), inline on the trio thread
ASYNC1: Final = 1  # await fn(value), in its own task
SYNCN: Final = 2  # fn(*values of the dependencies, in order), inline
ASYNCN: Final = 3  # await fn(*values), in its own task
LOOP: Final = 4  # no fn: the interpreter runs ``loops[i]``'s body once per iteration


class Role(enum.Enum):
    """What a step is for: a user's step, or which piece of plumbing."""

    INPUT = "input"  # step 0: the run input
    USER = "user"  # a node, join, route selector, interrupt or loop the user wrote
    PACK = "pack"  # gather: the tuple of its dependencies' values
    EMPTY = "empty"  # gather of no graphs: ()
    GATE = "gate"  # a route branch's entry: its input if its key was selected (`gate_keys`)
    MERGE = "merge"  # the one taken value among a route's or a fallback's branches
    CATCH = "catch"  # a recover region's end: its value, or the fallback when it failed
    UNLESS = "unless"  # a fallback graph's entry: its input only if the region failed


class _NotTaken:
    """The value of a step in a route branch that was not selected."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_TAKEN"


#: Flows through the steps of unselected route branches instead of a value.
NOT_TAKEN: Final = _NotTaken()


class Plan:
    """A flat DAG: parallel lists indexed by step number (0 is the run input)."""

    __slots__ = (
        "__weakref__",
        "dependents",
        "deps",
        "fingerprint",
        "fns",
        "gate_keys",
        "guarded",
        "indegree",
        "internal",
        "kinds",
        "level",
        "loops",
        "options",
        "origins",
        "output",
        "paths",
        "pauses",
        "plain_first",
        "rank",
        "region",
        "region_results",
        "regions",
        "roles",
        "slow",
        "streams",
    )

    def __init__(self) -> None:
        self.paths: list[str] = []  # unique among non-internal steps
        self.kinds: list[int] = []  # one of INPUT, SYNC1, ASYNC1, SYNCN, ASYNCN, LOOP
        self.roles: list[Role] = []  # internal[i] is exactly roles[i] is not Role.USER
        self.fns: list[Callable[..., Any] | None] = []  # None only for INPUT and LOOP
        self.deps: list[tuple[int, ...]] = []  # argument order; each < the step's number
        self.dependents: list[tuple[int, ...]] = []  # distinct, ascending
        self.indegree: list[int] = []  # number of distinct deps
        self.guarded: list[bool] = []  # inside a route branch: may receive NOT_TAKEN
        self.internal: list[bool] = []  # plumbing (input, gather, gates): no user path
        self.origins: list[str] = []  # where the step comes from, for messages
        self.rank: list[int] = []  # upward rank: steps on the longest path to the end
        self.level: list[int] = []  # steps on the longest path from the input (input: 0)
        self.options: list[StepOptions | None] = []  # None: no policy at all
        self.region: list[int] = []  # innermost recover region the step is in, or -1
        self.regions: list[Region] = []  # recover/fallback regions, by number
        # The steps holding a region's result: plumbing, but journaled (resume reuses them).
        self.region_results: frozenset[int] = frozenset()
        # slow[i]: the step needs the interpreter's careful path (it may be skipped,
        # is in a region or has policies); the others take the inline fast path.
        self.slow: list[bool] = []
        # plain_first[i]: the step's first attempt is a plain call (not a loop, no
        # timeout or breaker around it): the careful path makes it without `attempt`.
        self.plain_first: list[bool] = []
        self.pauses: dict[int, Any] = {}  # interrupt steps: step -> answer type
        self.loops: dict[int, LoopSpec] = {}  # loop steps (kind LOOP): step -> its body
        self.gate_keys: dict[int, Hashable] = {}  # route gates (Role.GATE): step -> case key
        # streamed steps (kind ASYNC1, always careful): step -> what identifies its chunks
        self.streams: dict[int, tuple[Streamed, str]] = {}
        self.output = 0
        self.fingerprint = ""

    def __len__(self) -> int:
        return len(self.kinds)

    def renamed(self, rename: Callable[[str], str]) -> Plan:
        """A copy sharing everything but the paths of user steps, renamed."""
        copy = Plan()
        for name in Plan.__slots__[1:]:  # not __weakref__
            setattr(copy, name, getattr(self, name))
        internal = self.internal
        copy.paths = [p if internal[i] else rename(p) for i, p in enumerate(self.paths)]
        return copy

    def iter_plans(self) -> Iterator[Plan]:
        """This plan, then every loop body in it (nested ones too), each once."""
        seen: set[int] = set()
        pending = [self]
        while pending:
            plan = pending.pop()
            if id(plan) in seen:
                continue
            seen.add(id(plan))
            yield plan
            pending.extend(spec.body for spec in reversed(plan.loops.values()))

    def weighted_rank(self, durations: list[float]) -> list[float]:
        """Upward rank weighted by ``durations``: the longest sum of durations from each
        step to the end, its own included (the HEFT rank; `rank` counts steps instead)."""
        if len(durations) != len(self.kinds):
            msg = f"a list of {len(self.kinds)} durations, one per step"
            raise expected(msg, "durations", durations)
        dependents = self.dependents
        rank = [0.0] * len(durations)
        for i in range(len(durations) - 1, -1, -1):
            below = dependents[i]
            rank[i] = durations[i] + (max([rank[d] for d in below]) if below else 0.0)
        return rank

    def durations_from(self, seconds: Mapping[str, float]) -> list[float]:
        """Per step, its duration in ``seconds`` (by path): the mean of the known ones for a
        user step missing from it, 0 for plumbing."""
        known = [seconds[p] for p in self.paths if p in seconds]
        default = sum(known) / len(known) if known else 1.0
        return [
            0.0 if self.internal[i] else float(seconds.get(p, default))
            for i, p in enumerate(self.paths)
        ]

    def user_steps(self) -> list[int]:
        """Numbers of the steps a user sees (not internal plumbing)."""
        internal = self.internal
        return [i for i in range(len(internal)) if not internal[i]]

    def descendants(self, roots: list[int]) -> list[int]:
        """Every step reachable from ``roots`` (not the roots), ascending."""
        seen: set[int] = set(roots)
        stack = list(roots)
        found: list[int] = []
        dependents = self.dependents
        while stack:
            for d in dependents[stack.pop()]:
                if d not in seen:
                    seen.add(d)
                    found.append(d)
                    stack.append(d)
        found.sort()
        return found

    def _add(
        self,
        path: str,
        kind: int,
        fn: Callable[..., Any] | None,
        deps: tuple[int, ...],
        *,
        role: Role,
        guarded: bool,
        origin: str,
        region: int = -1,
        options: StepOptions | None = None,
    ) -> int:
        index = len(self.kinds)
        internal = role is not Role.USER
        self.paths.append(path)
        self.kinds.append(kind)
        self.roles.append(role)
        self.fns.append(fn)
        self.deps.append(deps)
        self.guarded.append(guarded)
        self.internal.append(internal)
        self.origins.append(origin)
        self.region.append(region)
        self.options.append(options)
        self.slow.append(guarded or region >= 0 or options is not None)
        return index

    def _finish(self, output: int) -> None:
        n = len(self.kinds)
        dependents: list[list[int]] = [[] for _ in range(n)]
        indegree = [0] * n
        for i, ds in enumerate(self.deps):
            distinct = dict.fromkeys(ds)
            indegree[i] = len(distinct)
            for d in distinct:
                dependents[d].append(i)
        self.dependents = [tuple(x) for x in dependents]
        self.indegree = indegree
        rank = [1] * n
        for i in range(n - 1, -1, -1):
            below = dependents[i]
            if below:
                rank[i] = 1 + max(rank[d] for d in below)
        self.rank = rank
        level = [0] * n
        for i, ds in enumerate(self.deps):
            if ds:
                level[i] = 1 + max(level[d] for d in ds)
        self.level = level
        self.region_results = frozenset(region.result for region in self.regions)
        self.plain_first = [
            kind != LOOP and (options is None or options.plain_call)
            for kind, options in zip(self.kinds, self.options, strict=True)
        ]
        self.output = output
        digest = hashlib.sha256()
        for i in range(n):
            digest.update(f"{self.paths[i]}|{self.kinds[i]}|{self.deps[i]}\n".encode())
        self.fingerprint = digest.hexdigest()[:32]


@attrs.frozen
class LoopSpec:
    """What a loop step runs: its body's own plan, iterated on the state."""

    body: Plan
    until: Callable[[Any], bool]
    max_steps: int

    def iteration(self, n: int, path: str) -> Plan:
        """The body's plan for iteration ``n`` of the loop step now at ``path``.

        Body paths keep the loop's subgraph prefix and get the loop step's own
        iteration suffixes, then ``#n``: ``refine#3``, or ``refine#2#3`` inside
        iteration 2 of an outer loop.
        """
        prefix, _, last = path.rpartition("/")
        prefix = f"{prefix}/" if prefix else ""
        suffix = last[last.index("#") :] if "#" in last else ""
        return self.body.renamed(lambda p: f"{prefix}{p}{suffix}#{n}")


@attrs.define
class Region:
    """Steps under one ``recover`` or ``|``: a failure inside is caught by ``catch``."""

    parent: int  # the enclosing region, or -1
    fallback: Any  # the value to output; unused when ``graph`` is True
    graph: bool  # the fallback is a graph (its gate fires when ``catch`` is NOT_TAKEN)
    catch: int = -1  # the step a caught failure completes (set once lowered)
    result: int = -1  # the step whose value is the region's result (the journal keeps it)


def key_scope(key: Hashable) -> str:
    """The path part of a route's case key: an enum member's name, else ``str(key)``.

    A ``/`` in a key would read as a subgraph: it becomes ``\\``; ``""`` is ``''``.
    """
    text = key.name if isinstance(key, enum.Enum) else str(key)
    return text.replace("/", "\\") or "''"


def _identity(value: Any) -> Any:
    return value


def _unless(value: Any, caught: Any) -> Any:
    """The gate of a fallback graph: open only when the region was tripped."""
    if caught is NOT_TAKEN and value is not NOT_TAKEN:
        return value
    return NOT_TAKEN


def _pack(*values: Any) -> tuple[Any, ...]:
    return values


def _empty(_: Any) -> tuple[()]:
    return ()


def _merge(*values: Any) -> Any:
    for v in values:
        if v is not NOT_TAKEN:
            return v
    return NOT_TAKEN


def _gate(key: Hashable) -> Callable[[Any, Any], Any]:
    def gate(value: Any, selected: Any) -> Any:
        return value if selected == key else NOT_TAKEN

    return gate


def _selector(
    fn: Callable[[Any], Any], kind: int, cases: tuple[Hashable, ...], name: str
) -> Callable[[Any], Any]:
    """Wrap a route selector so an unknown key fails the route's own step."""
    known = frozenset(cases)

    if kind == _expr.ASYNC:

        async def select_async(value: Any) -> Any:
            key = await fn(value)
            if key not in known:
                raise NoBranch(key, cases, name)
            return key

        select_async.__dagfn_wrapped__ = fn  # type: ignore[attr-defined]
        return select_async

    def select(value: Any) -> Any:
        key = fn(value)
        if key not in known:
            raise NoBranch(key, cases, name)
        return key

    select.__dagfn_wrapped__ = fn  # type: ignore[attr-defined] # the journal reads its types
    return select


# Stack-machine opcodes for lowering.
_EVAL: Final = 0
_THEN: Final = 1
_MEMO: Final = 2
_JOIN: Final = 3
_MERGE: Final = 4
_RECOVER: Final = 5
_FALLBACK: Final = 6
_FALLBACK_END: Final = 7


@attrs.frozen
class _Context:
    """What encloses an expression being lowered; shared by frames until it changes."""

    prefix: str = ""  # path prefix of enclosing named subgraphs
    guarded: bool = False  # inside a route branch or fallback graph: may be NOT_TAKEN
    options: StepOptions | None = None  # default policies of enclosing graphs
    region: int = -1  # innermost recover region


# A frame of the lowering stack: (opcode, expression or key, input wire, context, extra).
_Frame = tuple[int, Any, int, _Context, Any]
# A lowered loop body, by loop expression, resources and executor given to its steps.
_BodyKey = tuple[int, tuple[tuple[str, float], ...], int]

# Plumbing called with one argument (SYNC1); every other kind of plumbing takes its
# dependencies' values as arguments (SYNCN), however many there are.
_ONE_ARGUMENT: Final = frozenset((Role.EMPTY, Role.CATCH))

_PLANS: Final[weakref.WeakKeyDictionary[_expr.Expr, Plan]] = weakref.WeakKeyDictionary()


def plan_of(graph: Graph[Any, Any, Any]) -> Plan:
    """The graph's plan: lowered once, kept as long as the graph's expression lives."""
    expr = graph._expr
    plan = _PLANS.get(expr)
    if plan is None:
        plan = _PLANS[expr] = lower(expr)
    return plan


def lower(root: _expr.Expr) -> Plan:
    """Lower an expression to a `Plan`; raises `DuplicatePath` naming both steps."""
    # Lowering allocates only objects that stay alive (the plan's lists and tuples):
    # CPython's cyclic collector would find nothing to free, but its full passes
    # over every live object would make lowering a large graph superlinear.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Lowering().run(root)
    finally:
        if collecting:
            gc.enable()


class _Lowering:
    """One lowering: a stack machine over the expression, adding steps to one plan.

    Invariants: ``wires`` holds the output step of every finished
    sub-expression not yet consumed, in evaluation order; ``memo`` maps
    (expression, input wire, region) to the step it lowered to, so a shared
    expression on the same input is one step; ``by_path`` holds every user
    step's path, which is unique.
    """

    __slots__ = ("by_path", "loop_bodies", "memo", "plan", "stack", "wires")

    def __init__(self) -> None:
        self.plan = Plan()
        self.plan._add(
            "<input>", INPUT, None, (), role=Role.INPUT, guarded=False, origin="run input"
        )
        self.memo: dict[tuple[int, int, int], int] = {}
        self.by_path: dict[str, int] = {}
        self.loop_bodies: dict[_BodyKey, Plan] = {}
        self.wires: list[int] = []
        self.stack: list[_Frame] = []

    def run(self, root: _expr.Expr) -> Plan:
        self.stack.append((_EVAL, root, 0, _Context(), None))
        steps: dict[int, Callable[[Any, int, _Context, Any], None]] = {
            _EVAL: self.evaluate,
            _THEN: self.then,
            _MEMO: self.remember,
            _JOIN: self.join,
            _MERGE: self.merge,
            _RECOVER: self.recover,
            _FALLBACK: self.fallback,
            _FALLBACK_END: self.fallback_end,
        }
        stack = self.stack
        while stack:
            op, e, wire, ctx, extra = stack.pop()
            steps[op](e, wire, ctx, extra)
        (output,) = self.wires
        self.plan._finish(output)
        return self.plan

    def add_user(
        self, path: str, kind: int, fn: Any, deps: tuple[int, ...], ctx: _Context, own: StepOptions
    ) -> int:
        plan = self.plan
        origin = f"{_expr.callable_origin(fn)}, fed by {plan.paths[deps[0]]!r}"
        if path in self.by_path:
            places = (plan.origins[self.by_path[path]], origin)
            msg = (
                f"two different steps have the path {path!r}: ({places[0]}) and "
                f"({places[1]}); give one a distinct name with .named(...)"
            )
            raise DuplicatePath(msg, path=path, places=places)
        options = own.under(ctx.options)
        index = plan._add(
            path,
            kind,
            fn,
            deps,
            role=Role.USER,
            guarded=ctx.guarded,
            origin=origin,
            region=ctx.region,
            options=None if options.empty else options,
        )
        self.by_path[path] = index
        return index

    def add_internal(
        self,
        role: Role,
        what: str,
        fn: Callable[..., Any],
        deps: tuple[int, ...],
        ctx: _Context,
        *,
        guarded: bool,
    ) -> int:
        path = f"{ctx.prefix}<{what}#{len(self.plan.kinds)}>"
        kind = SYNC1 if role in _ONE_ARGUMENT else SYNCN  # part of the plan's fingerprint
        return self.plan._add(
            path, kind, fn, deps, role=role, guarded=guarded, origin=what, region=ctx.region
        )

    def take(self, n: int) -> tuple[int, ...]:
        wires = self.wires
        taken = tuple(wires[len(wires) - n :])
        del wires[len(wires) - n :]
        return taken

    def push(self, op: int, e: Any, wire: int, ctx: _Context, extra: Any = None) -> None:
        self.stack.append((op, e, wire, ctx, extra))

    def evaluate(self, e: _expr.Expr, wire: int, ctx: _Context, _: Any) -> None:
        key = (id(e), wire, ctx.region)
        hit = self.memo.get(key)
        if hit is not None:
            self.wires.append(hit)
            return
        self.push(_MEMO, key, 0, ctx)
        if isinstance(e, _expr.Input):
            self.wires.append(wire)  # the input itself: no step
        elif isinstance(e, _expr.Call):
            kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
            step = self.add_user(ctx.prefix + e.name, kind, e.fn, (wire,), ctx, e.options)
            if e.fn.__class__ is Streamed:  # the careful path gives it a place to send chunks
                self.plan.streams[step] = (e.fn, e.name)
                self.plan.slow[step] = True
            self.wires.append(step)
        elif isinstance(e, _expr.Then):
            self.push(_THEN, e.second, 0, ctx)
            self.push(_EVAL, e.first, wire, ctx)
        elif isinstance(e, _expr.Join | _expr.Gather):
            self.push(_JOIN, e, wire, ctx)
            for branch in reversed(e.branches):
                self.push(_EVAL, branch, wire, ctx)
        elif isinstance(e, _expr.Route):
            self.route(e, wire, ctx)
        elif isinstance(e, _expr.Interrupt):
            path = ctx.prefix + e.name
            step = self.add_user(path, SYNC1, e.prompt, (wire,), ctx, StepOptions())
            self.plan.pauses[step] = e.answer
            self.plan.slow[step] = True
            self.wires.append(step)
        elif isinstance(e, _expr.Loop):
            self.loop(e, wire, ctx)
        elif isinstance(e, _expr.Scope):
            self.push(_EVAL, e.inner, wire, attrs.evolve(ctx, prefix=f"{ctx.prefix}{e.name}/"))
        elif isinstance(e, _expr.Policied):
            inner = attrs.evolve(ctx, options=e.options.under(ctx.options))
            self.push(_EVAL, e.inner, wire, inner)
        elif isinstance(e, _expr.Recover | _expr.Fallback):
            is_graph = isinstance(e, _expr.Fallback)
            fallback = e.fallback if isinstance(e, _expr.Recover) else None
            region = len(self.plan.regions)
            self.plan.regions.append(Region(parent=ctx.region, fallback=fallback, graph=is_graph))
            self.push(_FALLBACK if is_graph else _RECOVER, e, wire, ctx, region)
            self.push(_EVAL, e.inner, wire, attrs.evolve(ctx, region=region))
        else:  # pragma: no cover - every Expr subclass is handled above
            raise TypeError(f"unknown expression {e!r}")

    def route(self, e: _expr.Route, wire: int, ctx: _Context) -> None:
        """A selector step, one gate per case feeding its branch, and a merge (pushed)."""
        cases = tuple(k for k, _ in e.table)
        name = ctx.prefix + e.name
        select_fn = _selector(e.selector, e.kind, cases, name)
        kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
        sel = self.add_user(name, kind, select_fn, (wire,), ctx, StepOptions())
        self.plan.origins[sel] = f"{_expr.callable_origin(e.selector)}, a route selector"
        self.push(_MERGE, e, wire, ctx, len(cases))
        for case_key, branch in reversed(e.table):
            what = f"{e.name}={case_key!r}"
            gate = self.add_internal(
                Role.GATE, what, _gate(case_key), (wire, sel), ctx, guarded=ctx.guarded
            )
            self.plan.gate_keys[gate] = case_key
            # A branch's steps are scoped by its key (`billing/handle`): one node
            # may serve several keys, as one step per branch.
            inside = attrs.evolve(ctx, guarded=True, prefix=f"{ctx.prefix}{key_scope(case_key)}/")
            self.push(_EVAL, branch, gate, inside)

    def loop(self, e: _expr.Loop, wire: int, ctx: _Context) -> None:
        """One loop step; its body lowered to a plan of its own."""
        # What its steps use (budgets, an executor) goes to the body's steps;
        # retry, timeout and breaker stay on the loop step: they are about it whole.
        outer = ctx.options or NO_OPTIONS
        per_step = StepOptions(resources=outer.resources, executor=outer.executor)
        spec = LoopSpec(_lower_body(e, self.loop_bodies, per_step), e.until, e.max_steps)
        whole = attrs.evolve(outer, resources=(), executor=None)
        path = ctx.prefix + e.name
        step = self.add_user(path, LOOP, None, (wire,), attrs.evolve(ctx, options=whole), whole)
        self.plan.loops[step] = spec
        self.plan.origins[step] = f"{_expr.callable_origin(e.until)}, a loop's until"
        self.plan.slow[step] = True
        self.wires.append(step)

    def then(self, e: _expr.Expr, _: int, ctx: _Context, __: Any) -> None:
        self.push(_EVAL, e, self.wires.pop(), ctx)

    def remember(self, key: tuple[int, int, int], _: int, __: _Context, ___: Any) -> None:
        self.memo[key] = self.wires[-1]

    def join(self, e: _expr.Join | _expr.Gather, wire: int, ctx: _Context, _: Any) -> None:
        deps = self.take(len(e.branches))
        if isinstance(e, _expr.Join):
            kind = ASYNCN if e.kind == _expr.ASYNC else SYNCN
            path = ctx.prefix + (self.anonymous_join(deps, ctx) if e.name == "<lambda>" else e.name)
            self.wires.append(self.add_user(path, kind, e.fn, deps, ctx, e.options))
        elif deps:
            pack = self.add_internal(Role.PACK, "gather", _pack, deps, ctx, guarded=ctx.guarded)
            self.wires.append(pack)
        else:
            empty = self.add_internal(
                Role.EMPTY, "gather", _empty, (wire,), ctx, guarded=ctx.guarded
            )
            self.wires.append(empty)

    def anonymous_join(self, deps: tuple[int, ...], ctx: _Context) -> str:
        """The name of a join of a lambda, from where it stands: ``join(semantic,keyword)``.

        Each branch is named by the last part of its step's path (plumbing by its
        role: ``input``, ``gather``, ``merge``); a second join of the same
        branches gets ``~2``, then ``~3``, in the order the plan meets them.
        """
        plan = self.plan
        parts = [
            plan.roles[d].value if plan.internal[d] else plan.paths[d].rpartition("/")[2]
            for d in deps
        ]
        name = f"join({','.join(parts)})"
        n = 1
        while ctx.prefix + (found := name if n == 1 else f"{name}~{n}") in self.by_path:
            n += 1
        return found

    def merge(self, e: _expr.Route, _: int, ctx: _Context, n: int) -> None:
        # A merge runs even when branches were not taken: it picks the taken one.
        deps = self.take(n)
        what = f"{e.name}<merge>"
        self.wires.append(self.add_internal(Role.MERGE, what, _merge, deps, ctx, guarded=False))

    def recover(self, _: _expr.Recover, __: int, ctx: _Context, region: int) -> None:
        value = (self.wires.pop(),)
        catch = self.add_internal(Role.CATCH, "recover", _identity, value, ctx, guarded=False)
        self.plan.regions[region].catch = self.plan.regions[region].result = catch
        self.wires.append(catch)

    def fallback(self, e: _expr.Fallback, wire: int, ctx: _Context, region: int) -> None:
        value = (self.wires.pop(),)
        catch = self.add_internal(Role.CATCH, "try", _identity, value, ctx, guarded=False)
        self.plan.regions[region].catch = catch
        gate = self.add_internal(
            Role.UNLESS, "fallback", _unless, (wire, catch), ctx, guarded=False
        )
        self.push(_FALLBACK_END, e, wire, ctx, region)
        self.push(_EVAL, e.other, gate, attrs.evolve(ctx, guarded=True))

    def fallback_end(self, _: _expr.Fallback, __: int, ctx: _Context, region: int) -> None:
        found = self.plan.regions[region]
        deps = (found.catch, self.wires.pop())
        merge = self.add_internal(Role.MERGE, "fallback<merge>", _merge, deps, ctx, guarded=False)
        found.result = merge
        self.wires.append(merge)


def _lower_body(e: _expr.Loop, bodies: dict[_BodyKey, Plan], per_step: StepOptions) -> Plan:
    """A loop body's own plan, its steps under ``per_step`` unless they set their own.

    Lowered once per loop and options; recursion only as deep as loops nest.
    """
    key = (id(e), per_step.resources, id(per_step.executor))  # an executor may not hash
    body = bodies.get(key)
    if body is None:
        inner = e.body if per_step.empty else _expr.Policied(e.body, per_step)
        body = bodies[key] = lower(inner)
    return body
