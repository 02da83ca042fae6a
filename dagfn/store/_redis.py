"""`RedisStore`: the journal in a redis server, through redis-py.

Key layout (``P`` is the prefix, ``T`` is the run id percent-encoded with
`urllib.parse.quote` and ``safe=""``: injective, and never contains ``:``)::

    P:schema       string  schema version ("1")
    P:runs         zset    member: the run id itself; score: created_at
    P:run:T        hash    run_id (the original), fingerprint, status,
                           created_at, updated_at, meta_json[, result_json]
    P:entries:T    hash    field: step path; value: the entry as a JSON object
    P:durations:F  hash    a plan's duration summary (``F``: its fingerprint, encoded
                           like ``T``); field: step path; value: "<mean seconds> <runs>"
    P:lease:T      hash    token, owner, expires_at (see `dagfn._lease`)

A group commit is one MULTI/EXEC, under WATCH of the run, lease and entry keys
it reads. Lease times are the server's clock (``TIME``), shared by every
client machine.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dagfn._checks import in_range
from dagfn._errors import expected
from dagfn._lease import Lease
from dagfn._storage import (
    DURATION_RUNS,
    Entry,
    RunInfo,
    stored_entry_status,
    stored_run_status,
)

from ._base import WriterStore
from ._errors import SchemaVersionError, StoreError, StoreWriteError
from ._ops import Op, apply
from ._writer import GroupWriter

SCHEMA_VERSION = 1
_PREFIX = re.compile(r"[A-Za-z0-9_.\-]+")
# Optimistic transactions retried when another client changed a watched run.
_MAX_WATCH_RETRIES = 50
# `dagfn._storage.fold_duration` on the server, inside the group's MULTI/EXEC.
# KEYS[1]: the summary hash; ARGV: the cap on runs, then path, seconds, path, ...
_ADD_DURATIONS = """
local cap = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
    local took = tonumber(ARGV[i + 1])
    local mean, runs = took, 1
    local old = redis.call('HGET', KEYS[1], ARGV[i])
    if old then
        local sep = string.find(old, ' ', 1, true)
        mean = tonumber(string.sub(old, 1, sep - 1))
        runs = math.min(tonumber(string.sub(old, sep + 1)) + 1, cap)
        mean = mean + (took - mean) / runs
    end
    redis.call('HSET', KEYS[1], ARGV[i], string.format('%.17g %d', mean, runs))
