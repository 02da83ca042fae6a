"""dagfn's mypy plugin: ``plugins = dagfn.mypy`` in ``mypy.ini`` (or ``[tool.mypy]``).

Plain overloads type almost all of dagfn; this plugin covers what they cannot say
to mypy (pyright needs none of it: it reads these forms itself, or accepts them):

- ``node(fn)`` where ``fn`` is generic (``def dedupe(items: tuple[T, ...])``):
  without the plugin mypy solves ``T`` to ``Never`` and the step fits nothing.
  With it the step stays generic: ``words >> dedupe`` is a
  ``Graph[..., tuple[str, ...], ...]`` (``T`` solved from ``words``' output).
- ``node(lambda q: ...)`` with no type context (nothing says what ``q`` is) is an
  error instead of a silent ``Graph[Any, Any, Any]``; with context
  (``parse >> node(lambda q: q.text)``) a lambda is fine.
- ``node(functools.partial(f, ...))`` takes ``f``'s remaining parameter (mypy
  types a partial's call as ``(*Any)``) and ``node(lru_cache(f))`` takes ``f``'s
  parameter (not ``Hashable``).
- Messages: a join whose function does not fit names each parameter and the
  branch output it gets; ``run``/``run_sync`` with a wrong input name the
  graph's input type and the value's type (mypy alone says "Cannot infer value
  of type parameter"); a route case that does not fit names its key.

It imports nothing of dagfn, so mypy can load it without running dagfn.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.errorcodes import ARG_TYPE, DICT_ITEM, MISC, OPERATOR
from mypy.nodes import (
    ARG_OPT,
    ARG_POS,
    CallExpr,
    Decorator,
    DictExpr,
    Expression,
    FuncDef,
    LambdaExpr,
    MemberExpr,
    NameExpr,
    RefExpr,
    TypeInfo,
)
from mypy.plugin import (
    CheckerPluginInterface,
    FunctionContext,
    FunctionSigContext,
    MethodContext,
    MethodSigContext,
    Plugin,
)
from mypy.subtypes import is_subtype
from mypy.typeops import make_simplified_union
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    ProperType,
    TupleType,
    Type,
    TypeOfAny,
    UninhabitedType,
    UnpackType,
    get_proper_type,
)

GRAPH = "dagfn._graph.Graph"
NODE = "dagfn._graph.node"
NODE_CALLS = ("dagfn._graph._Node.__call__", "dagfn._graph.NodeDecorator.__call__")
THEN = ("dagfn._graph.Graph.__rshift__", "dagfn._graph.Graph.then")
JOIN = "dagfn._graph.Fan.join"
RUNS = ("dagfn._interpret.run", "dagfn._interpret.run_sync")
UPDATE = "dagfn._state.update"
INTERRUPT = "dagfn._pause.interrupt"
LOOP = "dagfn._loop.loop"
CASES = "dagfn._route.Router.cases"
RESULT = "returns.result.Result"
AWAITABLES = ("typing.Awaitable", "typing.Coroutine", "collections.abc.Awaitable")
LRU = "functools._lru_cache_wrapper"
PARTIAL = "functools.partial"


class DagfnPlugin(Plugin):
    """Hooks on `node`, ``>>``, `Fan.join`, `run` and `Router.cases` (see the module)."""

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        if fullname == NODE:
            return _node_hook
        if fullname == INTERRUPT:
            return _interrupt_hook
        return None

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        if fullname in NODE_CALLS:
            return _node_hook
        return None

    def get_method_signature_hook(
        self, fullname: str
    ) -> Callable[[MethodSigContext], FunctionLike] | None:
        if fullname in THEN:
            return _then_signature
        if fullname == JOIN:
            return _join_signature
        if fullname == CASES:
            return _cases_signature
        return None

    def get_function_signature_hook(
        self, fullname: str
    ) -> Callable[[FunctionSigContext], FunctionLike] | None:
        if fullname in RUNS:
            return _run_signature
        if fullname == UPDATE:
            return _update_signature
        if fullname == LOOP:
            return _loop_signature
        return None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return DagfnPlugin


# --- node ----------------------------------------------------------------------


def _node_hook(ctx: FunctionContext | MethodContext) -> Type:
    """The graph type of ``node(fn)``, where the overloads cannot see ``fn``'s type."""
    if not ctx.args or not ctx.args[0] or not ctx.arg_types[0]:
        return ctx.default_return_type
    expr = ctx.args[0][0]
    given = get_proper_type(ctx.arg_types[0][0])
    api = ctx.api
    if isinstance(expr, LambdaExpr):
        # mypy checks the right operand of an operator twice: first with no type
        # context (that pass must not complain), then as the method's argument.
        if _is_right_operand(ctx.context, api):
            return ctx.default_return_type
        _check_lambda(given, "node", ctx)
        return ctx.default_return_type
    fn = _original_callable(expr, given, api)
    if fn is None:
        return ctx.default_return_type
    if fn.variables:  # a generic function: its type variables stay open as Any
        fn = _erase_variables(fn)
    default = get_proper_type(ctx.default_return_type)
    if not (isinstance(default, Instance) and default.type.fullname == GRAPH):
        return ctx.default_return_type
    graph = _graph_of(fn, default.type)
    return graph if graph is not None else ctx.default_return_type


