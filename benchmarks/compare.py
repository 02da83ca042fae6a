"""Before and after in one run: benchmark scripts on two checkouts, interleaved.

Run: ``python benchmarks/compare.py --base DIR [--rounds 5] [--repeats 5]
[SCRIPT ...]`` (default scripts: ``bench_core.py bench_policies.py``). ``DIR``
is another checkout of dagfn (``git worktree add --detach DIR REV``). Each
round runs every script once on each checkout, alternating which goes first,
with ``PYTHONPATH`` set so each imports its own ``dagfn``; so drift on a
shared machine falls on both alike. Every numeric cell of the scripts'
markdown tables is collected; the report gives, per script, table row and
column, the median over the rounds for the base and for this checkout and
their ratio (this / base: below 1 is faster for times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPTS = ("bench_core.py", "bench_policies.py")

# (script, table header, row name, column name) -> samples
Samples = dict[tuple[str, str, str, str], list[float]]


def tables(text: str) -> list[tuple[str, str, str, float]]:
    """(header, row, column, value) of every numeric cell of the markdown tables in ``text``."""
    cells: list[tuple[str, str, str, float]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None
            continue
        parts = [p.strip() for p in line.strip("|").split("|")]
        if header is None:
            header = parts
            continue
        if set(parts[0]) <= {"-"}:
            continue  # the separator row
        for column, cell in zip(header[1:], parts[1:], strict=False):
            try:
                value = float(cell)
            except ValueError:
                continue
            cells.append((header[0], parts[0], column, value))
    return cells


def run_script(tree: Path, script: str, repeats: int) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree))
    path = tree / "benchmarks" / script
    command = [sys.executable, str(path), "--repeats", str(repeats)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        raise SystemExit(f"{script} in {tree} printed nothing: {done.stderr[-2000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("scripts", nargs="*", default=list(DEFAULT_SCRIPTS))
    args = parser.parse_args(argv)
    trees = {"base": args.base.resolve(), "this": HERE}
    samples: dict[str, Samples] = {"base": {}, "this": {}}
    for n in range(args.rounds):
        order = ("base", "this") if n % 2 == 0 else ("this", "base")
        for script in args.scripts:
            for which in order:
                out = run_script(trees[which], script, args.repeats)
                for header, row, column, value in tables(out):
                    key = (script, header, row, column)
                    samples[which].setdefault(key, []).append(value)
        print(f"round {n + 1} of {args.rounds} done", file=sys.stderr)
    print(f"base: {trees['base']}  this: {trees['this']}  ({args.rounds} rounds, interleaved)")
    print("| script | row | column | base | this | this/base |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key, base in samples["base"].items():
        mine = samples["this"].get(key)
        if not mine:
            continue
        script, _, row, column = key
        b, m = statistics.median(base), statistics.median(mine)
        ratio = f"{m / b:.3f}" if b else "-"
        print(f"| {script} | {row} | {column} | {b:.4g} | {m:.4g} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
