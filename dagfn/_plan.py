"""Lowering an expression to a flat, validated DAG of numbered steps.

The plan is plain data in parallel lists indexed by step number, so the
interpreter's hot loop reads lists, not objects. Steps are numbered in
topological order (every dependency has a smaller number); step 0 is the run
input. Lowering is iterative (an explicit stack), linear in steps plus edges,
and never recursion whose depth follows the graph's: a chain of 100,000 steps
lowers under the default recursion limit. The plan never does I/O.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final

import attrs

from dagfn import _expr
from dagfn._errors import DagfnError, expected
from dagfn._loop import LoopExpr
from dagfn._policy import NO_OPTIONS, StepOptions

# Step kinds, as the interpreter dispatches on them.
INPUT: Final = -1  # step 0: holds the run input, never executed
SYNC1: Final = 0  # fn(value of the single dependency), inline on the trio thread
ASYNC1: Final = 1  # await fn(value), in its own task
SYNCN: Final = 2  # fn(*values of the dependencies, in order), inline
ASYNCN: Final = 3  # await fn(*values), in its own task
LOOP: Final = 4  # fn is a LoopSpec: the interpreter runs its body plan once per iteration


class _NotTaken:
    """The value of a step in a route branch that was not selected."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_TAKEN"


#: Flows through the steps of unselected route branches instead of a value.
NOT_TAKEN: Final = _NotTaken()


class DuplicatePath(DagfnError, ValueError):
    """Two different steps of one graph have the same path."""

    def __init__(self, message: str, *, path: str, places: tuple[str, str]) -> None:
        super().__init__(message)
        self.path = path
        self.places = places


class NoBranch(DagfnError, LookupError):
    """A route's selector returned a key that has no branch (a run failure value)."""

    def __init__(self, key: object, cases: tuple[object, ...], route: str) -> None:
        listed = ", ".join(repr(c) for c in cases)
        super().__init__(f"route {route!r} selected {key!r}, which has no branch (cases: {listed})")
        self.key = key
        self.cases = cases
        self.route = route


class Plan:
    """A flat DAG: parallel lists indexed by step number (0 is the run input)."""

    __slots__ = (
        "cache",
        "dependents",
        "deps",
        "fingerprint",
        "fns",
        "guarded",
        "indegree",
        "internal",
        "kinds",
        "level",
        "options",
        "origins",
        "output",
        "paths",
        "pauses",
        "rank",
        "region",
        "regions",
        "slow",
    )

    def __init__(self) -> None:
        self.paths: list[str] = []  # unique among non-internal steps
        self.kinds: list[int] = []  # one of INPUT, SYNC1, ASYNC1, SYNCN, ASYNCN
        self.fns: list[Callable[..., Any] | None] = []  # None only for INPUT
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
        # slow[i]: the step needs the interpreter's careful path (it may be skipped,
        # is in a region or has policies); the others take the inline fast path.
        self.slow: list[bool] = []
        self.pauses: dict[int, Any] = {}  # interrupt steps: step -> answer type
        self.output = 0
        self.fingerprint = ""
        self.cache: dict[str, Any] = {}  # derived data other layers compute once per plan

    def __len__(self) -> int:
        return len(self.kinds)

    def renamed(self, rename: Callable[[str], str]) -> Plan:
        """A copy sharing everything but the paths of user steps, renamed."""
        copy = Plan()
        for name in Plan.__slots__:
            setattr(copy, name, getattr(self, name))
        internal = self.internal
        copy.paths = [p if internal[i] else rename(p) for i, p in enumerate(self.paths)]
        copy.cache = {}
        return copy

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
        guarded: bool,
        internal: bool,
        origin: str,
        region: int = -1,
        options: StepOptions | None = None,
    ) -> int:
        index = len(self.kinds)
        self.paths.append(path)
        self.kinds.append(kind)
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


def lower(root: _expr.Expr) -> Plan:
    """Lower an expression to a `Plan`; raises `DuplicatePath` naming both steps."""
    # Lowering allocates only objects that stay alive (the plan's lists and tuples):
    # CPython's cyclic collector would find nothing to free, but its full passes
    # over every live object would make lowering a large graph superlinear.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _lower(root)
    finally:
        if collecting:
            gc.enable()


