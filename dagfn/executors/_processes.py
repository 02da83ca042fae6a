"""`Processes`: worker processes managed by trio-parallel, payloads shipped with cloudpickle."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from dagfn._checks import positive_int
from dagfn.executors._base import Lifetime
from dagfn.executors._errors import WorkerLostError
from dagfn.executors._shipping import call_packed, pack, unpack

if TYPE_CHECKING:
    import trio_parallel

_WHERE = "a process worker"


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
    first use and kept until the executor is closed. Functions and arguments
    are pickled with cloudpickle, so lambdas and closures work; a module-level
    function must be importable in the workers (they are spawned, not forked).
    Each call costs a round trip through a pipe (well under a millisecond, see
    ``benchmarks/bench_executors.py``), so it pays off for steps of a few
    milliseconds or more.

    Workers are spawned, so they import your program's ``__main__`` module
    again: guard its entry point with ``if __name__ == "__main__":``.

    Cancellation kills the worker running the function (SIGKILL) and waits for
    it to exit; a fresh one replaces it on the next call. Closing the executor
    waits for running calls, then stops every worker. A worker that dies while
    running a function raises `WorkerLostError`.

    The workers belong to the trio run that opened the executor: open it in
    the run that uses it (``run()`` does this for an unopened executor).
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None:
            positive_int("workers", workers, what="None or a positive int")
        require("Processes", "trio_parallel", "cloudpickle", extra="processes")
        super().__init__()
        self.workers = workers
        # Shared by every submit: at most `workers` processes busy at once.
        self._limiter = trio.CapacityLimiter(workers or os.cpu_count() or 1)
        # Set while opened: trio-parallel's context owns the worker processes.
        self._context: trio_parallel.WorkerContext | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None

    async def _open(self) -> None:
        import trio_parallel

        stack = contextlib.AsyncExitStack()
        self._context = await stack.enter_async_context(trio_parallel.open_worker_context())
        self._exit_stack = stack

    async def _close(self) -> None:
        stack, self._exit_stack, self._context = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` in a worker process; raise its exception with the original type."""
        import trio_parallel

        if self._context is None:
            raise self._not_open(step)
        payload = pack(fn, args, step=step, where=_WHERE)
        try:
            reply = await self._context.run_sync(
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
