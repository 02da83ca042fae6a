"""The `Executor` protocol and the open/close bookkeeping its implementations share."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import trio

from dagfn._policy import StepExecutor
from dagfn.executors._errors import ExecutorUnavailableError


@runtime_checkable
class Executor(StepExecutor, Protocol):
    """Where a step's (sync) function runs: ``submit``, ``opened`` and ``async with``.

    The contract is `dagfn._policy.StepExecutor`'s, which the expression layer
    names; this is its public name.
    """


class Lifetime:
    """Reentrant ``async with``: `_open` on the first entry, `_close` after the last exit.

    Subclasses override `_open` and `_close`; `_close` runs shielded from
    cancellation, so resources are released even when the caller is cancelled.
    """

    def __init__(self) -> None:
        # Number of ``async with`` blocks currently inside; > 0 iff opened.
        self._entries = 0
        # Serializes opening and closing, so concurrent first entries open once.
        self._lifecycle_lock = trio.Lock()

    @property
    def opened(self) -> bool:
        """True between the first ``__aenter__`` and the matching last ``__aexit__``."""
        return self._entries > 0

    async def __aenter__(self) -> Self:
        async with self._lifecycle_lock:
            if self._entries == 0:
                await self._open()
            self._entries += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with trio.CancelScope(shield=True):
            async with self._lifecycle_lock:
                self._entries -= 1
                if self._entries == 0:
                    await self._close()

    async def _open(self) -> None:
        await trio.lowlevel.checkpoint()

    async def _close(self) -> None:
        await trio.lowlevel.checkpoint()

    def _not_open(self, step: str) -> ExecutorUnavailableError:
        name = type(self).__name__
        message = (
            f"step {step!r}: the {name} executor is not open; "
            f"use `async with {name}(...) as ex:` or pass it to run(), which opens it"
        )
        return ExecutorUnavailableError(message, step=step)
