"""The step cache: what a hit costs, what a cached pipeline saves, what a digest takes.

    python benchmarks/bench_cache.py [--repeats 7]

Three figures, each against its bar (the script exits 1 when one is missed):

- hit cost: a chain of N plain steps taking and returning a small attrs record,
  every step ``.cache()``d in a `SqliteStore` (``cache=``, no journal), warmed
  once, then timed against the same chain uncached, interleaved in one run;
  the cost of a hit over a plain step (digest, lookup, reading the entry back)
  must be at most 25 us;
- the ``cache`` workload of BENCHMARKS.md: a 1,000-step chain of 1 ms steps
  (``trio.sleep(0.001)``), every step cached, journaled in a `SqliteStore`; the
  second run (a new run id, every step a hit) must take at most 0.1x the first;
- digesting a 1 MB input (records of strings and numbers: about 1,000,000 bytes
  as JSON) must take at most 10 ms.

The hit cost and the digest are CPU work: they are measured both by the wall
clock and by this process's CPU time (``time.process_time``), and the bars are
judged on CPU time, which the other processes of a shared machine do not
inflate (with a load average of 10 on 2 cores, wall-clock figures of the same
code come out 5-15x larger). The pipeline's ratio is about waiting, so it is
judged by the wall clock.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from _timing import format_table, per_step_us, time_once

from dagfn import Graph, node, run
from dagfn._cache import cache_clear
from dagfn._fingerprint import value_digest
from dagfn._journal import converter
from dagfn.store import SqliteStore

HIT_BAR_US = 25.0
SECOND_RUN_BAR = 0.1
DIGEST_BAR_MS = 10.0
N_HIT = 2_000
N_SLOW = 1_000


@attrs.frozen
class Rec:
    id: int
    name: str
    score: float


def bump(r: Rec) -> Rec:
    return Rec(r.id + 1, r.name, r.score)


async def nap(r: Rec) -> Rec:
    await trio.sleep(0.001)
    return Rec(r.id + 1, r.name, r.score)


def chain(fn: Callable[[Rec], Any], n: int, *, cached: bool) -> Graph[Rec, Rec, Any]:
    steps = [node(fn).named(f"s{i}") for i in range(n)]
    g = steps[0]
    for s in steps[1:]:
        g = g >> s
    return g.cache() if cached else g


def timed(graph: Graph[Rec, Rec, Any], n: int, **options: Any) -> Callable[[], Any]:
    async def once() -> None:
        out = (await run(graph, Rec(0, "record", 0.5), **options)).unwrap()
        if out.id != n:
            raise AssertionError(f"computed {out}, expected id {n}")

    return once


def cpu_once(fn: Callable[[], Any]) -> float:
    """CPU seconds of this process for one ``await fn()`` in a fresh ``trio.run``."""
    spent = 0.0

    async def timed_run() -> None:
        nonlocal spent
        start = time.process_time()
        await fn()
        spent = time.process_time() - start

    trio.run(timed_run)
    return spent


def hit_cost(folder: Path, repeats: int) -> tuple[float, float, float, float]:
    """(plain, hit) us per step on SQLite by the wall clock, then by CPU time; medians
    of interleaved runs."""
    plain = timed(chain(bump, N_HIT, cached=False), N_HIT)
    with SqliteStore(folder / "hits.sqlite") as store:
        hits = timed(chain(bump, N_HIT, cached=True), N_HIT, cache=store)
        time_once(hits)  # fills the cache
        time_once(plain)
        samples: tuple[list[float], ...] = ([], [], [], [])
        for _ in range(repeats):
            samples[0].append(time_once(plain))
            samples[1].append(time_once(hits))
            samples[2].append(cpu_once(plain))
            samples[3].append(cpu_once(hits))
    wall_plain, wall_hit, cpu_plain, cpu_hit = (
        per_step_us(statistics.median(s), N_HIT) for s in samples
    )
    return wall_plain, wall_hit, cpu_plain, cpu_hit


def second_run(folder: Path, repeats: int) -> tuple[float, float]:
    """(first run s, second run s): medians over fresh caches."""
    graph = chain(nap, N_SLOW, cached=True)
    firsts: list[float] = []
    seconds: list[float] = []
    with SqliteStore(folder / "pipeline.sqlite") as store:
        for k in range(max(3, repeats // 2)):
            cache_clear(store)
            firsts.append(time_once(timed(graph, N_SLOW, store=store, run_id=f"cold-{k}")))
            seconds.append(time_once(timed(graph, N_SLOW, store=store, run_id=f"warm-{k}")))
    return statistics.median(firsts), statistics.median(seconds)


def one_megabyte() -> tuple[list[Rec], int]:
    """Records of strings and numbers, about 1,000,000 bytes as JSON."""
    rng = random.Random(0)
    records: list[Rec] = []
    size = 2  # the brackets
    while size < 1_000_000:
        r = Rec(
            len(records),
            f"name-{rng.randrange(10**9)}-" + "x" * rng.randrange(20, 60),
            rng.random(),
        )
        size += len(json.dumps(converter.unstructure(r))) + 2
        records.append(r)
    return records, len(json.dumps(converter.unstructure(records)))


def digest_ms(records: list[Rec], repeats: int, clock: Callable[[], float]) -> float:
    times: list[float] = []
    for _ in range(repeats + 1):
        start = clock()
        value_digest(records, converter.unstructure)
        times.append(clock() - start)
    return statistics.median(times[1:]) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain_us, hit_us, cpu_plain_us, cpu_hit_us = hit_cost(folder, args.repeats)
        first, second = second_run(folder, args.repeats)
    records, size = one_megabyte()
    wall_ms = digest_ms(records, args.repeats, time.perf_counter)
    ms = digest_ms(records, args.repeats, time.process_time)
    added = cpu_hit_us - cpu_plain_us
    ratio = second / first
    rows: list[list[object]] = [
        [
            f"plain step ({N_HIT}-step sync chain, small record)",
            f"{plain_us:.2f} us wall, {cpu_plain_us:.2f} us CPU",
            None,
            None,
        ],
        [
            "cache hit on SQLite, same chain",
            f"{hit_us:.2f} us wall, {cpu_hit_us:.2f} us CPU",
            None,
            None,
        ],
        [
            "hit cost over a plain step (CPU)",
            f"{added:.2f} us ({hit_us - plain_us:.2f} wall)",
            f"<= {HIT_BAR_US:g} us",
            added <= HIT_BAR_US,
        ],
        [f"first run, {N_SLOW} x 1 ms steps, cached, SQLite", f"{first * 1e3:.1f} ms", None, None],
        ["second run (every step a hit)", f"{second * 1e3:.1f} ms", None, None],
        ["second / first", f"{ratio:.4f}", f"<= {SECOND_RUN_BAR:g}", ratio <= SECOND_RUN_BAR],
        [
            f"digest of {len(records)} records ({size:,} bytes as JSON)",
            f"{ms:.2f} ms CPU ({wall_ms:.2f} wall)",
            f"<= {DIGEST_BAR_MS:g} ms",
            ms <= DIGEST_BAR_MS,
        ],
    ]
    print(f"step cache (medians of {args.repeats})")
    print(format_table(["what", "figure", "bar", "met"], rows))
    ok = added <= HIT_BAR_US and ratio <= SECOND_RUN_BAR and ms <= DIGEST_BAR_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