end
return 0
"""


class _Keys:
    """Key names for one prefix."""

    __slots__ = ("prefix", "runs", "schema")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.runs = f"{prefix}:runs"
        self.schema = f"{prefix}:schema"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}:run:{quote(run_id, safe='')}"

    def entries(self, run_id: str) -> str:
        return f"{self.prefix}:entries:{quote(run_id, safe='')}"

    def durations(self, fingerprint: str) -> str:
        return f"{self.prefix}:durations:{quote(fingerprint, safe='')}"

    def lease(self, run_id: str) -> str:
        return f"{self.prefix}:lease:{quote(run_id, safe='')}"


def _lease_from_hash(fields: Mapping[str, str]) -> Lease | None:
    if not fields:
        return None
    return Lease(int(fields["token"]), fields["owner"], float(fields["expires_at"]))


def _run_to_hash(info: RunInfo) -> dict[Any, str]:
    # Keys typed Any: redis-py's mapping type is invariant in its key union.
    fields: dict[Any, str] = {
        "run_id": info.run_id,
        "fingerprint": info.fingerprint,
        "status": info.status,
        "created_at": repr(info.created_at),
        "updated_at": repr(info.updated_at),
        "meta_json": info.meta_json,
    }
    if info.result_json is not None:
        fields["result_json"] = info.result_json
    return fields


def _run_from_hash(fields: Mapping[str, str]) -> RunInfo:
    return RunInfo(
        run_id=fields["run_id"],
        fingerprint=fields["fingerprint"],
        status=stored_run_status(fields["status"]),
        created_at=float(fields["created_at"]),
        updated_at=float(fields["updated_at"]),
        meta_json=fields["meta_json"],
        result_json=fields.get("result_json"),
    )


def _entry_to_json(entry: Entry) -> str:
    return json.dumps(
        {
            "status": entry.status,
            "output_json": entry.output_json,
            "started_at": entry.started_at,
            "finished_at": entry.finished_at,
            "attempts": entry.attempts,
            "error": entry.error,
        },
        separators=(",", ":"),
    )


def _entry_from_json(path: str, text: str) -> Entry:
    row = json.loads(text)
    return Entry(
        path=path,
        status=stored_entry_status(row["status"]),
        output_json=row["output_json"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        error=row["error"],
    )


class _RedisTxn:
    """`Txn` on a pipeline: reads under WATCH, then writes queued after MULTI."""

    __slots__ = ("_keys", "_pipe")

    def __init__(self, pipe: redis.client.Pipeline, keys: _Keys) -> None:
        self._pipe = pipe
        self._keys = keys

    def load_leases(
        self, run_ids: Collection[str], *, clock: bool
    ) -> tuple[dict[str, Lease | None], float]:
        ordered = list(run_ids)
        keys = [self._keys.lease(run_id) for run_id in ordered]
        self._pipe.watch(*keys)  # type: ignore[no-untyped-call]  # untyped in redis-py
        leases = {
            run_id: _lease_from_hash(cast(dict[str, str], self._pipe.hgetall(key)))
            for run_id, key in zip(ordered, keys, strict=True)
        }
        now = 0.0
        if clock:
            seconds, micros = self._pipe.time()
            now = seconds + micros / 1e6
        return leases, now

    def load_entry(self, run_id: str, path: str) -> Entry | None:
        key = self._keys.entries(run_id)
        self._pipe.watch(key)  # type: ignore[no-untyped-call]  # untyped in redis-py
        text = cast(str | None, self._pipe.hget(key, path))
        return None if text is None else _entry_from_json(path, text)

    def put_lease(self, run_id: str, lease: Lease | None) -> None:
        key = self._keys.lease(run_id)
        if lease is None:
            self._pipe.delete(key)
        else:
            fields: dict[Any, str] = {
                "token": str(lease.token),
                "owner": lease.owner,
                "expires_at": repr(lease.expires_at),
            }
            self._pipe.hset(key, mapping=fields)

    def load_runs(self, run_ids: Collection[str]) -> dict[str, RunInfo | None]:
        ordered = list(run_ids)
        keys = [self._keys.run(run_id) for run_id in ordered]
        if keys:
            self._pipe.watch(*keys)  # type: ignore[no-untyped-call]  # untyped in redis-py
        runs: dict[str, RunInfo | None] = {}
        for run_id, key in zip(ordered, keys, strict=True):
            fields = cast(dict[str, str], self._pipe.hgetall(key))
            runs[run_id] = _run_from_hash(fields) if fields else None
        self._pipe.multi()
        return runs

    def put_run(self, info: RunInfo) -> None:
        key = self._keys.run(info.run_id)
        self._pipe.delete(key)
        self._pipe.hset(key, mapping=_run_to_hash(info))
        self._pipe.zadd(self._keys.runs, {info.run_id: info.created_at})

    def put_entries(self, run_id: str, entries: Sequence[Entry]) -> None:
        if entries:
            rows: dict[Any, str] = {entry.path: _entry_to_json(entry) for entry in entries}
            self._pipe.hset(self._keys.entries(run_id), mapping=rows)

    def delete_run(self, run_id: str) -> None:
        self._pipe.delete(self._keys.run(run_id), self._keys.entries(run_id))
        self._pipe.zrem(self._keys.runs, run_id)

    def add_durations(self, fingerprint: str, seconds: Sequence[tuple[str, float]]) -> None:
        args: list[Any] = [DURATION_RUNS]
        for path, took in seconds:
            args += (path, repr(took))
        self._pipe.eval(_ADD_DURATIONS, 1, self._keys.durations(fingerprint), *args)


class _RedisSink:
    """Group commits on the writer thread, through the store's client."""

    def __init__(self, client: redis.Redis, keys: _Keys) -> None:
        self._client = client
        self._keys = keys
        client.set(keys.schema, str(SCHEMA_VERSION), nx=True)
        found = client.get(keys.schema)
        if found != str(SCHEMA_VERSION):
            version = int(found) if found is not None and found.isdigit() else -1
            message = (
                f"The redis keys under prefix {keys.prefix!r} have schema version"
                f" {found!r}, this dagfn reads version {SCHEMA_VERSION}:"
                " use the dagfn that wrote them or another prefix"
            )
            raise SchemaVersionError(message, found=version, supported=SCHEMA_VERSION)

    def commit(self, ops: Sequence[Op]) -> list[object]:
        for _ in range(_MAX_WATCH_RETRIES):
            with self._client.pipeline(transaction=True) as pipe:
                try:
                    results = apply(ops, _RedisTxn(pipe, self._keys), time.time())
                    pipe.execute()
                except redis.WatchError:
                    continue
                return results
        message = f"Gave up after {_MAX_WATCH_RETRIES} conflicting concurrent transactions"
        raise StoreError(message)

    def close(self) -> None:
        pass  # the store closes the shared client


