"""Lowering an expression to a flat, validated DAG of numbered steps.

The plan is plain data in parallel lists indexed by step number, so the
interpreter's hot loop reads lists, not objects. Steps are numbered in
topological order (every dependency has a smaller number); step 0 is the run
input. Lowering is iterative (an explicit stack), linear in steps plus edges,
and never recursion whose depth follows the graph's: a chain of 100,000 steps
lowers under the default recursion limit. The plan never does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any, Final

from dagfn import _expr
from dagfn._errors import DagfnError

# Step kinds, as the interpreter dispatches on them.
INPUT: Final = -1  # step 0: holds the run input, never executed
SYNC1: Final = 0  # fn(value of the single dependency), inline on the trio thread
ASYNC1: Final = 1  # await fn(value), in its own task
SYNCN: Final = 2  # fn(*values of the dependencies, in order), inline
ASYNCN: Final = 3  # await fn(*values), in its own task


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
        "dependents",
        "deps",
        "fingerprint",
        "fns",
        "guarded",
        "indegree",
        "internal",
        "kinds",
        "origins",
        "output",
        "paths",
        "rank",
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
        self.output = 0
        self.fingerprint = ""

    def __len__(self) -> int:
        return len(self.kinds)

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
    ) -> int:
        index = len(self.kinds)
        self.paths.append(path)
        self.kinds.append(kind)
        self.fns.append(fn)
        self.deps.append(deps)
        self.guarded.append(guarded)
        self.internal.append(internal)
        self.origins.append(origin)
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
        self.output = output
        digest = hashlib.sha256()
        for i in range(n):
            digest.update(f"{self.paths[i]}|{self.kinds[i]}|{self.deps[i]}\n".encode())
        self.fingerprint = digest.hexdigest()[:32]


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

        return select_async

    def select(value: Any) -> Any:
        key = fn(value)
        if key not in known:
            raise NoBranch(key, cases, name)
        return key

    return select


# Stack-machine opcodes for lowering.
_EVAL: Final = 0
_THEN: Final = 1
_MEMO: Final = 2
_JOIN: Final = 3
_MERGE: Final = 4


def lower(root: _expr.Expr) -> Plan:
    """Lower an expression to a `Plan`; raises `DuplicatePath` naming both steps."""
    plan = Plan()
    plan._add("<input>", INPUT, None, (), guarded=False, internal=True, origin="run input")
    memo: dict[tuple[int, int], int] = {}
    by_path: dict[str, int] = {}
    wires: list[int] = []  # output step of each finished sub-expression
    # Frames: (opcode, expr, input wire, path prefix, guarded, extra).
    stack: list[tuple[int, Any, int, str, bool, Any]] = [(_EVAL, root, 0, "", False, None)]

    def add_user(path: str, kind: int, fn: Any, deps: tuple[int, ...], g: bool, e: Any) -> int:
        origin = f"{_expr.callable_origin(fn)}, fed by {plan.paths[deps[0]]!r}"
        if path in by_path:
            first = by_path[path]
            places = (plan.origins[first], origin)
            msg = (
                f"two different steps have the path {path!r}: ({places[0]}) and "
                f"({places[1]}); give one a distinct name with .named(...)"
            )
            raise DuplicatePath(msg, path=path, places=places)
        index = plan._add(path, kind, fn, deps, guarded=g, internal=False, origin=origin)
        by_path[path] = index
        return index

    while stack:
        op, e, wire, prefix, guarded, extra = stack.pop()
        if op == _EVAL:
            key = (id(e), wire)
            hit = memo.get(key)
            if hit is not None:
                wires.append(hit)
                continue
            stack.append((_MEMO, key, 0, "", False, None))
            if isinstance(e, _expr.Call):
                kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
                wires.append(add_user(prefix + e.name, kind, e.fn, (wire,), guarded, e))
            elif isinstance(e, _expr.Then):
                stack.append((_THEN, e.second, 0, prefix, guarded, None))
                stack.append((_EVAL, e.first, wire, prefix, guarded, None))
            elif isinstance(e, _expr.Join | _expr.Gather):
                stack.append((_JOIN, e, wire, prefix, guarded, None))
                for branch in reversed(e.branches):
                    stack.append((_EVAL, branch, wire, prefix, guarded, None))
            elif isinstance(e, _expr.Route):
                cases = tuple(k for k, _ in e.table)
                select_fn = _selector(e.selector, e.kind, cases, prefix + e.name)
                kind = ASYNC1 if e.kind == _expr.ASYNC else SYNC1
                sel = add_user(prefix + e.name, kind, select_fn, (wire,), guarded, e)
                plan.origins[sel] = f"{_expr.callable_origin(e.selector)}, a route selector"
                stack.append((_MERGE, e, wire, prefix, guarded, len(cases)))
                for case_key, branch in reversed(e.table):
                    gate = plan._add(
                        f"{prefix}{e.name}<{case_key!r}>",
                        SYNCN,
                        _gate(case_key),
                        (wire, sel),
                        guarded=guarded,
                        internal=True,
                        origin=f"gate of route {prefix + e.name!r}",
                    )
                    stack.append((_EVAL, branch, gate, prefix, True, None))
            elif isinstance(e, _expr.Scope):
                stack.append((_EVAL, e.inner, wire, f"{prefix}{e.name}/", guarded, None))
            else:  # pragma: no cover - every Expr subclass is handled above
                raise TypeError(f"unknown expression {e!r}")
        elif op == _THEN:
            stack.append((_EVAL, e, wires.pop(), prefix, guarded, None))
        elif op == _MEMO:
            memo[e] = wires[-1]
        elif op == _JOIN:
            n = len(e.branches)
            deps = tuple(wires[len(wires) - n :])
            del wires[len(wires) - n :]
            if isinstance(e, _expr.Join):
                kind = ASYNCN if e.kind == _expr.ASYNC else SYNCN
                wires.append(add_user(prefix + e.name, kind, e.fn, deps, guarded, e))
            else:
                fn: Callable[..., Any] = _pack if deps else _empty
                g_deps = deps or (wire,)
                wires.append(
                    plan._add(
                        f"{prefix}<gather#{len(plan.kinds)}>",
                        SYNCN if deps else SYNC1,
                        fn,
                        g_deps,
                        guarded=guarded,
                        internal=True,
                        origin="gather",
                    )
                )
        elif op == _MERGE:
            n = extra
            deps = tuple(wires[len(wires) - n :])
            del wires[len(wires) - n :]
            # A merge runs even when branches were not taken: it picks the taken one.
            merge = plan._add(
                f"{prefix}{e.name}<merge>",
                SYNCN,
                _merge,
                deps,
                guarded=False,
                internal=True,
                origin=f"merge of route {prefix + e.name!r}",
            )
            wires.append(merge)
    (output,) = wires
    plan._finish(output)
    return plan
