# What dagfn.executors uses of trio-parallel 1.3 (which ships no types).
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import trio

_T = TypeVar("_T")

class BrokenWorkerError(RuntimeError): ...

class WorkerContextStatistics:
    idle_workers: int
    running_workers: int

class WorkerContext:
    def statistics(self) -> WorkerContextStatistics: ...
    async def run_sync(
        self,
        sync_fn: Callable[..., _T],
        *args: Any,
        kill_on_cancel: bool = False,
        cancellable: bool = False,
        limiter: trio.CapacityLimiter | None = None,
    ) -> _T: ...

def open_worker_context(
    idle_timeout: float = ...,
    init: Callable[[], object] = ...,
    retire: Callable[[], object] = ...,
    grace_period: float = ...,
) -> AbstractAsyncContextManager[WorkerContext]: ...
