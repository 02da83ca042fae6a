"""The step cache: outputs kept by what a step computes and what it was given.

A cached step's key is its fingerprint (its path without loop iterations or
element indices, its kind, and `dagfn._fingerprint.code_fingerprint` of its
function) followed by the canonical digest of its input. An entry holds the
output as the journal writes it (JSON, never pickle; read back only as the
step's annotated type or a class the graph's annotations name) and a checksum
of key and text: an entry that does not check, does not read as the step's
type or is past its ``ttl`` is a miss, never a wrong value.

Where entries live is a `CacheBackend`: every store in `dagfn.store` is one
(its ``cache_*`` methods), and `PROCESS_CACHE` serves runs given neither a
cache nor a store. `RunCache` is what one run uses.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import re
import threading
import time
import types
import typing
import weakref
import zlib
from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple, Protocol, Union

import attr
import attrs

from dagfn._errors import DagfnError, expected
from dagfn._fingerprint import code_fingerprint, digest_or_raise
from dagfn._journal import converter, known_types, output_json, read_output, value_type
from dagfn._plan import Plan
from dagfn._storage import Store


class CacheUnavailable(DagfnError, RuntimeError):
    """The cache could not be read or written and the run was given ``cache_required=True``."""

    def __init__(self, step: str, error: object) -> None:
        super().__init__(
            f"step {step!r} is cached but its cache cannot be reached ({error!r}); "
            "the step was not run because the run has cache_required=True"
        )
        self.step = step
        self.error = error


class CacheEntry(NamedTuple):
    """One kept output: ``value_json`` as the journal writes it, for ``step`` (a path).

    Times are wall-clock seconds; ``expires_at`` is None for no ttl. ``check``
    is `checksum` of key, step and text. A named tuple: a store builds one per
    lookup, from a row.
    """

    key: str
    step: str
    value_json: str
    created_at: float
    expires_at: float | None
    check: str


@attrs.frozen
class CacheStats:
    """What a cache holds: entries (``expired`` of them past their ttl), text bytes, and
    the number of entries per step path."""

    entries: int
    expired: int
    bytes: int
    steps: dict[str, int]

    def __str__(self) -> str:
        lines = [f"{self.entries} entries ({self.expired} expired), {self.bytes} bytes"]
        lines += [f"  {path}: {n}" for path, n in sorted(self.steps.items())]
        return "\n".join(lines)


def checksum(key: str, step: str, value_json: str) -> str:
    """The check an entry carries against damage (not against forgery: an entry is only
    ever read as its step's type): a CRC-32 of everything it says."""
    data = f"{key}\x00{step}\x00{value_json}".encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(data):08x}"


def stats_of(entries: Callable[[], list[CacheEntry]], now: float) -> CacheStats:
    """`CacheStats` over ``entries()`` (for backends that list their entries)."""
    found = entries()
    steps: dict[str, int] = {}
    for entry in found:
        steps[entry.step] = steps.get(entry.step, 0) + 1
    expired = sum(1 for e in found if e.expires_at is not None and e.expires_at <= now)
    size = sum(len(e.value_json) for e in found)
    return CacheStats(len(found), expired, size, steps)


class CacheBackend(Protocol):
    """Where cache entries live. Every store is one; so is `MemoryCache`.

    ``cache_get`` may block on I/O unless ``cache_reads_inline`` is True (a
    lookup cheap enough for the event loop's thread: memory, a local SQLite
    file); ``cache_put`` only enqueues; ``cache_flush`` blocks until what was
    put is kept. Any of them may raise when the backend cannot be reached.
    """

    cache_reads_inline: bool

    def cache_get(self, key: str) -> CacheEntry | None: ...

    def cache_put(self, entry: CacheEntry) -> None: ...

    def cache_flush(self) -> None: ...

    def cache_stats(self) -> CacheStats: ...

    def cache_clear(self, step: str | None = None) -> int: ...


class MemoryCache:
    """Cache entries in this process's memory (thread-safe)."""

    cache_reads_inline = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, CacheEntry] = {}

    def cache_get(self, key: str) -> CacheEntry | None:
        """The entry under ``key``, or None."""
        return self._entries.get(key)

    def cache_put(self, entry: CacheEntry) -> None:
        """Keep ``entry`` (replacing one with the same key)."""
        with self._lock:
            self._entries[entry.key] = entry

    def cache_flush(self) -> None:
        """Nothing to wait for: puts are kept at once."""

    def cache_stats(self) -> CacheStats:
        """What the cache holds."""
        with self._lock:
            entries = list(self._entries.values())
        return stats_of(lambda: entries, time.time())

    def cache_clear(self, step: str | None = None) -> int:
        """Drop every entry (or those of ``step``); returns how many were dropped."""
        with self._lock:
            doomed = [k for k, e in self._entries.items() if step is None or e.step == step]
            for key in doomed:
                del self._entries[key]
        return len(doomed)