_OPERANDS: dict[int, tuple[object, set[int]]] = {}
# The attributes of mypy's statement and expression nodes that hold their children.
_CHILDREN = (
    *("defs", "body", "else_body", "finally_body", "handlers", "expr", "rvalue", "lvalues"),
    *("left", "right", "callee", "args", "items", "index", "base", "value", "func"),
    *("decorators", "cond", "if_expr", "else_expr", "target", "sequences", "condlists"),
    *("left_expr", "right_expr", "subject", "bodies", "guards", "operands"),
)  # id(file) -> (file, ids of right operands)


def _is_right_operand(call: object, api: CheckerPluginInterface) -> bool:
    """Whether ``call`` is the right operand of a ``>>``, ``&`` or ``|`` in the file checked."""
    from mypy.nodes import Node, OpExpr

    tree = getattr(api, "tree", None)
    if tree is None:
        return False
    found = _OPERANDS.get(id(tree))
    if found is None or found[0] is not tree:
        # A plain walk over the syntax tree (mypy's visitors are compiled traits
        # that a plugin cannot subclass).
        ids: set[int] = set()
        seen: set[int] = set()
        pending: list[object] = [tree.defs]
        while pending:
            item = pending.pop()
            if isinstance(item, list | tuple):
                pending.extend(item)
                continue
            if not isinstance(item, Node) or id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, OpExpr) and item.op in (">>", "&", "|"):
                ids.add(id(item.right))
            for child in _CHILDREN:
                value = getattr(item, child, None)
                if isinstance(value, Node | list | tuple):
                    pending.append(value)
        found = _OPERANDS[id(tree)] = (tree, ids)
    return id(call) in found[1]


def _check_lambda(given: ProperType, what: str, ctx: FunctionContext | MethodContext) -> None:
    if isinstance(given, CallableType) and given.arg_types:
        first = get_proper_type(given.arg_types[0])
        if isinstance(first, AnyType | UninhabitedType):
            ctx.api.fail(
                f"{what}(lambda ...) here has no type context, so mypy cannot know "
                "its input: use a def with annotations, or write the lambda where "
                f"its input is known (a >> {what}(lambda x: ...))",
                ctx.context,
                code=MISC,
            )


def _interrupt_hook(ctx: FunctionContext) -> Type:
    """``interrupt(lambda ...)`` with no type context: as for `node`."""
    args = ctx.args[0] if ctx.args else []
    if args and isinstance(args[0], LambdaExpr) and not _is_right_operand(ctx.context, ctx.api):
        _check_lambda(get_proper_type(ctx.arg_types[0][0]), "interrupt", ctx)
    return ctx.default_return_type


def _original_callable(
    expr: Expression, given: ProperType, api: CheckerPluginInterface
) -> CallableType | None:
    """The signature a step will call, where mypy's own type of it is too vague."""
    if isinstance(given, Instance) and given.type.fullname == PARTIAL:
        partial = given.extra_attrs.attrs.get("__mypy_partial") if given.extra_attrs else None
        left = get_proper_type(partial) if partial is not None else None
        return left if isinstance(left, CallableType) else None
    if isinstance(given, Instance) and given.type.fullname == LRU:
        return _wrapped_by_cache(expr, api)
    if isinstance(given, CallableType) and given.variables:
        return given
    return None


