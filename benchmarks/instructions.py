"""Before and after without noise: instructions per step under callgrind, two checkouts.

Run: ``python benchmarks/instructions.py --base DIR [CASE ...]`` (cases: none,
timeout, retry, breaker, on, limits, journal; default all). Each case is the
2,000-step async chain of ``bench_policies.py`` with that policy on every step
(``journal``: no policy, every run journaled in one `MemoryStore`, whose rows
are the journal's encoding without a writer thread's variable group sizes). It runs
under ``valgrind --tool=callgrind`` once with one run of the chain and once
with three, per checkout; the difference over 4,000 steps is the run's own
cost per step (building the graph and starting Python cancel out). Counts of
instructions repeat exactly for the same code and input, whatever else the
machine does, so a ratio of 1.01 is a real 1%: what wall-clock figures on a
shared machine cannot show. Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CASES = ("none", "timeout", "retry", "breaker", "on", "limits", "journal")

CHAIN = """
import sys, trio
from dagfn import Breaker, Limits, node, run
from dagfn.store import MemoryStore
case, reps = sys.argv[1], int(sys.argv[2])
async def one(x: int) -> int:
    return x + 1
breaker = Breaker("b", failures=10**9)
policy = {"none": lambda g: g, "timeout": lambda g: g.timeout(60),
          "retry": lambda g: g.retry(3), "breaker": lambda g: g.breaker(breaker),
          "on": lambda g: g.on("llm"), "limits": lambda g: g, "journal": lambda g: g}[case]
graph = None
for i in range(2000):
    step = policy(node(one).named(f"s{i}"))
    graph = step if graph is None else graph >> step
options = {"limits": Limits(concurrency=8)} if case == "limits" else {}
if case == "journal":
    options = {"store": MemoryStore()}
async def main() -> None:
    for _ in range(reps):
        assert (await run(graph, 0, **options)).unwrap() == 2000
trio.run(main)
"""


def instructions(tree: Path, case: str, reps: int) -> int:
    """Instructions callgrind counts for ``reps`` runs of the chain with ``tree``'s dagfn."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        CHAIN,
        case,
        str(reps),
    ]
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed for {case} in {tree}: {done.stderr[-2000:]}")
    return int(found.group(1))


def per_step(tree: Path, case: str) -> float:
    return (instructions(tree, case, 3) - instructions(tree, case, 1)) / 4000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("cases", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}: choose from {', '.join(CASES)}")
    base = args.base.resolve()
    print(f"base: {base}  this: {HERE}  (instructions per step, callgrind)")
    print("| case | base | this | this/base |")
    print("| --- | --- | --- | --- |")
    for case in args.cases or CASES:
        b, m = per_step(base, case), per_step(HERE, case)
        print(f"| {case} | {b:.0f} | {m:.0f} | {m / b:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
