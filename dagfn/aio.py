"""Running graphs from asyncio programs: `run` and `resume` as asyncio awaitables.

dagfn's interpreter is trio code. Here it runs in trio's *guest mode* on the
asyncio loop that awaits it (`trio.lowlevel.start_guest_run`): trio's tasks
are stepped by the asyncio loop's own callbacks, in the same thread, so a web
handler (Starlette, FastAPI, aiohttp) awaits a pipeline like any coroutine::

    result = await dagfn.aio.run(pipeline, Query("explain trio"))

One thread hosts one trio run at a time, so the runs awaited on one asyncio
loop share one guest run (a `_Host`): it starts with the first run and ends
when the last one has returned. Cancelling the asyncio task that awaits a run
cancels the run's cancel scope: every step is cancelled, and the await ends
(raising `asyncio.CancelledError`) only once nothing of the run is left.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, Unpack

import outcome
import trio
from returns.result import Result

from dagfn import _durable, _interpret
from dagfn._failures import RunFailure
from dagfn._graph import Graph
from dagfn._storage import Store

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741
E = TypeVar("E")
T = TypeVar("T")

__all__ = ["resume", "run"]


class _Host:
    """One trio guest run on one asyncio loop, running every awaited job in its nursery.

    Invariants: ``jobs`` holds the jobs handed to this host that have not
    ended (those handed over before the guest run was ready wait in
    ``waiting``); the host is in ``_HOSTS`` from its start until its guest run
    ends; once ``closing`` is True it takes no more jobs (a new job waits for
    ``finished`` and starts the next host).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.jobs: set[_Job] = set()
        self.waiting: list[_Job] = []
        self.closing = False
        self.token: trio.lowlevel.TrioToken | None = None
        self.nursery: trio.Nursery | None = None
        self.idle = trio.Event()
        self.finished: asyncio.Future[None] = loop.create_future()

    def start(self) -> None:
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=self.loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=self.loop.call_soon,
            done_callback=self._done,
            host_uses_signal_set_wakeup_fd=True,
            strict_exception_groups=True,
        )

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.token = trio.lowlevel.current_trio_token()
            for job in self.waiting:
                nursery.start_soon(self._run_job, job)
            self.waiting.clear()
            await self.idle.wait()

    def _done(self, result: outcome.Outcome[None]) -> None:
        """The guest run ended (normally after its last job, or by a crash of trio's own)."""
        self.closing = True
        if _HOSTS.get(self.loop) is self:
            del _HOSTS[self.loop]
        lost = result if isinstance(result, outcome.Error) else None
        for job in self.jobs:  # only after a crash: every job ends before a normal end
            job.deliver(lost or outcome.Error(RuntimeError("dagfn's trio guest run ended")))
        if not self.finished.done():
            self.finished.set_result(None)

    def submit(self, job: _Job) -> None:
        """Run ``job`` in the guest run (called from asyncio code, in the same thread)."""
        self.jobs.add(job)
        if self.token is None:
            self.waiting.append(job)
        else:
            self.token.run_sync_soon(self._spawn, job)

    def cancel(self, job: _Job) -> None:
        """Cancel ``job`` (called from asyncio code): its steps are cancelled, then it ends."""
        job.cancelled = True
        if self.token is not None:
            self.token.run_sync_soon(job.cancel)

    def _spawn(self, job: _Job) -> None:
        assert self.nursery is not None
        self.nursery.start_soon(self._run_job, job)

    async def _run_job(self, job: _Job) -> None:
        try:
            with trio.CancelScope() as scope:
                job.scope = scope
                if job.cancelled:
                    scope.cancel()
                job.deliver(await outcome.acapture(job.call))
        finally:
            job.deliver(outcome.Error(asyncio.CancelledError()))  # if it got no outcome
            self.jobs.discard(job)
            if not self.jobs:  # the last job: this guest run ends; a new job starts the next
                self.closing = True
                self.idle.set()


class _Job:
    """One awaited call, handed from asyncio to the guest run, and its outcome back."""

    def __init__(self, call: Callable[[], Awaitable[Any]], future: asyncio.Future[Any]) -> None:
        self.call = call
        self.future = future
        self.scope: trio.CancelScope | None = None
        self.cancelled = False

    def deliver(self, result: outcome.Outcome[Any]) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def cancel(self) -> None:
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()


_HOSTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Host] = weakref.WeakKeyDictionary()


async def _host(loop: asyncio.AbstractEventLoop) -> _Host:
    """The loop's host that takes jobs, started if there is none."""
    while True:
        host = _HOSTS.get(loop)
        if host is None:
            host = _HOSTS[loop] = _Host(loop)
            host.start()
        if not host.closing:
            return host
        await asyncio.shield(host.finished)  # one trio run per thread: the next waits


async def _until_done(future: asyncio.Future[Any]) -> bool:
    """Wait for ``future`` even if cancelled meanwhile; True if a cancel came (to raise after)."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


async def _call(call: Callable[[], Awaitable[T]]) -> T:
    """Await ``call()`` in the loop's guest trio run; cancelling the caller cancels it."""
    loop = asyncio.get_running_loop()
    host = await _host(loop)
    future: asyncio.Future[outcome.Outcome[T]] = loop.create_future()
    job = _Job(call, future)
    host.submit(job)  # no await since _host checked that it takes jobs
    try:
        result = await asyncio.shield(future)
    except asyncio.CancelledError:
        host.cancel(job)
        await _until_done(future)  # nothing of the run may outlive the await
        if host.closing:
            await _until_done(host.finished)
        raise
    if host.closing and await _until_done(host.finished):  # the guest run ends first
        raise asyncio.CancelledError
    if isinstance(result, outcome.Error) and isinstance(result.error, trio.Cancelled):
        raise asyncio.CancelledError  # pragma: no cover - a job's scope is cancelled only by us
    return result.unwrap()


async def run(
    graph: Graph[I, O, E], x: I, **options: Unpack[_interpret.RunOptions]
) -> Result[O, RunFailure[E]]:
    """`dagfn.run` for asyncio code: ``await dagfn.aio.run(graph, x, ...)``.

    Takes `dagfn.run`'s arguments and returns what it returns. The run goes
    on trio in guest mode on the running asyncio loop; cancelling the awaiting
    task cancels every step, and the await ends only when none is left.
    Bad arguments raise `InvalidArgument` before anything runs.
    """
    settings: dict[str, Any] = dict(options)
    store, run_id = settings.pop("store", None), settings.pop("run_id", None)
    _interpret.prepare(graph, store, run_id, settings)  # checks the arguments
    call = functools.partial(_interpret.run, graph, x, **options)
    return await _call(call)


async def resume(
    graph: Graph[I, O, E],
    run_id: str,
    *,
    store: Store,
    answer: object = _durable._NO_ANSWER,
    answers: Mapping[str, object] | None = None,
    **options: Any,
) -> Result[O, RunFailure[E]]:
    """`dagfn.resume` for asyncio code: answer a paused run and run what is left.

    Raises what `dagfn.resume` raises (`InvalidAnswer`, an unknown run id).
    """
    call = functools.partial(
        _durable.resume, graph, run_id, store=store, answer=answer, answers=answers, **options
    )
    return await _call(call)