def _wrapped_by_cache(expr: Expression, api: CheckerPluginInterface) -> CallableType | None:
    """``f``'s signature in ``lru_cache(f)``, ``cache(f)``, ``lru_cache(n)(f)`` or ``@cache``."""
    if isinstance(expr, RefExpr) and isinstance(expr.node, Decorator):
        t = get_proper_type(expr.node.func.type)
        return t if isinstance(t, CallableType) else None
    if isinstance(expr, CallExpr) and len(expr.args) == 1:
        t = get_proper_type(api.get_expression_type(expr.args[0]))
        return t if isinstance(t, CallableType) else None
    return None


def _erase_variables(fn: CallableType) -> CallableType:
    from mypy.expandtype import expand_type  # here: importing it first is circular in mypy

    anything = AnyType(TypeOfAny.special_form)
    erased = expand_type(fn, {v.id: anything for v in fn.variables})
    assert isinstance(erased, CallableType)
    return erased.copy_modified(variables=[])


def _graph_of(fn: CallableType, graph: TypeInfo) -> Instance | None:
    """``Graph[A, B, E]`` for a one-argument function, as `node`'s overloads read it."""
    if not fn.arg_types:
        return None
    ret = get_proper_type(fn.ret_type)
    if isinstance(ret, Instance) and ret.type.fullname in AWAITABLES and ret.args:
        ret = get_proper_type(ret.args[-1])
    error: Type = UninhabitedType()
    output: Type = ret
    result = _as_result(ret)
    if result is not None:
        output, error = result
    return Instance(graph, [fn.arg_types[0], output, error])


def _as_result(t: ProperType) -> tuple[Type, Type] | None:
    if isinstance(t, Instance):
        for base in t.type.mro:
            if base.fullname == RESULT:
                mapped = _map_to(t, base)
                if mapped is not None and len(mapped.args) == 2:
                    return mapped.args[0], mapped.args[1]
    return None


def _as_graph(t: Type) -> Instance | None:
    """``t`` as a ``Graph[I, O, E]`` (a `Gathered` is a ``Graph[I, tuple[O, ...], E]``)."""
    t = get_proper_type(t)
    if not isinstance(t, Instance):
        return None
    for base in t.type.mro:
        if base.fullname == GRAPH:
            mapped = _map_to(t, base)
            if mapped is not None and len(mapped.args) == 3:
                return mapped
    return None


def _map_to(t: Instance, base: TypeInfo) -> Instance | None:
    from mypy.maptype import map_instance_to_supertype

    return map_instance_to_supertype(t, base)


# --- >> with a generic step -----------------------------------------------------


def _generic_step(expr: Expression, api: CheckerPluginInterface) -> CallableType | None:
    """The generic function behind ``expr`` when it is ``@node def f[T]`` or ``node(f)``."""
    fn: object = None
    if isinstance(expr, RefExpr) and isinstance(expr.node, Decorator):
        if any(_is_node(d) for d in expr.node.decorators):
            fn = expr.node.func.type
    elif isinstance(expr, CallExpr) and _is_node(expr.callee) and len(expr.args) == 1:
        inner = expr.args[0]
        if isinstance(inner, RefExpr) and isinstance(inner.node, FuncDef | Decorator):
            node = inner.node.func if isinstance(inner.node, Decorator) else inner.node
            fn = node.type
    t = get_proper_type(fn) if isinstance(fn, Type) else None
    if isinstance(t, CallableType) and t.variables and t.arg_types:
        return t
    return None


def _is_node(e: Expression) -> bool:
    if isinstance(e, CallExpr):  # @node(name=...)
        e = e.callee
    return isinstance(e, NameExpr | MemberExpr) and e.fullname == NODE


