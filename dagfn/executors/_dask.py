"""`Dask`: step functions run on a Dask distributed cluster, orchestrated from trio.

Dask's client lives on its own asyncio/tornado event loop, in a thread it
starts itself; dagfn lives on trio. The two meet through threads: the executor
holds a *synchronous* `distributed.Client`, and every blocking call on it
(start, wait for a result, cancel, close) runs in a trio worker thread;
``submit``, which only queues a message, is called directly. Waiting threads
are abandoned on cancellation, which then cancels the Dask future, so the
abandoned wait ends promptly too.
"""

from __future__ import annotations

import concurrent.futures
import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from dagfn._checks import positive_int
from dagfn.executors._base import Lifetime
from dagfn.executors._errors import ExecutorError, ExecutorUnavailableError, WorkerLostError
from dagfn.executors._processes import require
from dagfn.executors._shipping import Reply, call_packed, pack, unpack

if TYPE_CHECKING:
    import distributed

_WHERE = "a Dask worker"
# Seconds to wait for the scheduler to acknowledge a cancellation before giving up on it.
_CANCEL_TIMEOUT = 10.0


class Dask(Lifetime):
    """Run functions on a Dask distributed cluster: an existing one, or a LocalCluster.

    ``Dask("tcp://scheduler:8786")`` connects to a running scheduler; closing
    the executor closes the client, never that cluster. Its workers must be able
    to import dagfn and the modules of your step functions (lambdas and
    closures are shipped by value). ``Dask()`` starts a ``LocalCluster`` of
    ``n_workers`` workers (processes, or threads of this process with
    ``processes=False``), each with ``threads_per_worker`` threads, and closes
    it with the executor. That cluster does not re-run a task whose worker died
    (``distributed.scheduler.allowed-failures`` is 0): the step fails with
    `WorkerLostError` and dagfn's retry policy decides. Its dashboard is off.

    Each call costs a few milliseconds of scheduling, so use Dask for heavy
    steps, or when one machine is not enough.

    Cancellation cancels the Dask future: a queued task never starts and the
    scheduler forgets it. Dask cannot interrupt a task already running in a
    worker thread: it runs to its end, keeping that thread busy meanwhile, and
    its result is discarded. Closing the executor (and so its LocalCluster)
    stops every worker process, busy or not.

    The client lives in threads, not in a trio run: one opened `Dask` may serve
    several trio runs, and must be closed by the last of them.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int = 2,
        processes: bool = True,
        threads_per_worker: int = 1,
    ) -> None:
        positive_int("n_workers", n_workers)
        positive_int("threads_per_worker", threads_per_worker)
        require("Dask", "distributed", "cloudpickle", extra="dask")
        super().__init__()
        self.address = address
        self.n_workers = n_workers
        self.processes = processes
        self.threads_per_worker = threads_per_worker
        # Set while opened. `_cluster` is only set when this executor started it.
        self._client: distributed.Client | None = None
        self._cluster: distributed.LocalCluster | None = None
        # Threads blocked on a result: one per running step, so no small limit.
        self._waiters = trio.CapacityLimiter(math.inf)

    @property
    def client(self) -> distributed.Client:
        """The synchronous Dask client, while opened (e.g. to upload files or inspect)."""
        if self._client is None:
            message = f"the {type(self).__name__} executor is not open"
            raise ExecutorUnavailableError(message, step=None)
        return self._client

    async def _open(self) -> None:
        # Not abandoned on cancellation: a half-started cluster would leak; the
        # caller's cancellation is delivered right after, and closes it again.
        self._client, self._cluster = await trio.to_thread.run_sync(self._start)

    def _start(self) -> tuple[distributed.Client, distributed.LocalCluster | None]:
        import dask
        import distributed

        # distributed's constructors are unannotated: these typed aliases are the
        # only way this module calls them.
        new_client: Callable[..., distributed.Client] = distributed.Client
        new_cluster: Callable[..., distributed.LocalCluster] = distributed.LocalCluster
        if self.address is not None:
            try:
                client = new_client(self.address, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                message = (
                    f"the Dask executor cannot reach the scheduler at {self.address!r}: "
                    f"{type(exc).__name__}: {exc}"
                )
                raise ExecutorUnavailableError(message, step=None) from exc
            return client, None
        with dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 0,
                # Send every ready task to a worker at once instead of queueing
                # them on the scheduler: one round trip less per step.
                "distributed.scheduler.worker-saturation": float("inf"),
                # The workers' statistical profiler samples every 10 ms: CPU the
                # steps need more on a small machine.
                "distributed.worker.profile.enabled": False,
            }
        ):
            cluster = new_cluster(
                n_workers=self.n_workers,
                processes=self.processes,
                threads_per_worker=self.threads_per_worker,
                # No dashboard; the scheduler's small HTTP server (health,
                # metrics) on a free loopback port, so clusters never collide.
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
        try:
            client = new_client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return client, cluster

    async def _close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            await trio.to_thread.run_sync(_stop, client, cluster)

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` on a Dask worker; raise its exception with the original type."""
        from distributed import KilledWorker

        client = self._client
        if client is None:
            raise self._not_open(step)
        payload = pack(fn, args, step=step, where=_WHERE)
        # pure=False and a unique key: two steps with equal payloads are two tasks,
        # so cancelling one never cancels the other. The step in the key shows on
        # the dashboard.
        key = f"{step}-{uuid.uuid4().hex}"
        # A synchronous client's submit only queues a message for its own event
        # loop (no network wait), so it is called here without a thread hop.
        try:
            future = client.submit(call_packed, payload, key=key, pure=False)
        except Exception as exc:  # e.g. the client lost its scheduler and closed
            message = (
                f"step {step!r}: cannot submit to the Dask cluster: {type(exc).__name__}: {exc}"
            )
            raise ExecutorUnavailableError(message, step=step) from exc
        try:
            reply: Reply = await trio.to_thread.run_sync(
                future.result, abandon_on_cancel=True, limiter=self._waiters
            )
        except trio.Cancelled:
            with trio.CancelScope(shield=True), trio.move_on_after(_CANCEL_TIMEOUT):
                await trio.to_thread.run_sync(future.cancel, abandon_on_cancel=True)
            raise
        except KilledWorker as exc:
            message = f"step {step!r}: the Dask worker running it died ({exc.args[0]!r})"
            raise WorkerLostError(message, step=step) from exc
        except concurrent.futures.CancelledError as exc:
            message = f"step {step!r}: Dask cancelled the task: {exc}"
            raise ExecutorUnavailableError(message, step=step) from exc
        except Exception as exc:
            # `call_packed` returns every outcome of the step, so this is Dask's
            # own failure to run it (e.g. dagfn not importable on the worker).
            message = f"step {step!r}: {_WHERE} could not run it: {type(exc).__name__}: {exc}"
            raise ExecutorError(message, step=step) from exc
        return unpack(reply, step=step, where=_WHERE)

    def __repr__(self) -> str:
        if self.address is not None:
            return f"Dask({self.address!r})"
        return (
            f"Dask(n_workers={self.n_workers}, processes={self.processes}, "
            f"threads_per_worker={self.threads_per_worker})"
        )


def _stop(client: distributed.Client, cluster: distributed.LocalCluster | None) -> None:
    """Close the client, then the cluster if this executor started it."""
    close_client: Callable[[], object] = client.close  # unannotated in distributed
    try:
        close_client()
    finally:
        if cluster is not None:
            cluster.close()
