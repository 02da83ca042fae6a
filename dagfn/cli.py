"""The ``dagfn`` command: run, draw and check graphs, and look at journaled runs.

Exit codes scripts can rely on: 0 success, 1 the run failed (or ``check``
found problems), 2 bad usage (unknown graph, bad JSON, bad answer), 3 the run
is paused at an interrupt (answer it with ``--store FILE --run-id ID --answer JSON``;
only a run journaled in a ``--store`` can be answered).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any, TextIO

import trio
from returns.result import Failure, Success

from dagfn._convert import describe, make_converter
from dagfn._durable import history, resume
from dagfn._errors import DagfnError
from dagfn._failures import Paused, RunFailure, format_traceback, raised_at
from dagfn._graph import Graph
from dagfn._interpret import run
from dagfn._journal import converter, input_type, read_input
from dagfn._plan import Plan, plan_of
from dagfn._render import to_mermaid
from dagfn._trace import Event
from dagfn.store import MemoryStore, SqliteStore, Store, StoreError, UnknownRunError

OK, FAILED, USAGE, PAUSED = 0, 1, 2, 3

_EPILOG = """\
exit codes: 0 success, 1 the run failed (or check found problems), 2 bad usage
(unknown graph, bad JSON, bad answer), 3 the run is paused at an interrupt
(answer it with --store FILE --run-id ID --answer JSON)."""


class UsageError(DagfnError, ValueError):
    """A command-line argument is wrong; the message says which and why."""


def load_graph(spec: str) -> Graph[Any, Any, Any]:
    """The graph named by ``MODULE:ATTRIBUTE`` (the current directory is importable)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"expected MODULE:GRAPH (e.g. examples.rag:pipeline), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"cannot import module {module_name!r}: {error}") from error
    graph: object = module
    for part in attribute.split("."):
        if not hasattr(graph, part):
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}")
        graph = getattr(graph, part)
    if not isinstance(graph, Graph):
        raise UsageError(f"{spec} is a {type(graph).__name__}, not a dagfn Graph")
    return graph


def open_store(url: str, *, existing: bool = False) -> Store:
    """A store from a URL: a file path or ``sqlite:///path``, ``redis://...``,
    ``postgresql://...``, ``memory:``.

    ``existing``: the command only reads, so a file that does not exist is an
    error (rather than a new, empty store). A store that cannot be opened is a
    `UsageError` naming it, in one line.
    """
    if url == "memory:":
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        from dagfn.store import PostgresStore

        return PostgresStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dagfn.store import RedisStore

        return RedisStore(url)
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if existing and not os.path.exists(path):
        raise UsageError(f"no store at {path!r}: the file does not exist")
    try:
        return SqliteStore(path)
    except (sqlite3.Error, OSError, StoreError) as error:
        reason = str(error).replace("\n", " ")
        folder = os.path.dirname(path) or "."
        if os.path.isdir(path):
            reason = "it is a directory"
        elif not os.path.isdir(folder):
            reason = "its directory does not exist"
        elif os.statvfs(folder).f_flag & os.ST_RDONLY:
            reason = f"its file system is read-only ({reason})"
        raise UsageError(f"cannot open the store {path!r}: {reason}") from error