def _then_signature(ctx: MethodSigContext) -> FunctionLike:
    """``a >> generic_step``: solve the step's type variables from ``a``'s output."""
    from mypy.expandtype import expand_type
    from mypy.infer import infer_type_arguments

    sig = ctx.default_signature
    left = _as_graph(ctx.type)
    if not (ctx.args and ctx.args[0] and left is not None):
        return sig
    fn = _generic_step(ctx.args[0][0], ctx.api)
    if fn is None or not isinstance(sig, CallableType):
        return _then_message(ctx, left, sig)
    out = left.args[1]
    solved = infer_type_arguments(fn.variables, fn.arg_types[0], out, is_supertype=True)
    anything = AnyType(TypeOfAny.special_form)
    mapping = {
        v.id: (s if s is not None else anything) for v, s in zip(fn.variables, solved, strict=True)
    }
    specialized = expand_type(fn, mapping)
    assert isinstance(specialized, CallableType)
    step = _graph_of(specialized.copy_modified(variables=[]), left.type)
    if step is None:
        return sig
    if not is_subtype(out, step.args[0]):
        ctx.api.fail(
            f'">>": the left side outputs "{out}", but the generic step takes "{fn.arg_types[0]}"',
            ctx.context,
            code=ARG_TYPE,
        )
        return sig
    error = make_simplified_union([left.args[2], step.args[2]])
    graph = Instance(left.type, [left.args[0], step.args[1], error])
    return sig.copy_modified(arg_types=[step, *sig.arg_types[1:]], ret_type=graph, variables=[])


def _then_message(ctx: MethodSigContext, left: Instance, sig: FunctionLike) -> FunctionLike:
    """``a >> b`` where ``b``'s input is not ``a``'s output: name both steps and both types.

    Only for a right side whose type is known without inference: a named graph,
    or ``node(f)`` of a named function (mypy alone would blame one of `node`'s
    overloads, as if ``f`` had to be async and return a ``Result``).
    """
    expr = ctx.args[0][0]
    right: Instance | None = None
    what = ""
    if isinstance(expr, CallExpr) and _is_node(expr.callee) and len(expr.args) == 1:
        fn = _known_callable(expr.args[0])
        default = get_proper_type(sig.items[0].ret_type)
        if fn is not None and isinstance(default, Instance) and default.type.fullname == GRAPH:
            right = _graph_of(fn, default.type)
            what = f"node({fn.name or 'fn'})"
    elif isinstance(expr, NameExpr | MemberExpr) and not isinstance(expr.node, TypeInfo):
        t = get_proper_type(ctx.api.get_expression_type(expr))
        if _as_graph(t) is not None:
            right, what = _as_graph(t), f'"{expr.name}"'
        elif isinstance(t, CallableType):
            name = "then" if (sig.items[0].name or "").startswith("then") else ">>"
            ctx.api.fail(
                f'"{name}": "{expr.name}" is a function, not a graph: make it a step with '
                f"node({expr.name}) (or decorate it with @node)",
                ctx.context,
                code=OPERATOR if name == ">>" else ARG_TYPE,
            )
            return _accepting_anything(sig, 0)
    if right is None or not right.args or is_subtype(left.args[1], right.args[0]):
        return sig
    name = "then" if (sig.items[0].name or "").startswith("then") else ">>"
    ctx.api.fail(
        f'"{name}": the left side outputs "{left.args[1]}", but {what} takes "{right.args[0]}"',
        ctx.context,
        code=OPERATOR if name == ">>" else ARG_TYPE,
    )
    return _accepting_anything(sig, 0)


# --- messages ------------------------------------------------------------------


def _flat_args(fan: Instance) -> list[Type]:
    """The branch outputs of ``Fan[I, E, *Ts]``."""
    outputs: list[Type] = []
    for arg in fan.args[2:]:
        if isinstance(arg, UnpackType):
            inner = get_proper_type(arg.type)
            if isinstance(inner, TupleType):
                outputs.extend(inner.items)
                continue
            return []  # a variadic we cannot list
        outputs.append(arg)
    return outputs


def _known_callable(expr: Expression) -> CallableType | None:
    """The declared signature of a function named directly (no inference needed)."""
    if isinstance(expr, RefExpr):
        node = expr.node
        if isinstance(node, Decorator):
            if node.decorators:
                return None  # the decorated type is what counts: let mypy say
            node = node.func
        if isinstance(node, FuncDef):
            t = get_proper_type(node.type)
            if isinstance(t, CallableType) and not t.variables:
                return t
    return None