class RedisStore(WriterStore):
    """A `Store` in a redis server: one writer thread, one MULTI/EXEC per group.

    Durability is the server's: a committed group is in the server's memory
    (and in its append-only file if the server runs with ``appendonly yes``).
    Reads run on the calling thread through the same thread-safe client.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "dagfn",
        commit_interval: float = 0.002,
        timeout: float = 5.0,
    ) -> None:
        """Connect to the redis server at `url` (e.g. ``redis://127.0.0.1:6379/0``).

        Every call to the server (connecting included) gives up after
        ``timeout`` seconds, without retrying: a server that does not answer
        is a `StoreWriteError` naming the store, never a call that hangs.
        Raises `InvalidArgument` for a bad argument, `StoreWriteError` if the
        server cannot be reached, `SchemaVersionError` if the prefix holds
        another schema version.
        """
        if not isinstance(url, str):
            raise expected("a redis URL str", "url", url)
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise expected("letters, digits, '_', '.' or '-'", "prefix", prefix)
        in_range("commit_interval", commit_interval, 0, 1, what="seconds between 0 and 1")
        in_range("timeout", timeout, 0, 3600, what="seconds between 0 and 3600")
        if timeout == 0:
            raise expected("positive seconds", "timeout", timeout)
        self.url = url
        self._keys = _Keys(prefix)
        self._name = f"RedisStore({_redacted(url)!r}, prefix={prefix!r})"
        self._client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # redis-py 6+ retries 3 times by default
        )
        try:
            self._writer = GroupWriter(
                lambda: _RedisSink(self._client, self._keys),
                name=f"dagfn-redis-writer:{prefix}",
                interval=commit_interval,
                store=self._name,
            )
        except redis.RedisError as error:
            self._client.close()
            raise self._unreachable(error) from error
        except BaseException:
            self._client.close()
            raise
        self._submit = self._writer.submit

    def _unreachable(self, error: redis.RedisError) -> StoreWriteError:
        return StoreWriteError(f"{self._name}: cannot reach the redis server ({error!r})")

    def _release(self) -> None:
        self._client.close()

    def _read_run(self, run_id: str) -> RunInfo | None:
        try:
            fields = cast(dict[str, str], self._client.hgetall(self._keys.run(run_id)))
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise self._unreachable(error) from error
        return _run_from_hash(fields) if fields else None

    def _read_entries(self, run_id: str) -> dict[str, Entry] | None:
        try:
            return self._entries_of(run_id)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise self._unreachable(error) from error

    def _entries_of(self, run_id: str) -> dict[str, Entry] | None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.exists(self._keys.run(run_id))
            pipe.hgetall(self._keys.entries(run_id))
            exists, rows = pipe.execute()
        if not exists:
            return None
        return {path: _entry_from_json(path, text) for path, text in sorted(rows.items())}

    def _read_lease(self, run_id: str) -> Lease | None:
        return _lease_from_hash(
            cast(dict[str, str], self._client.hgetall(self._keys.lease(run_id)))
        )

    def _read_runs(self) -> list[RunInfo]:
        try:
            return self._runs()
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise self._unreachable(error) from error

    def _runs(self) -> list[RunInfo]:
        run_ids = cast(list[str], self._client.zrevrange(self._keys.runs, 0, -1))
        with self._client.pipeline(transaction=True) as pipe:
            for run_id in run_ids:
                pipe.hgetall(self._keys.run(run_id))
            hashes: list[Any] = pipe.execute()
        return [_run_from_hash(fields) for fields in hashes if fields]

    def _read_durations(self, fingerprint: str) -> dict[str, float]:
        rows = cast(dict[str, str], self._client.hgetall(self._keys.durations(fingerprint)))
        return {path: float(value.split(" ", 1)[0]) for path, value in rows.items()}

    def __repr__(self) -> str:
        return self._name


def _redacted(url: str) -> str:
    """``url`` without its password (it names the store in error messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + netloc))
    except ValueError:
        return "<a redis URL>"
