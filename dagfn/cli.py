"""The ``dagfn`` command: run, draw and check graphs, and look at journaled runs.

Exit codes scripts can rely on: 0 success, 1 the run failed (or ``check``
found problems), 2 bad usage (unknown graph, bad JSON, bad answer), 3 the run
is paused at an interrupt (answer it with ``--store FILE --run-id ID --answer JSON``;
only a run journaled in a ``--store`` can be answered).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import cattrs
import trio
from returns.result import Failure, Success

from dagfn._durable import history, resume
from dagfn._errors import DagfnError
from dagfn._failures import Paused, RunFailure
from dagfn._graph import Graph
from dagfn._interpret import run
from dagfn._journal import converter, input_type, loads
from dagfn._plan import plan_of
from dagfn._render import to_mermaid
from dagfn._trace import Event
from dagfn.store import MemoryStore, SqliteStore, Store

OK, FAILED, USAGE, PAUSED = 0, 1, 2, 3


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


def open_store(url: str) -> Store:
    """A store from a URL: a file path or ``sqlite:///path``, ``redis://...``, ``memory:``."""
    if url == "memory:":
        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dagfn.store import RedisStore

        return RedisStore(url)
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SqliteStore(path)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{what} is not valid JSON: {error}") from error


class Progress:
    """A one-line progress bar on a terminal, fed by run events."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.out = out

    def __call__(self, event: Event) -> None:
        if event.kind in ("finish", "fail", "skip"):
            self.done += 1
        if event.kind in ("start", "finish", "fail"):
            width = 30
            filled = min(width, width * self.done // self.total)
            bar = "#" * filled + "." * (width - filled)
            line = f"\r[{bar}] {self.done}/{self.total} {event.kind} {event.step}"
            self.out.write(line[:120].ljust(120))
            self.out.flush()

    def close(self) -> None:
        self.out.write("\r" + " " * 120 + "\r")
        self.out.flush()


def _print_outcome(result: Any, out: TextIO, err: TextIO, store: str | None = None) -> int:
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
                f"paused: answer with --store {shlex.quote(store)} --run-id {paused.run_id} "
                "--answer JSON "
                "(several pending: --answer '{\"step path\": answer, ...}' with --by-step)\n"
            )
            return PAUSED
        case Failure(RunFailure() as failure):
            for f in failure.failures:
                err.write(f"failed: {f.step}: {f.error!r}\n")
                if f.not_run:
                    err.write(f"  not run: {', '.join(f.not_run)}\n")
            err.write(f"completed: {len(failure.completed)} steps\n")
            return FAILED
    raise AssertionError(f"unexpected outcome {result!r}")  # pragma: no cover


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    graph = load_graph(args.graph)
    plan = plan_of(graph)
    store = open_store(args.store) if args.store else None
    if args.answer is not None and (store is None or args.run_id is None):
        raise UsageError("--answer needs --store and --run-id (the paused run to answer)")
    progress = Progress(len(plan.user_steps()), err) if err.isatty() and not args.quiet else None
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
        if args.input is None:
            raise UsageError("--input JSON is required (the run's input)")
        data = _json(args.input, "--input")
        try:
            x = loads(json.dumps(data), input_type(plan))
        except Exception as error:
            detail = "; ".join(cattrs.transform_error(error)) or str(error)
            raise UsageError(f"--input does not fit the graph's input type: {detail}") from error
        return await run(graph, x, store=store, run_id=args.run_id, on_event=on_event)

    try:
        result = trio.run(main)
    finally:
        if progress is not None:
            progress.close()
        if store is not None:
            store.close()
    return _print_outcome(result, out, err, args.store)


def _mermaid(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    graph = load_graph(args.graph)
    statuses: dict[str, str] | None = None
    if args.run_id is not None:
        if not args.store:
            raise UsageError("--run-id needs --store")
        store = open_store(args.store)
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
    from dagfn._edgecheck import check_edges

    mismatches = check_edges(graph)
    for mismatch in mismatches:
        err.write(f"mismatch: {mismatch}\n")
    if mismatches:
        return FAILED
    steps = plan.user_steps()
    edges = sum(len(plan.deps[i]) for i in range(len(plan)))
    out.write(
        f"ok: {len(steps)} steps, {edges} edges, {len(plan.regions)} recover regions, "
        f"{len(plan.pauses)} interrupts, critical path {max(plan.rank, default=0) - 1} steps\n"
    )
    return OK


def _runs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    store = open_store(args.store)
    try:
        if args.action == "list":
            for info in store.list_runs():
                out.write(f"{info.run_id}\t{info.status}\t{info.updated_at:.3f}\n")
            return OK
        if args.run_id is None:
            raise UsageError("runs show needs a RUN_ID")
        info = store.get_run(args.run_id)
        out.write(f"run {info.run_id}: {info.status}\n")
        for row in history(store, args.run_id):
            took = row.finished_at - row.started_at
            line = f"  {row.status:8} {row.step}  {took * 1000:.1f} ms  attempts={row.attempts}"
            out.write(line + (f"  error={row.error}" if row.error else "") + "\n")
        return OK
    finally:
        store.close()


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
        data = _json(args.input, "--input")
        try:
            x = loads(json.dumps(data), input_type(plan_of(graph)))
        except Exception as error:
            detail = "; ".join(cattrs.transform_error(error)) or str(error)
            raise UsageError(f"--input does not fit the graph's input type: {detail}") from error
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
    parser = argparse.ArgumentParser(prog="dagfn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a graph on a JSON input")
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.add_argument("--input", help="the run input as JSON (structured into the input type)")
    p.add_argument("--store", help="sqlite path or URL, redis://..., memory:")
    p.add_argument("--run-id", help="journal under this id (resumes it if it exists)")
    p.add_argument("--answer", help="JSON answer to the run's pending interrupt")
    p.add_argument("--by-step", action="store_true", help="--answer maps step paths to answers")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run)
    p = sub.add_parser("mermaid", help="print the graph as a mermaid flowchart")
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.add_argument("--store")
    p.add_argument("--run-id", help="colour the steps by this journaled run")
    p.set_defaults(handler=_mermaid)
    p = sub.add_parser(
        "check", help="build the plan, compare the annotations on every edge, report problems"
    )
    p.add_argument("graph", metavar="MODULE:GRAPH")
    p.set_defaults(handler=_check)
    p = sub.add_parser("runs", help="list journaled runs or show one")
    p.add_argument("action", choices=("list", "show"))
    p.add_argument("run_id", nargs="?")
    p.add_argument("--store", required=True)
    p.set_defaults(handler=_runs)
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