#: The cache of runs given neither ``cache=`` nor ``store=``.
PROCESS_CACHE: Final = MemoryCache()

_METHODS: Final = ("cache_get", "cache_put", "cache_flush", "cache_stats", "cache_clear")


def check_backend(value: object, name: str = "cache") -> CacheBackend:
    """``value`` if it is a `CacheBackend` (a store), else `InvalidArgument` naming ``name``."""
    if all(callable(getattr(value, m, None)) for m in _METHODS) and isinstance(
        getattr(value, "cache_reads_inline", None), bool
    ):
        return value  # type: ignore[return-value]
    raise expected(
        "a dagfn.store store (MemoryStore, SqliteStore, RedisStore, PostgresStore) or None",
        name,
        value,
    )


def cache_stats(store: Store | CacheBackend | None = None) -> CacheStats:
    """What ``store``'s cache holds (the process-wide memory cache when None)."""
    backend = PROCESS_CACHE if store is None else check_backend(store, "store")
    return backend.cache_stats()


def cache_clear(store: Store | CacheBackend | None = None, *, step: str | None = None) -> int:
    """Drop ``store``'s cache entries (only ``step``'s, given a path); returns how many.

    With no store, the process-wide memory cache. Entries are not journal
    rows: runs and their history are untouched.
    """
    backend = PROCESS_CACHE if store is None else check_backend(store, "store")
    if step is not None and not isinstance(step, str):
        raise expected("a step path or None", "step", step)
    _MEMOS.pop(backend, None)  # what this process remembers of it goes too
    return backend.cache_clear(step)


# Loop iterations (``#3``) and element indices (``[3]``) are not part of a step's
# identity: the same function given the same input computes the same output.
_POSITIONS: Final = re.compile(r"#\d+|\[\d+\]")

_STEP_KEYS: Final[weakref.WeakKeyDictionary[Plan, dict[int, str]]] = weakref.WeakKeyDictionary()


_USES: Final[weakref.WeakKeyDictionary[Plan, bool]] = weakref.WeakKeyDictionary()


def uses_cache(plan: Plan) -> bool:
    """Does any step of ``plan`` (loop bodies included) have a cache policy? (once per plan)"""
    found = _USES.get(plan)
    if found is None:
        found = _USES[plan] = any(
            o is not None and o.cache is not None for p in plan.iter_plans() for o in p.options
        )
    return found


def step_fingerprint(plan: Plan, i: int) -> str:
    """Step ``i``'s fingerprint: where it stands, what kind it is and what its code is."""
    memo = _STEP_KEYS.get(plan)
    if memo is None:
        memo = _STEP_KEYS[plan] = {}
    found = memo.get(i)
    if found is None:
        where = _POSITIONS.sub("", plan.paths[i])
        text = f"{where}\x00{plan.kinds[i]}\x00{code_fingerprint(plan.fns[i])}"
        found = memo[i] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return found


_STEPS: Final[weakref.WeakKeyDictionary[Plan, dict[int, tuple[str, Any, dict[str, type]]]]] = (
    weakref.WeakKeyDictionary()
)