def _join_signature(ctx: MethodSigContext) -> FunctionLike:
    """``(a & b).join(fn)``: say which parameter of ``fn`` does not fit which branch."""
    sig = ctx.default_signature
    fan = get_proper_type(ctx.type)
    if not (ctx.args and ctx.args[0] and isinstance(fan, Instance)):
        return sig
    fn = _known_callable(ctx.args[0][0])
    outputs = _flat_args(fan)
    if fn is None or not outputs:
        return sig
    kinds = list(zip(fn.arg_types, fn.arg_kinds, strict=True))
    required = sum(1 for _, k in kinds if k == ARG_POS)
    positional = [t for t, k in kinds if k in (ARG_POS, ARG_OPT)]
    name = fn.name or "fn"
    shown = ", ".join(str(o) for o in outputs)
    problem = None
    if not required <= len(outputs) <= (len(positional) if not fn.is_var_arg else len(outputs)):
        problem = (
            f'join: "{name}" takes {required} positional argument(s), but the fan '
            f"has {len(outputs)} branch(es) giving ({shown}), in this order"
        )
    else:
        for index, (param, out) in enumerate(zip(positional, outputs, strict=False)):
            if not is_subtype(out, param):
                pname = fn.arg_names[index] or f"#{index + 1}"
                problem = (
                    f'join: parameter "{pname}" of "{name}" takes "{param}", but branch '
                    f'{index + 1} of the fan gives "{out}" (the branches give ({shown}), in order)'
                )
                break
    if problem is None:
        return sig
    ctx.api.fail(problem, ctx.context, code=ARG_TYPE)
    return _accepting_anything(sig, 0)


def _accepting_anything(sig: FunctionLike, index: int) -> FunctionLike:
    """``sig`` with parameter ``index`` taking Any and its type variables Any: one clear
    message, and nothing that follows from it."""
    from mypy.erasetype import erase_typevars

    anything = AnyType(TypeOfAny.from_error)
    item = sig.items[0]
    return item.copy_modified(
        arg_types=[
            anything if i == index else erase_typevars(t) for i, t in enumerate(item.arg_types)
        ],
        ret_type=erase_typevars(item.ret_type),
        variables=[],
    )


def _run_signature(ctx: FunctionSigContext) -> FunctionLike:
    """``run_sync(graph, x)``: name both types when ``x`` is not the graph's input."""
    sig = ctx.default_signature
    if len(ctx.args) < 2 or not ctx.args[0] or not ctx.args[1]:
        return sig
    graph = _as_graph(ctx.api.get_expression_type(ctx.args[0][0]))
    if graph is None:
        return sig
    value = ctx.api.get_expression_type(ctx.args[1][0], type_context=graph.args[0])
    if is_subtype(value, graph.args[0]):
        return sig
    shown = get_proper_type(value)
    if isinstance(shown, Instance) and shown.last_known_value is not None:
        shown = shown.copy_modified(last_known_value=None)
    name = sig.name.split(" ")[0] if isinstance(sig, CallableType) and sig.name else "run"
    ctx.api.fail(
        f'{name}: the graph takes "{graph.args[0]}", but the input given is "{shown}"',
        ctx.context,
        code=ARG_TYPE,
    )
    return _accepting_anything(sig, 1)


def _cases_signature(ctx: MethodSigContext) -> FunctionLike:
    """``route(sel).cases({...})``: name the key of a branch that does not fit."""
    sig = ctx.default_signature
    router = get_proper_type(ctx.type)
    if not (ctx.args and ctx.args[0] and isinstance(router, Instance)):
        return sig
    table = ctx.args[0][0]
    if not isinstance(table, DictExpr) or len(router.args) != 2:
        return sig
    wanted_in, key_type = router.args
    api = ctx.api
    inputs: list[Type] = [wanted_in]
    outputs: list[Type] = []
    errors: list[Type] = []
    for key_expr, value_expr in table.items:
        if key_expr is None:
            return sig
        key_text = _source(key_expr)
        key = api.get_expression_type(key_expr, type_context=key_type)
        if not is_subtype(key, key_type):
            api.fail(
                f'route case {key_text}: the key is "{key}", but the selector returns "{key_type}"',
                key_expr,
                code=DICT_ITEM,
            )
            return _accepting_anything(sig, 0)
        branch = _as_graph(api.get_expression_type(value_expr))
        if branch is None:
            return sig
        takes, gives = branch.args[0], branch.args[1]
        if not (is_subtype(wanted_in, takes) or is_subtype(takes, wanted_in)):
            api.fail(
                f'route case {key_text}: the branch takes "{takes}", but the selector '
                f'takes "{wanted_in}" (one must fit the other)',
                value_expr,
                code=DICT_ITEM,
            )
            return _accepting_anything(sig, 0)
        inputs.append(takes)
        outputs.append(gives)
        errors.append(branch.args[2])
        graph_info = branch.type
    if not outputs:
        return sig
    # In a dict literal mypy joins branches of different inputs or errors to
    # `object`; the route's type is known exactly: the narrowest input, the
    # union of the outputs and of the errors.
    narrowest = next((t for t in inputs if all(is_subtype(t, u) for u in inputs)), None)
    if narrowest is None:
        return sig
    graph = Instance(
        graph_info,
        [narrowest, make_simplified_union(outputs), make_simplified_union(errors)],
    )
    anything = AnyType(TypeOfAny.special_form)
    first = sig.items[0]
    return first.copy_modified(
        arg_types=[anything, *first.arg_types[1:]], ret_type=graph, variables=[]
    )


