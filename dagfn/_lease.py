"""Run ownership: the lease a store keeps per run id, and the errors of owning a run.

A run id has at most one live owner. The owner holds a *lease* in the store:
a row (token, owner, expires_at) per run id, taken when a run starts, renewed
while it runs and released when it ends. A lease whose ``expires_at`` has
passed is free again, so a run whose owner died can be resumed after the
lease time. Every take increments the token (the *fencing token*); every
write of an owner carries its token and the store refuses it, in the write
transaction, unless the lease still holds that token: an owner that lost its
lease can no longer write.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs
import trio

from dagfn._errors import DagfnError
from dagfn._storage import RunInfo, Store

T = TypeVar("T")


@attrs.frozen
class Lease:
    """The lease row of one run id.

    ``token`` increases with every take and is kept when the lease is
    released (``expires_at`` 0), so a later take gets a larger one.
    ``expires_at`` is in the store's clock (wall-clock seconds: the local
    clock for SQLite and memory, the server's for Redis and Postgres).
    """

    token: int
    owner: str
    expires_at: float


@attrs.frozen
class Claim:
    """What taking a run gives: the run, and the lease's token or its live holder.

    ``token`` is None when the lease was not taken: either another owner
    holds it (``holder``), or the run had already succeeded with the same
    fingerprint (nothing will be written, so nothing is owned).
    ``holder_expires_in`` is the time left on the holder's lease, in seconds.
    """

    info: RunInfo
    token: int | None
    holder: str | None = None
    holder_expires_in: float = 0.0


class RunInProgress(DagfnError, RuntimeError):
    """The run id has a live owner (another task, process or machine) and ``wait=False``.

    ``run_id`` names the run, ``owner`` the holder of its lease and
    ``expires_in`` how long the lease lasts unless it is renewed.
    """

    def __init__(self, run_id: str, *, owner: str, expires_in: float) -> None:
        super().__init__(
            f"run {run_id!r} is in progress (owned by {owner}, lease renewed within "
            f"{expires_in:.1f}s); pass wait=True to wait for it to end and get its result"
        )
        self.run_id = run_id
        self.owner = owner
        self.expires_in = expires_in


class AlreadyAnswered(DagfnError, ValueError):
    """An interrupt's pause was answered already: only the first answer takes effect."""

    def __init__(self, run_id: str, step: str) -> None:
        super().__init__(
            f"the interrupt {step!r} of run {run_id!r} was already answered; only the first "
            "answer takes effect (history() shows the run's steps)"
        )
        self.run_id = run_id
        self.step = step


class LeaseLost(DagfnError, RuntimeError):
    """A run's owner lost its lease (it expired and another owner took the run).

    Its writes are refused from then on; the new owner carries the run on.
    """

    def __init__(self, run_id: str, token: int) -> None:
        super().__init__(
            f"run {run_id!r}: this owner's lease (token {token}) expired and another owner "
            "took the run over; its writes are refused (a step outlived the lease time? "
            "raise run(..., lease=)). The new owner carries the run on"
        )
        self.run_id = run_id
        self.token = token


