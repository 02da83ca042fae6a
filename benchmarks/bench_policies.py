"""What policies cost per step: the async chain of 2,000 steps with a policy on every step.

Run: ``python benchmarks/bench_policies.py [--repeats N]``. Each row is the
median run time of the chain with one policy on every step (or a run option),
as microseconds per step and as microseconds per step *added* to the same
chain without policies, measured in this one process.

Bar (issue 3): ``.timeout(60)`` on every step adds at most 12 us per step. The
chain without policies must keep the typed core's bar (see bench_core.py,
which compares it with the hand-written trio engine).

For scale, two hand-written trio chains (one task per step, spawned when its
input exists) run in the same interleaving: bare, and with ``trio.fail_after``
around each step's call. Their difference is what trio itself charges for a
cancel scope with a deadline, the floor under any per-step timeout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

import trio
from _timing import format_table, per_step_us, time_once

from dagfn import Breaker, Graph, Limits, Trace, node, run
from dagfn._plan import plan_of

N = 2000
TIMEOUT_BAR_US = 12.0


async def one(x: int) -> int:
    return x + 1


Policy = Callable[[Graph[int, int, Any]], Graph[int, int, Any]]


def chain(policy: Policy | None) -> Graph[int, int, Any]:
    """N async steps, each with ``policy`` applied to it (None: no policy)."""
    graph: Graph[int, int, Any] | None = None
    for i in range(N):
        step = node(one).named(f"s{i}")
        if policy is not None:
            step = policy(step)
        graph = step if graph is None else graph >> step
    assert graph is not None
    plan_of(graph)  # lower outside the timing
    return graph


def timed_run(graph: Graph[int, int, Any], **options: Any) -> Callable[[], Any]:
    async def once() -> None:
        if "on_event" in options:
            options["on_event"] = Trace()  # a fresh trail per run
        result = await run(graph, 0, **options)
        if result.unwrap() != N:
            raise AssertionError(f"computed {result}, expected {N}")

    return once


def trio_chain(*, scoped: bool) -> Callable[[], Any]:
    """The chain by hand: one task per step; ``scoped`` wraps each call in fail_after(60)."""

    async def once() -> None:
        out: list[int] = [0]

        async def step(i: int, nursery: trio.Nursery) -> None:
            if scoped:
                with trio.fail_after(60):
                    out[0] = await one(out[0])
            else:
                out[0] = await one(out[0])
            if i + 1 < N:
                nursery.start_soon(step, i + 1, nursery)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(step, 0, nursery)
        if out[0] != N:
            raise AssertionError(f"computed {out[0]}, expected {N}")

    return once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    breaker = Breaker("bench", failures=10**9)
    plain = chain(None)
    cases: list[tuple[str, Graph[int, int, Any], dict[str, Any]]] = [
        ("no policy", plain, {}),
        (".timeout(60)", chain(lambda g: g.timeout(60)), {}),
        (".retry(3)", chain(lambda g: g.retry(3)), {}),
        (".breaker(b)", chain(lambda g: g.breaker(breaker)), {}),
        (".on('llm')", chain(lambda g: g.on("llm")), {}),
        (
            ".on('llm') + Limits",
            chain(lambda g: g.on("llm")),
            {"limits": Limits(concurrency=8, resources={"llm": 4})},
        ),
        ("Limits(concurrency=8)", plain, {"limits": Limits(concurrency=8)}),
        ("on_event=Trace()", plain, {"on_event": None}),
    ]
    # Interleaved: every repeat times each case once, so drift on a shared machine
    # falls on all cases alike; the median of each case is then compared.
    runs = [timed_run(graph, **options) for _, graph, options in cases]
    floor = ["trio by hand", "trio by hand + fail_after(60)"]
    runs += [trio_chain(scoped=False), trio_chain(scoped=True)]
    for fn in runs:
        time_once(fn)  # warm up
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(args.repeats):
        for samples_of, fn in zip(samples, runs, strict=True):
            samples_of.append(time_once(fn))
    base = per_step_us(statistics.median(samples[0]), N)
    rows: list[list[object]] = []
    ok = True
    names = [name for name, _, _ in cases]
    for name, samples_of in zip(names, samples, strict=False):
        us = per_step_us(statistics.median(samples_of), N)
        added = us - base
        bar: str | None = None
        if name == ".timeout(60)":
            bar = f"<= {TIMEOUT_BAR_US:g}"
            ok &= added <= TIMEOUT_BAR_US
        rows.append([name, us, added, bar])
    hand, scoped = (per_step_us(statistics.median(x), N) for x in samples[len(cases) :])
    rows.append([floor[0], hand, None, None])
    rows.append([floor[1], scoped, scoped - hand, None])
    print(f"async chain of {N} steps, policy on every step (median of {args.repeats})")
    print(format_table(["policy", "us/step", "us/step added", "bar"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