def escaped(text: str) -> str:
    """``text`` for one line of a terminal: backslashes and unprintable characters
    as Python escapes (``\\x1b``), everything else as is."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def shell_word(text: str) -> str:
    """``text`` quoted as one word for a POSIX shell (bash's ``$'...'`` when unprintable)."""
    if text.isprintable():
        return shlex.quote(text)
    body = "".join(
        ch
        if ch.isprintable() and ch not in "\\'"
        else ("\\" + ch if ch in "\\'" else ch.encode("unicode_escape").decode("ascii"))
        for ch in text
    )
    return f"$'{body}'"


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{what} is not valid JSON: {error}") from error


# Inputs come from outside, like answers: no coercion of scalars, no unknown keys.
_inputs = make_converter(json=True, forbid_extra_keys=True, strict_scalars=True)


def structure_input(text: str, plan: Plan) -> Any:
    """``--input`` JSON as the graph's input type, or a `UsageError` saying what does not fit."""
    data = _json(text, "--input")
    try:
        return _inputs.structure(data, input_type(plan))
    except Exception as error:
        msg = f"--input does not fit the graph's input type: {describe(error, '--input')}"
        raise UsageError(msg) from error


def _branches(plan: Plan) -> dict[str, list[tuple[int, frozenset[str]]]]:
    """Per user step in a route branch: (its route, the user steps of the other branches).

    A route's branches start at its gates (one per key, with the same inputs);
    a branch is what its gate reaches and the route's other gates do not.
    """
    routes: dict[tuple[int, ...], list[int]] = {}
    for gate in plan.gate_keys:
        routes.setdefault(plan.deps[gate], []).append(gate)
    found: dict[str, list[tuple[int, frozenset[str]]]] = {}
    for number, gates in enumerate(routes.values()):
        reach = {g: set(plan.descendants([g])) for g in gates}
        common = set.intersection(*reach.values())
        own = {
            g: frozenset(plan.paths[i] for i in reach[g] - common if not plan.internal[i])
            for g in gates
        }
        for g in gates:
            others = frozenset().union(*(own[h] for h in gates if h != g))
            for path in own[g]:
                found.setdefault(path, []).append((number, others))
    return found


class Progress:
    """A one-line progress bar on a terminal, fed by run events.

    It counts the steps that can still run: once a step of a route's branch
    runs, the steps of the route's other branches leave the total.
    """

    def __init__(self, plan: Plan, out: TextIO) -> None:
        self.paths = {plan.paths[i] for i in plan.user_steps()}
        self.total = len(self.paths)
        self.ended: set[str] = set()
        self.branches = _branches(plan)
        self.routes_taken: set[int] = set()
        self.out = out

    @property
    def done(self) -> int:
        return len(self.ended)

    def __call__(self, event: Event) -> None:
        step = event.step
        if step not in self.paths:  # a loop body's step: its loop step counts for it
            return
        for route, others in self.branches.get(step, ()):
            if route not in self.routes_taken:
                self.routes_taken.add(route)
                self.total -= len(others - self.ended)
        if event.kind in ("finish", "fail", "skip", "pause"):
            self.ended.add(step)
        if event.kind in ("start", "finish", "fail"):
            width = 30
            total = max(self.total, 1)
            filled = min(width, width * self.done // total)
            bar = "#" * filled + "." * (width - filled)
            line = f"\r[{bar}] {self.done}/{self.total} {event.kind} {step}"
            self.out.write(line[:120].ljust(120))
            self.out.flush()

    def close(self) -> None:
        self.out.write("\r" + " " * 120 + "\r")
        self.out.flush()


def _print_outcome(
    result: Any, out: TextIO, err: TextIO, store: str | None = None, traceback: bool = False
) -> int:
    match result:
        case Success(value):
            out.write(json.dumps(converter.unstructure(value), indent=2, default=repr) + "\n")
            return OK
        case Failure(Paused() as paused):
            prompts = [
                {"step": p.step, "prompt": converter.unstructure(p.prompt)} for p in paused.pending
            ]
            out.write(json.dumps({"paused": paused.run_id, "pending": prompts}, default=repr))
            out.write("\n")
            if store is None or store == "memory:":  # gone when this process exits
                where = "no --store" if store is None else "--store memory: (in this process only)"
                err.write(
                    f"paused, but {where} journaled the run, so it cannot be answered: "
                    "run again with --store FILE to pause durably\n"
                )
                return PAUSED
            err.write(
                f"paused: answer with --store {shell_word(store)} --run-id "
                f"{shell_word(paused.run_id)} "
                "--answer JSON "
                "(several pending: --answer '{\"step path\": answer, ...}' with --by-step)\n"
            )
            return PAUSED
        case Failure(RunFailure() as failure):
            for f in failure.failures:
                err.write(f"failed: {f.step}: {f.error!r}\n")
                raised = raised_at(f.error)
                if traceback:
                    err.write("  " + format_traceback(f.error).rstrip("\n").replace("\n", "\n  "))
                    err.write("\n")
                elif raised:
                    err.write(f"  raised at {raised}\n")
                if f.not_run:
                    err.write(f"  not run: {', '.join(f.not_run)}\n")
            err.write(f"completed: {len(failure.completed)} steps\n")
            if not traceback and any(raised_at(f.error) for f in failure.failures):
                err.write("(--traceback, or -v, prints the failed steps' tracebacks)\n")
            return FAILED
    raise AssertionError(f"unexpected outcome {result!r}")  # pragma: no cover


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    graph = load_graph(args.graph)
    plan = plan_of(graph)
    store = open_store(args.store) if args.store else None
    if args.answer is not None and (store is None or args.run_id is None):
        raise UsageError("--answer needs --store and --run-id (the paused run to answer)")
    progress = Progress(plan, err) if err.isatty() and not args.quiet else None
    on_event = progress

    async def main() -> Any:
        if args.answer is not None:
            assert store is not None
            answer = _json(args.answer, "--answer")
            if args.by_step:
                return await resume(
                    graph, args.run_id, store=store, answers=answer, on_event=on_event
                )
            return await resume(graph, args.run_id, store=store, answer=answer, on_event=on_event)
        if args.input is not None:
            x = structure_input(args.input, plan)
        elif store is not None and args.run_id is not None:  # a journaled run: its own input
            try:
                info = await trio.to_thread.run_sync(store.get_run, args.run_id)
            except UnknownRunError:
                msg = f"--input JSON is required: run {args.run_id!r} is not in the store yet"
                raise UsageError(msg) from None
            x = read_input(plan, info)
        else:
            raise UsageError("--input JSON is required (the run's input)")
        return await run(graph, x, store=store, run_id=args.run_id, on_event=on_event)

    try:
        result = trio.run(main)
    finally:
        if progress is not None:
            progress.close()
        if store is not None:
            store.close()
    return _print_outcome(result, out, err, args.store, args.traceback)


def _mermaid(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    graph = load_graph(args.graph)
    statuses: dict[str, str] | None = None
    if args.run_id is not None:
        if not args.store:
            raise UsageError("--run-id needs --store")
        store = open_store(args.store, existing=True)
        try:
            names = {"done": "completed", "failed": "failed", "paused": "paused"}
            statuses = {
                row.step: names.get(row.status, row.status) for row in history(store, args.run_id)
            }
        finally:
            store.close()
    out.write(to_mermaid(graph, statuses))
    return OK


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        graph = load_graph(args.graph)
        plan = plan_of(graph)
    except DagfnError as error:
        err.write(f"problem: {error}\n")
        return FAILED
    steps = plan.user_steps()
    edges = sum(len(plan.deps[i]) for i in range(len(plan)))
    out.write(
        f"ok: {len(steps)} steps, {edges} edges, {len(plan.regions)} recover regions, "
        f"{len(plan.pauses)} interrupts, critical path {max(plan.rank, default=0) - 1} steps\n"
    )
    return OK


def _when(seconds: float) -> str:
    """Wall-clock seconds as local ISO time, to the second."""
    return datetime.datetime.fromtimestamp(seconds).isoformat(timespec="seconds")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned under their header; the last column is not padded."""
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _internal(path: str) -> bool:
    """Plumbing a journal keeps (region results, a state update's fold): ``<...>`` paths."""
    return "<" in path.rpartition("/")[2]


def _pending(store: Store, run_id: str) -> str:
    prompts = []
    for path, entry in store.entries(run_id).items():
        if entry.status == "paused":
            prompt = json.loads(entry.output_json) if entry.output_json else None
            text = prompt if isinstance(prompt, str) else json.dumps(prompt)
            prompts.append(f"{path}: {text}")
    return escaped("; ".join(prompts))


def _runs_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _store(args.store) as store:
        rows = [
            (
                escaped(info.run_id),
                info.status,
                _when(info.created_at),
                _when(info.updated_at),
                _pending(store, info.run_id) if info.status == "paused" else "",
            )
            for info in store.list_runs()
        ]
    if not rows:
        out.write("no runs\n")
        return OK
    out.write(_table(("RUN", "STATUS", "STARTED", "UPDATED", "PENDING"), rows))
    return OK


def _runs_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _store(args.store) as store:
        info = store.get_run(args.run_id)
        steps = history(store, args.run_id)
        pending = _pending(store, args.run_id)
    if args.gantt:
        from dagfn._render import gantt_of_rows

        out.write(gantt_of_rows(args.run_id, steps, all_steps=args.all))
        return OK
    out.write(f"run {escaped(info.run_id)}: {info.status}, started {_when(info.created_at)}, ")
    out.write(f"updated {_when(info.updated_at)}\n")
    if pending:
        out.write(f"pending: {pending}\n")
    shown = [r for r in steps if args.all or not _internal(r.step)]
    rows = [
        (
            escaped(r.step),
            r.status,
            _when(r.started_at),
            f"{(r.finished_at - r.started_at) * 1000:.1f} ms",
            str(r.attempts),
            escaped(r.error or ""),
        )
        for r in shown
    ]
    if rows:
        out.write(_table(("STEP", "STATUS", "STARTED", "TOOK", "ATTEMPTS", "ERROR"), rows))
    hidden = len(steps) - len(shown)
    if hidden:
        out.write(f"({hidden} internal steps hidden; --all shows them)\n")
    return OK


class _store:
    """``with _store(url) as store``: an existing store opened from a URL (to read),
    closed after."""

    def __init__(self, url: str) -> None:
        self.store = open_store(url, existing=True)

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, *_: object) -> None:
        self.store.close()


def _bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import trio.testing

    from dagfn import _benchmark

    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {args.concurrency}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.graph is None:
        cases = _benchmark.workloads(args.workload or _benchmark.WORKLOADS, scale=args.scale)
    else:
        graph = load_graph(args.graph)
        if args.input is None:
            raise UsageError("--input JSON is required with MODULE:GRAPH (the runs' input)")
        x = structure_input(args.input, plan_of(graph))
        cases = {args.graph: _benchmark.Case(graph, x)}

    async def main() -> list[_benchmark.Timing]:
        return await _benchmark.compare(cases, concurrency=args.concurrency, repeats=args.repeats)

    clock = trio.testing.MockClock(autojump_threshold=0) if args.virtual else None
    timings = trio.run(main, clock=clock)
    out.write(f"makespan per policy, Limits(concurrency={args.concurrency}), ")
    out.write(f"median of {args.repeats} run(s){' in virtual time' if args.virtual else ''}\n")
    out.write(_benchmark.table(timings))
    return FAILED if any(t.error for t in timings) else OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dagfn",
        description="Run, draw and check dagfn graphs, and look at journaled runs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dagfn {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="run a graph on a JSON input")
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.add_argument("--input", help="the run input as JSON (structured into the input type)")
    p.add_argument("--store", help="sqlite path or URL, redis://..., postgresql://..., memory:")
    p.add_argument("--run-id", help="journal under this id (resumes it if it exists)")
    p.add_argument("--answer", help="JSON answer to the run's pending interrupt")
    p.add_argument("--by-step", action="store_true", help="--answer maps step paths to answers")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--traceback", "-v", action="store_true", help="print the failed steps' tracebacks"
    )
    p.set_defaults(handler=_run)
    p = sub.add_parser("mermaid", help="print the graph as a mermaid flowchart")
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.add_argument("--store")
    p.add_argument("--run-id", help="colour the steps by this journaled run")
    p.set_defaults(handler=_mermaid)
    p = sub.add_parser("check", help="build the plan and report problems")
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.set_defaults(handler=_check)
    p = sub.add_parser("runs", help="list journaled runs or show one")
    runs = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = runs.add_parser("list", help="every run in a store: status, times, pending prompts")
    q.add_argument("--store", required=True, help="sqlite path or URL, redis://...")
    q.set_defaults(handler=_runs_list)
    q = runs.add_parser("show", help="one run's steps: status, start, duration, attempts")
    q.add_argument("run_id", metavar="RUN_ID")
    q.add_argument("--store", required=True, help="sqlite path or URL, redis://...")
    q.add_argument("--all", action="store_true", help="also internal steps (<update>, ...)")
    q.add_argument("--gantt", action="store_true", help="a mermaid gantt chart of the steps")
    q.set_defaults(handler=_runs_show)
    p = sub.add_parser("bench", help="compare the scheduling policies' makespans")
    p.add_argument("graph", metavar="MODULE:GRAPH", nargs="?", help="default: built-in workloads")
    p.add_argument("--input", help="the run input as JSON, with MODULE:GRAPH")
    p.add_argument("--workload", action="append", choices=("makespan", "layered"))
    p.add_argument("--concurrency", type=int, default=4, help="Limits(concurrency=K), default 4")
    p.add_argument("--repeats", type=int, default=3, help="runs per policy (median), default 3")
    p.add_argument("--scale", type=float, default=1.0, help="multiply built-in durations")
    p.add_argument("--virtual", action="store_true", help="trio's MockClock: sleeps take no time")
    p.set_defaults(handler=_bench)
    return parser


def version() -> str:
    """dagfn's version, from the installed package's metadata."""
    try:
        return metadata.version("dagfn")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args, out, err)
    except DagfnError as error:  # UsageError, InvalidAnswer, unknown run id, ...
        err.write(f"dagfn: {error}\n")
        return USAGE
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
