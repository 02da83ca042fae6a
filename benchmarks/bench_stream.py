"""What streaming costs: one streamed step's chunks read through `stream`, against a bare channel.

Run: ``python benchmarks/bench_stream.py [--chunks N] [--repeats R] [--buffer B]``.

Throughput (the ``stream`` workload of BENCHMARKS.md): one streamed step yields
N small text chunks (``"tok"``), folded with `Text`, and a reader iterates
``stream(step, N)`` to its end. The same N chunks go, in the same process and
interleaved repeats, through a bare ``trio.open_memory_channel(B)`` pair: a
producer task sends them and the reader receives them, once sent by a plain
loop and once taken from the same async generator. Every row is the median
time of a whole run, as microseconds per chunk.

Latency: the step waits until every task is blocked (so the reader is idle,
waiting to receive) and then yields; the time from just before its ``yield``
to the reader holding the chunk, per chunk, for 1,000 chunks, against the
same through a bare channel.

Bars (issue 13): per chunk, ``stream`` costs at most 2x the bare channel fed by
a plain loop (the stricter of the two baselines); the median latency is under
100 us. Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import trio
import trio.testing
from _timing import format_table, per_step_us, ratio, time_once

from dagfn import run, stream, streamed
from dagfn._stream import BUFFER
from dagfn.monoid import Sum, Text

COST_BAR = 2.0
LATENCY_BAR_US = 100.0


async def tokens(n: int) -> AsyncIterator[str]:
    for _ in range(n):
        yield "tok"


step = streamed(tokens, Text())


def through_stream(n: int, buffer: int) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        count = 0
        async with stream(step, n, buffer=buffer) as s:
            async for _ in s:
                count += 1
        if count != n or len(s.result.unwrap()) != 3 * n:
            raise AssertionError(f"{count} chunks, {s.result}")

    return once


def through_run(n: int) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        out = (await run(step, n)).unwrap()
        if len(out) != 3 * n:
            raise AssertionError(out)

    return once


def through_channel(n: int, buffer: int, *, generator: bool) -> Callable[[], Awaitable[None]]:
    async def once() -> None:
        send, receive = trio.open_memory_channel[str](buffer)

        async def produce() -> None:
            async with send:
                if generator:
                    async for chunk in tokens(n):
                        await send.send(chunk)
                else:
                    for _ in range(n):
                        await send.send("tok")

        parts: list[str] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async with receive:
                async for chunk in receive:
                    parts.append(chunk)
        if len("".join(parts)) != 3 * n:
            raise AssertionError(len(parts))

    return once


async def idle_tokens(n: int, stamps: list[float]) -> AsyncIterator[int]:
    """Yield ``n`` chunks, each once every other task (the reader) is blocked."""
    for i in range(n):
        await trio.testing.wait_all_tasks_blocked()
        stamps.append(time.perf_counter())
        yield i


def latency_stream(n: int, buffer: int) -> list[float]:
    stamps: list[float] = []
    delays: list[float] = []

    async def make(x: int) -> AsyncIterator[int]:
        async for i in idle_tokens(x, stamps):
            yield i

    slow_step = streamed(make, Sum())

    async def main() -> None:
        async with stream(slow_step, n, buffer=buffer) as s:
            async for c in s.of(slow_step):
                delays.append(time.perf_counter() - stamps[c.value])

    trio.run(main)
    return delays


def latency_channel(n: int, buffer: int) -> list[float]:
    stamps: list[float] = []
    delays: list[float] = []

    async def main() -> None:
        send, receive = trio.open_memory_channel[int](buffer)

        async def produce() -> None:
            async with send:
                async for i in idle_tokens(n, stamps):
                    await send.send(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for i in receive:
                delays.append(time.perf_counter() - stamps[i])

    trio.run(main)
    return delays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--buffer", type=int, default=BUFFER)
    args = parser.parse_args(argv)
    n, buffer = args.chunks, args.buffer
    ways = {
        "bare channel, plain loop": through_channel(n, buffer, generator=False),
        "bare channel, async generator": through_channel(n, buffer, generator=True),
        "stream(streamed step)": through_stream(n, buffer),
        "run(streamed step), no reader": through_run(n),
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for once in ways.values():  # warm up
        time_once(once)
    for _ in range(args.repeats):  # interleaved: drift on a shared machine falls on all alike
        for name, once in ways.items():
            samples[name].append(time_once(once))
    t = {name: statistics.median(s) for name, s in samples.items()}
    floor = t["bare channel, plain loop"]
    rows = [[name, per_step_us(t[name], n), ratio(t[name], floor)] for name in ways]
    print(f"{n:,} chunks, buffer {buffer}, median of {args.repeats}")
    print(format_table(["way", "us/chunk", "vs bare channel"], rows))

    ours = [d * 1e6 for d in latency_stream(1000, buffer)]
    bare = [d * 1e6 for d in latency_channel(1000, buffer)]

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    print()
    print(
        format_table(
            ["yield to reader, idle reader", "median us", "p90 us"],
            [
                ["bare channel", statistics.median(bare), pct(bare, 90)],
                ["stream", statistics.median(ours), pct(ours, 90)],
            ],
        )
    )
    cost = ratio(t["stream(streamed step)"], floor)
    latency = statistics.median(ours)
    print()
    print(f"bar: stream per chunk <= {COST_BAR}x the bare channel: {cost:.2f}x")
    print(f"bar: median latency < {LATENCY_BAR_US:g} us: {latency:.1f} us")
    return 0 if cost <= COST_BAR and latency < LATENCY_BAR_US else 1


if __name__ == "__main__":
    sys.exit(main())