def _lower(root: _expr.Expr) -> Plan:
    plan = Plan()
    plan._add("<input>", INPUT, None, (), guarded=False, internal=True, origin="run input")
    memo: dict[tuple[int, int, int], int] = {}
    by_path: dict[str, int] = {}
    loop_bodies: dict[_BodyKey, Plan] = {}
    wires: list[int] = []  # output step of each finished sub-expression
    # Frames: (opcode, expression, input wire, context, extra).
    stack: list[tuple[int, Any, int, _Context, Any]] = [(_EVAL, root, 0, _Context(), None)]

    def add_user(
        path: str, kind: int, fn: Any, deps: tuple[int, ...], ctx: _Context, own: StepOptions
    ) -> int:
        origin = f"{_expr.callable_origin(fn)}, fed by {plan.paths[deps[0]]!r}"
        if path in by_path:
            first = by_path[path]
            places = (plan.origins[first], origin)
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
            guarded=ctx.guarded,
            internal=False,
            origin=origin,
            region=ctx.region,
            options=None if options.empty else options,
        )
        by_path[path] = index
        return index

    def add_internal(
        what: str, kind: int, fn: Any, deps: tuple[int, ...], ctx: _Context, *, guarded: bool
    ) -> int:
        path = f"{ctx.prefix}<{what}#{len(plan.kinds)}>"
        return plan._add(
            path, kind, fn, deps, guarded=guarded, internal=True, origin=what, region=ctx.region
        )

    def take(n: int) -> tuple[int, ...]:
        taken = tuple(wires[len(wires) - n :])
        del wires[len(wires) - n :]
        return taken

    while stack:
        op, e, wire, ctx, extra = stack.pop()
        if op == _EVAL:
            key = (id(e), wire, ctx.region)
            hit = memo.get(key)
            if hit is not None:
                wires.append(hit)
                continue
            stack.append((_MEMO, key, 0, ctx, None))
            if isinstance(e, _expr.Input):
                wires.append(wire)  # the input itself: no step
            elif isinstance(e, _expr.Call):
                kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
                wires.append(add_user(ctx.prefix + e.name, kind, e.fn, (wire,), ctx, e.options))
            elif isinstance(e, _expr.Then):
                stack.append((_THEN, e.second, 0, ctx, None))
                stack.append((_EVAL, e.first, wire, ctx, None))
            elif isinstance(e, _expr.Join | _expr.Gather):
                stack.append((_JOIN, e, wire, ctx, None))
                for branch in reversed(e.branches):
                    stack.append((_EVAL, branch, wire, ctx, None))
            elif isinstance(e, _expr.Route):
                cases = tuple(k for k, _ in e.table)
                name = ctx.prefix + e.name
                select_fn = _selector(e.selector, e.kind, cases, name)
                kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
                sel = add_user(name, kind, select_fn, (wire,), ctx, StepOptions())
                plan.origins[sel] = f"{_expr.callable_origin(e.selector)}, a route selector"
                stack.append((_MERGE, e, wire, ctx, len(cases)))
                inside = attrs.evolve(ctx, guarded=True)
                for case_key, branch in reversed(e.table):
                    gate_fn = _gate(case_key)
                    gate = add_internal(
                        f"{e.name}={case_key!r}",
                        SYNCN,
                        gate_fn,
                        (wire, sel),
                        ctx,
                        guarded=ctx.guarded,
                    )
                    plan.cache.setdefault("gate_keys", {})[gate] = case_key
                    stack.append((_EVAL, branch, gate, inside, None))
            elif isinstance(e, _expr.Interrupt):
                step = add_user(ctx.prefix + e.name, SYNC1, e.prompt, (wire,), ctx, StepOptions())
                plan.pauses[step] = e.answer
                plan.slow[step] = True
                wires.append(step)
            elif isinstance(e, LoopExpr):
                path = ctx.prefix + e.name
                # What its steps use (budgets, an executor) goes to the body's steps;
                # retry, timeout and breaker stay on the loop step: they are about it whole.
                outer = ctx.options or NO_OPTIONS
                per_step = StepOptions(resources=outer.resources, executor=outer.executor)
                spec = LoopSpec(_lower_body(e, loop_bodies, per_step), e.until, e.max_steps)
                whole = attrs.evolve(outer, resources=(), executor=None)
                step = add_user(path, LOOP, spec, (wire,), attrs.evolve(ctx, options=whole), whole)
                plan.origins[step] = f"{_expr.callable_origin(e.until)}, a loop's until"
                plan.slow[step] = True
                wires.append(step)
            elif isinstance(e, _expr.Scope):
                inner = attrs.evolve(ctx, prefix=f"{ctx.prefix}{e.name}/")
                stack.append((_EVAL, e.inner, wire, inner, None))
            elif isinstance(e, _expr.Policied):
                inner = attrs.evolve(ctx, options=e.options.under(ctx.options))
                stack.append((_EVAL, e.inner, wire, inner, None))
            elif isinstance(e, _expr.Recover | _expr.Fallback):
                is_graph = isinstance(e, _expr.Fallback)
                fallback = e.fallback if isinstance(e, _expr.Recover) else None
                region = len(plan.regions)
                plan.regions.append(Region(parent=ctx.region, fallback=fallback, graph=is_graph))
                stack.append((_FALLBACK if is_graph else _RECOVER, e, wire, ctx, region))
                stack.append((_EVAL, e.inner, wire, attrs.evolve(ctx, region=region), None))
            else:  # pragma: no cover - every Expr subclass is handled above
                raise TypeError(f"unknown expression {e!r}")
        elif op == _THEN:
            stack.append((_EVAL, e, wires.pop(), ctx, None))
        elif op == _MEMO:
            memo[e] = wires[-1]
        elif op == _JOIN:
            deps = take(len(e.branches))
            if isinstance(e, _expr.Join):
                kind = ASYNCN if e.kind == _expr.ASYNC else SYNCN
                wires.append(add_user(ctx.prefix + e.name, kind, e.fn, deps, ctx, e.options))
            elif deps:
                wires.append(add_internal("gather", SYNCN, _pack, deps, ctx, guarded=ctx.guarded))
            else:
                wires.append(
                    add_internal("gather", SYNC1, _empty, (wire,), ctx, guarded=ctx.guarded)
                )
        elif op == _MERGE:
            # A merge runs even when branches were not taken: it picks the taken one.
            deps = take(extra)
            wires.append(add_internal(f"{e.name}<merge>", SYNCN, _merge, deps, ctx, guarded=False))
        elif op == _RECOVER:
            catch = add_internal("recover", SYNC1, _identity, (wires.pop(),), ctx, guarded=False)
            plan.regions[extra].catch = plan.regions[extra].result = catch
            wires.append(catch)
        elif op == _FALLBACK:
            catch = add_internal("try", SYNC1, _identity, (wires.pop(),), ctx, guarded=False)
            plan.regions[extra].catch = catch
            gate = add_internal("fallback", SYNCN, _unless, (wire, catch), ctx, guarded=False)
            stack.append((_FALLBACK_END, e, wire, ctx, extra))
            stack.append((_EVAL, e.other, gate, attrs.evolve(ctx, guarded=True), None))
        elif op == _FALLBACK_END:
            region = plan.regions[extra]
            deps = (region.catch, wires.pop())
            merge = add_internal("fallback<merge>", SYNCN, _merge, deps, ctx, guarded=False)
            region.result = merge
            wires.append(merge)
    (output,) = wires
    plan._finish(output)
    return plan


# A lowered loop body, by loop expression, resources and executor given to its steps.
_BodyKey = tuple[int, tuple[tuple[str, float], ...], int]


def _lower_body(e: LoopExpr, bodies: dict[_BodyKey, Plan], per_step: StepOptions) -> Plan:
    """A loop body's own plan, its steps under ``per_step`` unless they set their own.

    Lowered once per loop and options; recursion only as deep as loops nest.
    """
    key = (id(e), per_step.resources, id(per_step.executor))  # an executor may not hash
    body = bodies.get(key)
    if body is None:
        inner = e.body if per_step.empty else _expr.Policied(e.body, per_step)
        body = bodies[key] = lower(inner)
    return body
