"""The writer thread shared by the SQLite and Redis stores: group commit.

Callers append operations to a deque (`submit`, a few hundred nanoseconds,
no lock); one thread per store drains the deque and commits everything
pending as one transaction through a `Sink`, at most once per
``interval`` seconds unless a caller waits (`call`, `barrier`, `flush`),
in which case it commits at once.

Waiting is a `_Ticket` appended *behind* the caller's earlier operations:
the deque is FIFO, so when the group holding the ticket is committed, so is
everything the caller submitted before it.

The thread is a daemon (a store left open never keeps a program alive), so a
normal interpreter exit would cut it off with rows pending: an ``atexit``
hook commits what every live writer has pending first (waiting at most
`EXIT_FLUSH_SECONDS` for each).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from ._errors import StoreClosedError, StoreWriteError

OpT = TypeVar("OpT")
OpT_contra = TypeVar("OpT_contra", contravariant=True)

# How often a waiting caller checks that the writer thread is still alive.
_LIVENESS_CHECK_SECONDS = 1.0
#: At interpreter exit, how long each open writer may take to commit what is pending.
EXIT_FLUSH_SECONDS = 10.0


class Sink(Protocol[OpT_contra]):
    """A backend connection owned by the writer thread."""

    def commit(self, ops: Sequence[OpT_contra]) -> list[object]:
        """Apply `ops` as one transaction; return one result per op.

        A result that is an exception is a domain error for that op; raising
        means nothing was committed and the writer stops accepting writes.
        """

    def close(self) -> None:
        """Release the connection (called once, on the writer thread)."""


class _Ticket(Generic[OpT]):
    """A caller waiting for the commit of everything submitted before it."""

    __slots__ = ("done", "error", "op", "report_deferred", "result", "stop")

    def __init__(
        self, op: OpT | None = None, *, report_deferred: bool = False, stop: bool = False
    ) -> None:
        self.op = op  # an op whose result the caller wants, or None
        self.report_deferred = report_deferred  # a flush: raise errors of earlier records
        self.stop = stop  # close(): the writer exits after this group
        self.done = threading.Event()  # set exactly once, after result/error
        self.result: object = None
        self.error: BaseException | None = None

    def settle(self, result: object = None, error: BaseException | None = None) -> None:
        self.result = result
        self.error = error
        self.done.set()

    def wait(self, thread: threading.Thread) -> object:
        while not self.done.wait(_LIVENESS_CHECK_SECONDS):
            if not thread.is_alive() and not self.done.is_set():
                raise StoreClosedError("The store's writer thread has stopped (store closed)")
        if self.error is not None:
            raise self.error
        return self.result


class GroupWriter(Generic[OpT]):
    """One thread that commits submitted operations in groups."""

    def __init__(
        self,
        open_sink: Callable[[], Sink[OpT]],
        *,
        name: str,
        interval: float,
        store: str | None = None,
    ) -> None:
        """Start the thread and open the sink on it; re-raise what `open_sink` raises.

        ``store`` names the store in errors (``SqliteStore('/tmp/j.db')``).
        """
        self._store = store if store is not None else name
        # Appended by any thread, popped only by the writer thread.
        self._pending: deque[OpT | _Ticket[OpT]] = deque()
        # Set by producers when the writer may be asleep; cleared by the writer
        # *before* it drains, so no submitted op is left behind.
        self._wake = threading.Event()
        # Set when a caller waits: skip the rest of the commit interval.
        self._urgent = threading.Event()
        self._interval = interval
        # Set once when a commit fails; every later write raises StoreWriteError.
        self._failure: BaseException | None = None
        self._closed = False  # set once by close(); later writes raise
        self._close_lock = threading.Lock()
        ready: _Ticket[OpT] = _Ticket()
        self._thread = threading.Thread(
            target=self._run, args=(open_sink, ready), name=name, daemon=True
        )
        self._thread.start()
        ready.wait(self._thread)
        _LIVE.add(self)

    # -- caller side -------------------------------------------------------

    def submit(self, op: OpT) -> None:
        """Queue `op` for the next group (the hot path); raise if writes stopped."""
        if self._closed or self._failure is not None:
            self._raise_refused()
        self._pending.append(op)
        if not self._wake.is_set():
            self._wake.set()

    def call(self, op: OpT) -> object:
        """Queue `op`, wait for its group's commit and return its result (or raise its error)."""
        return self._wait(_Ticket(op))

    def barrier(self) -> None:
        """Wait until every op submitted before the call is committed."""
        self._wait(_Ticket())

    def flush(self) -> None:
        """Like `barrier`, and raise the first error of earlier fire-and-forget ops."""
        self._wait(_Ticket(report_deferred=True))

    def close(self) -> None:
        """Commit what is pending, stop the thread and close the sink (idempotent).

        Raises `StoreWriteError` if this last commit fails.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            failed_before = self._failure is not None
            ticket: _Ticket[OpT] = _Ticket(stop=True)
            self._pending.append(ticket)
            self._urgent.set()
            self._wake.set()
            try:
                ticket.wait(self._thread)
            except StoreWriteError:
                # A failure flush() already reported is not raised again.
                if not failed_before:
                    raise
            finally:
                self._thread.join()

    def flush_at_exit(self, seconds: float) -> None:
        """Commit what is pending, waiting at most ``seconds``; never raises."""
        if self._closed or self._failure is not None or not self._thread.is_alive():
            return  # closed, failed, or a forked child's copy without its thread
        ticket: _Ticket[OpT] = _Ticket()
        self._pending.append(ticket)
        self._urgent.set()
        self._wake.set()
        ticket.done.wait(seconds)

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def _wait(self, ticket: _Ticket[OpT]) -> object:
        if self._closed or self._failure is not None:
            self._raise_refused()
        self._pending.append(ticket)
        self._urgent.set()
        self._wake.set()
        return ticket.wait(self._thread)

    def _raise_refused(self) -> None:
        if self._failure is not None:
            raise self._write_error() from self._failure
        raise StoreClosedError("The store is closed: open a new store object to write")

    def _write_error(self) -> StoreWriteError:
        message = (
            f"{self._store}: the store's writer could not commit ({self._failure!r}); rows recorded"
            " since the last successful flush may be lost and the store refuses"
            " further writes: close it and open a new one"
        )
        return StoreWriteError(message)

    # -- writer thread -----------------------------------------------------

    def _run(self, open_sink: Callable[[], Sink[OpT]], ready: _Ticket[OpT]) -> None:
        try:
            sink = open_sink()
        except BaseException as error:
            ready.settle(error=error)
            return
        ready.settle()
        # The first domain error of a fire-and-forget op, until a flush reports it.
        deferred: BaseException | None = None
        last_commit = 0.0
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if not self._urgent.is_set():
                    delay = last_commit + self._interval - time.monotonic()
                    if delay > 0:
                        self._urgent.wait(delay)
                self._urgent.clear()
                items = [self._pending.popleft() for _ in range(len(self._pending))]
                if not items:
                    continue
                deferred, stop = self._commit_group(sink, items, deferred)
                last_commit = time.monotonic()
                if stop:
                    return
        finally:
            sink.close()

    def _commit_group(
        self, sink: Sink[OpT], items: list[OpT | _Ticket[OpT]], deferred: BaseException | None
    ) -> tuple[BaseException | None, bool]:
        ops: list[OpT] = []
        tickets: list[tuple[_Ticket[OpT], int]] = []  # (ticket, index of its op or -1)
        for item in items:
            if isinstance(item, _Ticket):
                if item.op is None:
                    tickets.append((item, -1))
                else:
                    tickets.append((item, len(ops)))
                    ops.append(item.op)
            else:
                ops.append(item)
        results: list[object] = []
        if ops and self._failure is None:
            try:
                results = sink.commit(ops)
            except Exception as error:
                self._failure = error
        waited = {index for _, index in tickets}
        if self._failure is None and deferred is None:
            for index, result in enumerate(results):
                if isinstance(result, BaseException) and index not in waited:
                    deferred = result
                    break
        stop = False
        for ticket, index in tickets:
            stop = stop or ticket.stop
            if self._failure is not None:
                write_error = self._write_error()
                write_error.__cause__ = self._failure
                ticket.settle(error=write_error)
            elif index >= 0:
                result = results[index]
                if isinstance(result, BaseException):
                    ticket.settle(error=result)
                else:
                    ticket.settle(result)
            elif ticket.report_deferred and deferred is not None:
                ticket.settle(error=deferred)
                deferred = None
            else:
                ticket.settle()
        return deferred, stop


# Every writer whose thread may still run (weak: a closed writer is let go).
_LIVE: weakref.WeakSet[GroupWriter[Any]] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Commit the pending rows of stores a program left open (see the module docstring)."""
    for writer in list(_LIVE):
        writer.flush_at_exit(EXIT_FLUSH_SECONDS)
