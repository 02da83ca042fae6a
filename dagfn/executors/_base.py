"""The `Executor` protocol and the open/close bookkeeping its implementations share."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import trio

from dagfn.executors._errors import ExecutorUnavailableError


@runtime_checkable
class Executor(Protocol):
    """Where a step's (sync) function runs; the trio interpreter keeps everything else.

    ``await ex.submit(fn, args, step=path)`` runs ``fn(*args)`` and returns its
    result. If ``fn`` raises, the same exception type (with its message) is
    raised in the caller. Problems of the executor itself (something that
    cannot be pickled, a worker that died, a cluster that cannot be reached)
    raise `ExecutorError`, whose message names the step. Cancelling the task
    awaiting ``submit`` cancels the remote work as far as the executor can
    (see each class).

    An executor is an async context manager that owns its resources (worker
    processes, a Dask client and cluster). Entering is reentrant: the first
    ``async with`` opens it, nested ones share it, the last exit closes it; so
    the interpreter may always ``async with executor:``, whether or not the
    caller opened it already, and ``opened`` says which. A closed executor can
    be opened again. Open it inside the trio run that uses it.
    """

    @property
    def opened(self) -> bool:
        """True between the first ``__aenter__`` and the matching last ``__aexit__``."""
        ...

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, step: str) -> Any:
        """Run ``fn(*args)`` where this executor runs things; return or raise its outcome."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


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
