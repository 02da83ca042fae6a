"""`Processes`: worker processes managed by trio-parallel, payloads shipped with cloudpickle.

The workers outlive a trio run: they belong to the executor object, which
keeps them warm for every run it serves (``run_sync`` included, a new trio
run each) until it is closed or garbage-collected. Each worker watches its
parent (`watch_parent`) and ends within `WATCH_SECONDS` of the parent's death,
even in the middle of a step.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import trio

from dagfn._checks import positive_int
from dagfn.executors._base import Lifetime
from dagfn.executors._errors import ExecutorUnavailableError, WorkerLostError
from dagfn.executors._shipping import call_packed, pack, unpack

if TYPE_CHECKING:
    import trio_parallel

_WHERE = "a process worker"
WATCH_SECONDS: Final = 0.1  # how often a worker checks that its parent lives
_GRACE_SECONDS: Final = 5.0  # closing: how long idle workers get to exit before SIGKILL


def require(executor: str, *modules: str, extra: str) -> None:
    """Import optional dependencies now, or raise an ImportError saying how to install them."""
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            message = (
                f"{executor} needs the optional dependency {module!r}: pip install 'dagfn[{extra}]'"
            )
            raise ImportError(message, name=module) from exc


class Processes(Lifetime):
    """Run functions in worker processes (trio-parallel), for CPU-bound pure-Python steps.

    ``workers`` processes at most (default: the number of CPUs), started on
    first use and kept warm between runs, ``run_sync`` ones included, until
    `close` (or ``with Processes() as pool:``, or garbage collection, or the
    end of the program). Functions and arguments
    are pickled with cloudpickle, so lambdas and closures work; a module-level
    function must be importable in the workers (they are spawned, not forked).
    Each call costs a round trip through a pipe (well under a millisecond, see
    ``benchmarks/bench_executors.py``), so it pays off for steps of a few
    milliseconds or more.

    Workers are spawned, so they import your program's ``__main__`` module
    again: guard its entry point with ``if __name__ == "__main__":``. A run
    made from unguarded module-level code raises `ExecutorUnavailableError`
    saying so before any worker starts.

    Cancellation kills the worker running the function (SIGKILL) and waits for
    it to exit; a fresh one replaces it on the next call. A worker that dies
    while running a function raises `WorkerLostError`; a worker whose parent
    process dies (even by SIGKILL) ends within a fraction of a second.

    ``async with`` (which ``run()`` does for the run) marks where the executor
    is in use and may be nested; leaving it keeps the workers. Close the
    executor when no run uses it.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None:
            positive_int("workers", workers, what="None or a positive int")
        require("Processes", "trio_parallel", "cloudpickle", extra="processes")
        super().__init__()
        self.workers = workers
        # Shared by every submit: at most `workers` processes busy at once.
        self._limiter = trio.CapacityLimiter(workers or os.cpu_count() or 1)
        # trio-parallel's context owns the worker processes: made on the first open,
        # kept across runs; `_stop` ends its workers (on close, collection or exit).
        self._context: trio_parallel.WorkerContext | None = None
        self._stop: weakref.finalize[[trio_parallel.WorkerContext], Processes] | None = None

    async def _open(self) -> None:
        import trio_parallel

        unguarded = unguarded_main()
        if unguarded is not None:
            message = (
                f"Processes: {unguarded} starts a run at import time, outside "
                '`if __name__ == "__main__":`; worker processes import the main module '
                "again and would run it too: put the program's entry point under that guard"
            )
            raise ExecutorUnavailableError(message, step=None)
        if self._context is None:
            watch = functools.partial(watch_parent, os.getpid())
            # Not `open_worker_context()`: its context is closed with the trio run that
            # opened it, and these workers serve every run until `close`.
            context = trio_parallel.WorkerContext._create(  # type: ignore[attr-defined]
                init=watch, grace_period=_GRACE_SECONDS
            )
            self._context = context
            self._stop = weakref.finalize(self, _stop_workers, context)
        await trio.lowlevel.checkpoint()

    async def _close(self) -> None:
        await trio.lowlevel.checkpoint()  # the workers stay warm for the next run

    def close(self) -> None:
        """Stop every worker (idempotent; blocks until they exit). Not while a run uses it.

        The executor can be used again: new workers start on the next run.
        """
        stop, self._stop, self._context = self._stop, None, None
        if stop is not None:
            stop()

    async def aclose(self) -> None:
        """`close` from async code, in a worker thread."""
        await trio.to_thread.run_sync(self.close)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def live_workers(self) -> int:
        """How many worker processes are started and alive (idle or busy)."""
        context = self._context
        if context is None:
            return 0
        statistics = context.statistics()
        return statistics.idle_workers + statistics.running_workers

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` in a worker process; raise its exception with the original type."""
        import trio_parallel

        context = self._context
        if context is None or not self.opened:
            raise self._not_open(step)
        payload = pack(fn, args, step=step, where=_WHERE)
        try:
            reply = await context.run_sync(
                call_packed, payload, kill_on_cancel=True, limiter=self._limiter
            )
        except trio_parallel.BrokenWorkerError as exc:
            message = f"step {step!r}: the process worker running it died{_exit_status(exc)}"
            raise WorkerLostError(message, step=step) from exc
        return unpack(reply, step=step, where=_WHERE)

    def __repr__(self) -> str:
        return f"Processes(workers={self.workers})"


def _exit_status(error: BaseException) -> str:
    """`` (killed by SIGKILL)`` or `` (exit code 3)`` from trio-parallel's error, if it says."""
    import signal

    for arg in error.args:
        code = getattr(arg, "exitcode", None)
        if isinstance(code, int):
            if code < 0:
                with contextlib.suppress(ValueError):
                    return f" (killed by {signal.Signals(-code).name})"
            return f" (exit code {code})"
    return ""


def _stop_workers(context: trio_parallel.WorkerContext) -> None:
    """End a context's idle workers: politely, then by SIGKILL after the grace period."""
    with contextlib.suppress(Exception):  # a worker that had to be killed: it is gone all the same
        context._worker_cache.shutdown(_GRACE_SECONDS)  # type: ignore[attr-defined]


def watch_parent(parent: int) -> None:
    """In a worker process: end it within `WATCH_SECONDS` of its parent's death.

    Started by trio-parallel in each worker before its first call. Not
    ``PR_SET_PDEATHSIG``: that fires when the parent *thread* that started the
    worker ends, and trio starts workers from short-lived worker threads.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGKILL)  # a step in progress must not run on

    threading.Thread(target=watch, name="dagfn-parent-watch", daemon=True).start()


def unguarded_main() -> str | None:
    """``"<file> line N"`` if the caller runs inside the ``__main__`` module's top-level code
    outside an ``if __name__ == "__main__":`` block; None otherwise.

    Spawned workers import the main module again (as ``__mp_main__``), so such
    code would run in every worker too.
    """
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if main is None or not isinstance(file, str):
        return None  # an interactive session, ``python -c``: nothing is imported again
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            break
        frame = frame.f_back
    else:
        return None  # the main module's code has finished: a call from elsewhere
    line = frame.f_lineno
    guarded = _guarded_lines(file)
    if guarded is None or any(first <= line <= last for first, last in guarded):
        return None
    return f"{file} line {line}"


@functools.cache
def _guarded_lines(file: str) -> tuple[tuple[int, int], ...] | None:
    """Line ranges of the bodies of ``if __name__ == "__main__":`` blocks (None: unreadable)."""
    try:
        with open(file, encoding="utf-8") as source:
            tree = ast.parse(source.read(), file)
    except (OSError, SyntaxError, ValueError):
        return None
    ranges: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
            last = node.body[-1].end_lineno or node.body[-1].lineno
            ranges.append((node.body[0].lineno, last))
    return tuple(ranges)


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = {ast.dump(test.left), ast.dump(test.comparators[0])}
    return sides == {ast.dump(ast.Name("__name__", ast.Load())), ast.dump(ast.Constant("__main__"))}