def owner_name() -> str:
    """A new owner's name: this machine, this process, and a random part (unique per run)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


# Waiting for another owner: polls start fast (an in-process owner often ends
# within milliseconds) and slow down to this, or to the holder's lease expiry.
# How long a run that is ending waits to free its lease (the store may be blocked); with
# `_journal.KEEP_ROWS_GRACE` before it, a cancelled run returns within 1 s of its deadline.
RELEASE_GRACE: Final = 0.25
_MAX_POLL_SECONDS: Final = 0.25


@attrs.define
class Ownership:
    """One caller's claim on a run id: take the lease (or wait), renew it, release it.

    ``token`` is set once the lease is taken (None before, and for a run that
    had already succeeded: nothing is written then).
    """

    store: Store
    run_id: str
    ttl: float
    owner: str = attrs.field(factory=owner_name)
    token: int | None = None
    lost: bool = False  # a renewal found the lease taken over

    def take(self, fingerprint: str, meta_json: str) -> RunInfo:
        """Open the run and take its lease (blocking); `RunInProgress` if it is held."""
        claim = self.store.take_run(
            self.run_id,
            fingerprint=fingerprint,
            meta_json=meta_json,
            owner=self.owner,
            ttl=self.ttl,
        )
        if claim.holder is not None:
            raise RunInProgress(self.run_id, owner=claim.holder, expires_in=claim.holder_expires_in)
        self.token = claim.token
        return claim.info

    async def opened(self, open_run: Callable[[], T], *, wait: bool) -> T:
        """Call ``open_run`` (which calls `take`) in a thread until the lease is taken.

        With ``wait`` a held lease is waited for (polling, cancellable);
        without, `RunInProgress` is raised at once. If ``open_run`` raises
        after the lease was taken, the lease is released first.
        """
        delay = 0.002
        while True:
            try:
                # Abandoned on cancel: a store that blocks (a locked file, a frozen server)
                # must not hold the run past its caller's deadline.
                return await trio.to_thread.run_sync(open_run, abandon_on_cancel=True)
            except RunInProgress as held:
                if not wait:
                    raise
                await trio.sleep(min(delay, held.expires_in + 0.001))
                delay = min(delay * 2, _MAX_POLL_SECONDS)
            except BaseException:
                await self.release()
                raise

    async def kept(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run ``body`` while its lease is renewed every third of its time.

        The renewals are made by one task per trio run for all the leases held
        in it (`_Keeper`), so holding a lease starts no task. A renewal that
        finds the lease taken over cancels ``body`` and raises `LeaseLost`.
        Renewal errors (a store briefly unreachable) are retried at the next
        renewal: the fencing token keeps a late writer out all the same.
        """
        token = self.token
        if token is None:
            return await body()
        held = _Held(self, token, trio.CancelScope(), trio.current_time() + self.ttl / 3)
        keeper = _keeper()
        keeper.add(held)
        try:
            with held.watched:
                return await body()
            raise LeaseLost(self.run_id, token)
        finally:
            keeper.held.discard(held)

    async def release(self, *, done: bool = False) -> None:
        """Free the lease unless ``done`` (released already); shielded, so a cancelled
        or interrupted run frees it too (else the run id waits for the lease time)."""
        token, self.token = self.token, None
        if token is None or done or self.lost:
            return
        # A release that fails, or that a blocked store does not answer within
        # `RELEASE_GRACE`, leaves a lease that expires by itself.
        with trio.move_on_after(RELEASE_GRACE, shield=True), contextlib.suppress(Exception):
            await trio.to_thread.run_sync(
                self.store.release, self.run_id, token, abandon_on_cancel=True
            )


@attrs.define(eq=False)
class _Held:
    """A lease being kept: renewed at ``due`` (trio time); ``watched`` is its run's scope."""

    ownership: Ownership
    token: int
    watched: trio.CancelScope
    due: float


class _Keeper:
    """Renews every lease held in one trio run, from one system task started on first use.

    Invariant: the task sleeps until the earliest ``due`` of ``held`` (``wake``'s
    deadline); `add` moves that deadline earlier when a new lease is due sooner.
    """

    def __init__(self) -> None:
        self.held: set[_Held] = set()
        self.wake = trio.CancelScope()
        self.started = False

    def add(self, held: _Held) -> None:
        self.held.add(held)
        if not self.started:
            self.started = True
            trio.lowlevel.spawn_system_task(self._renew_forever, name="dagfn-lease-keeper")
        elif held.due < self.wake.deadline:
            self.wake.deadline = held.due

    async def _renew_forever(self) -> None:
        while True:
            due = min((h.due for h in self.held), default=math.inf)
            with trio.CancelScope(deadline=due) as self.wake:
                await trio.sleep_forever()
            now = trio.current_time()
            for held in [h for h in self.held if h.due <= now]:
                held.due = now + held.ownership.ttl / 3
                await self._renew(held)

    async def _renew(self, held: _Held) -> None:
        owner = held.ownership
        try:
            kept = await trio.to_thread.run_sync(
                owner.store.renew, owner.run_id, held.token, owner.ttl, abandon_on_cancel=True
            )
        except Exception:
            return  # retried at the next renewal
        if not kept and held in self.held:
            owner.lost = True
            self.held.discard(held)
            held.watched.cancel()


_KEEPER: Final[trio.lowlevel.RunVar[_Keeper]] = trio.lowlevel.RunVar("dagfn_lease_keeper")


def _keeper() -> _Keeper:
    """This trio run's `_Keeper`."""
    try:
        return _KEEPER.get()
    except LookupError:
        keeper = _Keeper()
        _KEEPER.set(keeper)
        return keeper