def _source(e: Expression) -> str:
    from mypy.nodes import StrExpr

    if isinstance(e, StrExpr):
        return repr(e.value)
    if isinstance(e, RefExpr):
        return e.fullname.rpartition(".")[2] if isinstance(e, NameExpr) else _member(e)
    return f"at column {e.column}"


def _member(e: RefExpr) -> str:
    if isinstance(e, MemberExpr):
        inner = e.expr
        prefix = inner.name if isinstance(inner, NameExpr) else "..."
        return f"{prefix}.{e.name}"
    return e.fullname


def _graph_arg(ctx: FunctionSigContext, expr: Expression) -> Instance | None:
    if isinstance(expr, LambdaExpr):
        return None
    return _as_graph(ctx.api.get_expression_type(expr))


def _update_signature(ctx: FunctionSigContext) -> FunctionLike:
    """``update(n1, n2)``: a node that does not return its input's type is named."""
    sig = ctx.default_signature
    nodes = [e for group in ctx.args[:1] for e in group] if len(ctx.args) == 1 else []
    if not nodes:  # positional-only parameters: one group per node
        nodes = [group[0] for group in ctx.args if group]
    state: Type | None = None
    for expr in nodes:
        graph = _graph_arg(ctx, expr)
        if graph is None:
            return sig
        takes, gives = graph.args[0], graph.args[1]
        if state is None:
            state = takes
        if not is_subtype(gives, takes):
            ctx.api.fail(
                f'update: the node {_source(expr)} takes "{takes}" but returns "{gives}"; '
                "a state node returns a delta: a value of its input's type",
                expr,
                code=ARG_TYPE,
            )
            return _accepting_anything_all(sig)
        if not (is_subtype(state, takes) or is_subtype(takes, state)):
            ctx.api.fail(
                f'update: the node {_source(expr)} takes "{takes}", but the first node '
                f'takes "{state}"; all nodes of one update run on one state',
                expr,
                code=ARG_TYPE,
            )
            return _accepting_anything_all(sig)
    return sig


def _loop_signature(ctx: FunctionSigContext) -> FunctionLike:
    """``loop(body, until=...)``: say what does not fit: the body's output or ``until``."""
    sig = ctx.default_signature
    if not ctx.args or not ctx.args[0]:
        return sig
    body = _graph_arg(ctx, ctx.args[0][0])
    if body is None:
        return sig
    takes, gives = body.args[0], body.args[1]
    if not is_subtype(gives, takes):
        ctx.api.fail(
            f'loop: the body takes "{takes}" but outputs "{gives}"; a loop body maps '
            "a state to the next state of the same type",
            ctx.args[0][0],
            code=ARG_TYPE,
        )
        return _accepting_anything_all(sig)
    return sig


def _accepting_anything_all(sig: FunctionLike) -> FunctionLike:
    from mypy.erasetype import erase_typevars

    item = sig.items[-1]
    anything = AnyType(TypeOfAny.from_error)
    return item.copy_modified(
        arg_types=[anything for _ in item.arg_types],
        ret_type=erase_typevars(item.ret_type),
        variables=[],
    )
