"""What an `each` element costs: per element against a plain chain's per step, in one run.

Run: ``python benchmarks/bench_each.py [--repeats N] [--no-peers]``.

The ``each`` workload of BENCHMARKS.md: ``each(g)`` over 10,000 elements, ``g``
one step ``x + 1``, against a 10,000-step ``>>`` chain of the same step, both
with plain functions and with async ones, interleaved in one process. Then the
same pairs with a `Trace` on every event, under `Limits` (the careful path: the
elements as one nested run of the body laid out once per element) and journaled
in a SQLite file, for scale. Last, unless ``--no-peers``, the peers' venv (``bash
benchmarks/peers/setup.sh``) runs LangGraph's ``Send`` fan-out to one node over
10,000 elements next to dagfn's ``each`` on the same workload, in one process
(``run_peers.py --only each``), checked for correct values before timing.

Bars (issue 13): per element at most 1.2x the plain chain's per step (plain
and async bodies alike, no events, no journal), and at least 10x cheaper per
element than LangGraph's ``Send``. The other rows have no bar.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _timing import format_table, per_step_us, time_once

from dagfn import Graph, Limits, Trace, each, node, run
from dagfn._plan import plan_of
from dagfn.store import SqliteStore

N = 10_000
CHAIN_BAR = 1.2  # an element at most this many times a chain step
PEER_BAR = 10.0  # LangGraph's Send at least this many times an element
HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / "peers" / ".venv" / "bin" / "python"


def plus_one(x: int) -> int:
    return x + 1


async def plus_one_async(x: int) -> int:
    return x + 1


def chain(fn: Callable[[int], Any]) -> Graph[int, int, Any]:
    graph: Graph[int, int, Any] = node(fn).named("s0")
    for i in range(1, N):
        graph = graph >> node(fn).named(f"s{i}")
    return graph


Runner = Callable[[], Awaitable[None]]


def runner(graph: Graph[Any, Any, Any], x: object, expect: object, **options: Any) -> Runner:
    plan_of(graph)  # lowered outside the timing
    store_dir = tempfile.mkdtemp(prefix="bench_each_")
    runs = iter(range(1_000_000))

    async def once() -> None:
        kw = dict(options)
        if kw.pop("journal", False):  # a new run id (and file) per run: nothing to reuse
            with SqliteStore(Path(store_dir) / f"r{next(runs)}.sqlite") as store:
                result = await run(graph, x, store=store, run_id="r", **kw)
        else:
            if "on_event" in kw:
                kw["on_event"] = Trace()
            result = await run(graph, x, **kw)
        assert result.unwrap() == expect, result

    return once


def measure(
    pairs: dict[str, tuple[Runner, Runner]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Median seconds of each (element runner, chain runner), all interleaved round by round."""
    samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
    for round_ in range(repeats + 1):
        for name, (elements, steps) in pairs.items():
            a, b = time_once(elements), time_once(steps)
            if round_:  # the first round warms up
                samples[name][0].append(a)
                samples[name][1].append(b)
    return {k: (statistics.median(a), statistics.median(b)) for k, (a, b) in samples.items()}


def peers(repeats: int) -> dict[str, float] | str:
    """Per element microseconds of dagfn's each and LangGraph's Send, from one peers run."""
    if not PEERS_PYTHON.exists():
        return "the peers' venv is missing: run `bash benchmarks/peers/setup.sh`"
    with tempfile.TemporaryDirectory() as out:
        command = [
            str(PEERS_PYTHON),
            str(HERE / "peers" / "run_peers.py"),
            "--only",
            "each",
            "--no-plot",
            "--repeats",
            str(max(repeats, 5)),
            "--out",
            out,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"run_peers.py failed ({done.returncode}): {done.stderr[-500:]}"
        rows = json.loads((Path(out) / "peers.json").read_text())["rows"]
    found = {r["system"]: r for r in rows if r["workload"] == "each"}
    figures: dict[str, float] = {}
    for system in ("dagfn", "langgraph", "trio engine (floor)"):
        row = found.get(system)
        if row is None or not row["timed"]:
            detail = "not run" if row is None else row["detail"] or row["note"]
            return f"{system} has no timed each row: {detail}"
        figures[system] = row["us_per_step"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-peers", action="store_true", help="skip LangGraph's Send")
    args = parser.parse_args()
    xs = list(range(N))
    plain = tuple(x + 1 for x in xs)
    sync_each, async_each = each(node(plus_one)), each(node(plus_one_async))
    sync_chain, async_chain = chain(plus_one), chain(plus_one_async)
    pairs = {
        "plain": (runner(sync_each, xs, plain), runner(sync_chain, 0, N)),
        "async": (runner(async_each, xs, plain), runner(async_chain, 0, N)),
        "plain, events (Trace)": (
            runner(sync_each, xs, plain, on_event=True),
            runner(sync_chain, 0, N, on_event=True),
        ),
        "async, events (Trace)": (
            runner(async_each, xs, plain, on_event=True),
            runner(async_chain, 0, N, on_event=True),
        ),
        "async, Limits(concurrency=64)": (
            runner(async_each, xs, plain, limits=Limits(concurrency=64)),
            runner(async_chain, 0, N, limits=Limits(concurrency=64)),
        ),
        "plain, journaled (SQLite)": (
            runner(sync_each, xs, plain, journal=True),
            runner(sync_chain, 0, N, journal=True),
        ),
    }
    times = measure(pairs, args.repeats)
    ok = True
    rows: list[list[object]] = []
    for name, (t_each, t_chain) in times.items():
        ratio = t_each / t_chain
        barred = name in ("plain", "async")
        if barred:
            ok &= ratio <= CHAIN_BAR
        verdict = ("ok" if ratio <= CHAIN_BAR else "OVER") if barred else "-"
        rows.append(
            [
                name,
                f"{per_step_us(t_each, N):.2f}",
                f"{per_step_us(t_chain, N):.2f}",
                f"{ratio:.2f}",
                f"<= {CHAIN_BAR}" if barred else "-",
                verdict,
            ]
        )
    headers = ["10,000 x (x + 1)", "each us/element", "chain us/step", "ratio", "bar", "verdict"]
    print(format_table(headers, rows))
    if not args.no_peers:
        print()
        found = peers(args.repeats)
        if isinstance(found, str):
            print(f"LangGraph Send: skipped: {found}")
        else:
            ratio = found["langgraph"] / found["dagfn"]
            ok &= ratio >= PEER_BAR
            peer_rows = [
                ["dagfn each", f"{found['dagfn']:.2f}", "1.00", "-", "-"],
                [
                    "LangGraph Send",
                    f"{found['langgraph']:.2f}",
                    f"{ratio:.1f}",
                    f">= {PEER_BAR:g}",
                    "ok" if ratio >= PEER_BAR else "UNDER",
                ],
                [
                    "trio engine (one task per element)",
                    f"{found['trio engine (floor)']:.2f}",
                    f"{found['trio engine (floor)'] / found['dagfn']:.2f}",
                    "-",
                    "-",
                ],
            ]
            print("The same 10,000 elements, async bodies, in the peers' venv (one process):")
            print(format_table(["system", "us/element", "x dagfn", "bar", "verdict"], peer_rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