class Hit:
    """A usable entry: the step's output, read back."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class RunCache:
    """One run's use of a backend. ``required``: a backend error fails the step."""

    __slots__ = ("backend", "get", "inline", "kept", "memo", "required", "steps")

    def __init__(self, backend: CacheBackend, required: bool) -> None:
        self.backend = backend
        self.memo = _memo_of(backend)
        self.get = backend.cache_get
        self.required = required
        self.inline = backend.cache_reads_inline
        self.kept = False  # something was put: flush at the end of the run
        # Per plan (kept alive by the run) and step: its fingerprint, its output type and
        # the classes its graph names (computed once per run, not per lookup).
        self.steps: dict[Plan, dict[int, tuple[str, Any, dict[str, type]]]] = {}

    def _step(self, plan: Plan, i: int) -> tuple[str, Any, dict[str, type]]:
        per_plan = self.steps.get(plan)
        if per_plan is None:  # the plan's table, kept across runs while the plan lives
            per_plan = _STEPS.get(plan)
            if per_plan is None:
                per_plan = _STEPS[plan] = {}
            self.steps[plan] = per_plan
        found = per_plan.get(i)
        if found is None:
            found = per_plan[i] = (
                step_fingerprint(plan, i),
                value_type(plan, i, {}),
                known_types(plan),
            )
        return found

    def flush(self) -> None:
        """Wait until what this run put is kept (blocking); a backend error is dropped:
        the entries are lost, the run's result is not."""
        try:
            self.backend.cache_flush()
        except Exception:
            return

    def key(self, plan: Plan, i: int, args: list[Any]) -> str:
        """Step ``i``'s key for ``args``; raises `Uncacheable` naming the step."""
        value = args[0] if len(args) == 1 else tuple(args)
        digest = digest_or_raise(value, plan.paths[i], converter.unstructure)
        return self._step(plan, i)[0] + digest[:32]

    def read(self, plan: Plan, i: int, key: str, entry: CacheEntry | None) -> Hit | None:
        """The output an entry holds for step ``i``, or None (a miss: absent, stale, bad)."""
        if entry is None or entry.key != key:
            return None
        if entry.expires_at is not None and entry.expires_at <= time.time():
            return None
        if entry.check != checksum(entry.key, entry.step, entry.value_json):
            return None
        memo = self.memo
        if memo is not None:
            known = memo.get(key)
            if known is not None and known[0] == entry.check:  # this very entry, read before
                return Hit(known[1])
        try:
            value = read_output(plan, i, entry.value_json)
        except Exception:  # it no longer reads as the step's type (cattrs, JSON errors)
            return None
        self.remember(plan, i, key, entry.check, value)
        return Hit(value)

    def remember(self, plan: Plan, i: int, key: str, check: str, value: object) -> None:
        """Keep ``value`` as what the entry ``key`` with checksum ``check`` decodes to, when
        the step's output type is immutable (a shared value no run can change): a later
        hit on that same entry skips decoding. A bounded memo, emptied when full."""
        memo = self.memo
        if memo is None or not immutable(self._step(plan, i)[1]):
            return
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = (check, value)

    def entry(self, plan: Plan, i: int, key: str, value: object, ttl: float | None) -> CacheEntry:
        """The entry keeping ``value`` as step ``i``'s output (raises `JournalError`)."""
        text = output_json(plan, i, value)
        step = plan.paths[i]
        now = time.time()
        expires = None if ttl is None else now + ttl
        check = checksum(key, step, text)
        self.remember(plan, i, key, check, value)
        return CacheEntry(key, step, text, now, expires, check)


# What this process decoded from (or put in) a backend's entries, by backend and key:
# (the entry's checksum, its value). A hit still reads the entry (its expiry, its checksum:
# a changed or damaged entry is read afresh, or is a miss), but the same entry met again
# is not decoded again. Only outputs of immutable types are kept: later runs get the very
# same object. `cache_clear` in this process forgets a backend's.
_MEMOS: Final[weakref.WeakKeyDictionary[object, dict[str, tuple[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)
_MEMO_SIZE: Final = 65_536


def _memo_of(backend: object) -> dict[str, tuple[str, Any]] | None:
    try:
        memo = _MEMOS.get(backend)
        if memo is None:
            memo = _MEMOS[backend] = {}
    except TypeError:  # a backend that takes no weak reference: no memo
        return None
    return memo


_LEAVES: Final = frozenset({int, float, str, bytes, bool, complex, type(None)})
# What attrs puts as ``__setattr__`` on a frozen class (None if a later attrs moves it).
_FROZEN_SETATTR: Final = getattr(getattr(attr, "_make", None), "_frozen_setattrs", None)


def immutable(t: Any) -> bool:
    """Whether every value of type ``t`` is immutable all the way down (``Any``: no)."""
    try:
        return _immutable(t, 0)
    except Exception:  # an unhashable or unreadable annotation: not known to be immutable
        return False


@functools.lru_cache(maxsize=1024)
def _immutable(t: Any, depth: int) -> bool:
    if depth > 8:
        return False
    if t in _LEAVES or (isinstance(t, type) and issubclass(t, enum.Enum)):
        return True
    origin = typing.get_origin(t)
    if origin is Literal:
        return True
    if origin in (tuple, frozenset, Union, types.UnionType):
        return all(a is Ellipsis or _immutable(a, depth + 1) for a in typing.get_args(t))
    if not isinstance(t, type):
        return False
    if attrs.has(t):
        frozen = t.__setattr__ is _FROZEN_SETATTR
    elif dataclasses.is_dataclass(t):
        frozen = t.__dataclass_params__.frozen  # type: ignore[attr-defined]
    else:
        return False
    if not frozen:
        return False
    try:
        hints = typing.get_type_hints(t)
    except Exception:
        return False
    fields = (
        [f.name for f in attrs.fields(t)]
        if attrs.has(t)
        else [f.name for f in dataclasses.fields(t)]
    )
    return all(name in hints and _immutable(hints[name], depth + 1) for name in fields)
