"""Executors in this process: `Inline` (the trio thread) and `Threads`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import trio

from dagfn._checks import positive_int
from dagfn.executors._base import Lifetime


class Inline(Lifetime):
    """Call the function on the trio thread, blocking the event loop while it runs.

    For quick functions only. The interpreter calls plain functions directly
    (faster); ``submit`` still works. Needs no opening, so ``submit`` works on
    an `Inline` that was never entered. A cancelled caller is cancelled at
    ``submit``'s checkpoints, never in the middle of the function.
    """

    runs_inline: ClassVar[bool] = True  # the interpreter calls plain functions itself

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` here and now; its exception propagates unchanged."""
        await trio.lowlevel.checkpoint_if_cancelled()
        result = fn(*args)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    def __repr__(self) -> str:
        return "Inline()"


class Threads(Lifetime):
    """Run functions in worker threads (``trio.to_thread``), at most ``limit`` at a time.

    For blocking I/O, and for code that releases the GIL; pure-Python CPU work
    gains nothing (use `Processes`). Needs no opening, so ``submit`` works on
    an unopened `Threads` too.

    Cancellation: a thread cannot be killed. When the caller is cancelled,
    ``submit`` returns at once and the thread is abandoned: it runs the function
    to the end, its result or exception is discarded, and it keeps its slot of
    ``limit`` until then.
    """

    def __init__(self, limit: int = 40) -> None:
        positive_int("limit", limit)
        super().__init__()
        self.limit = limit
        # Shared by every submit of this executor: at most `limit` threads busy.
        self._limiter = trio.CapacityLimiter(limit)

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` in a thread; its exception propagates unchanged."""
        return await trio.to_thread.run_sync(
            fn, *args, limiter=self._limiter, abandon_on_cancel=True
        )

    def __repr__(self) -> str:
        return f"Threads(limit={self.limit})"
