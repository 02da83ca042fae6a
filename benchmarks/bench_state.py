"""Per-step cost of state graphs (`update`) and `Builder` graphs against plain graphs.

Run: ``python benchmarks/bench_state.py [--steps N] [--repeats R]``. Prints
microseconds per step, measured in this one process (ratios are what count):

- ``plain chain`` / ``builder chain``: N sync steps built with ``>>`` and with
  a `Builder`; they lower to the same plan, so the cost should match.
- ``plain join``: N/3 rounds of ``(state & a & b).join(fold)`` that fold two
  deltas into a state record with ``record(S)`` by hand, unchecked: what
  `update` does, minus its checks (4 steps a round: the state needs an
  identity step to be a join's argument).
- ``update``: the same rounds as ``update(a, b)`` (3 steps a round): the delta
  steps check their deltas, the fold step folds them in argument order.

The ratio of the state rows compares time per round, not per step.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import attrs
from _timing import format_table, median_time, per_step_us, ratio

from dagfn import Builder, Graph, node, reduced, run, update
from dagfn._plan import plan_of
from dagfn.monoid import Concat, First, Last, Max, Sum, record


@attrs.frozen
class State:
    log: tuple[str, ...] = reduced(Concat())
    total: int = reduced(Sum())
    best: float = reduced(Max(0.0))
    first: str | None = reduced(First(None))
    last: str = reduced(Last(""))


def inc(x: int) -> int:
    return x + 1


def plain_chain(n: int) -> Graph[int, int, Any]:
    g: Graph[int, int, Any] = node(inc)
    for i in range(1, n):
        g = g >> node(inc).named(f"s{i}")
    return g


def builder_chain(n: int) -> Graph[Any, Any, Any]:
    b = Builder()
    b.add("s0", inc)
    for i in range(1, n):
        b.add(f"s{i}", inc, after=(f"s{i - 1}",))
    return b.build(output=f"s{n - 1}")


def count(s: State) -> State:
    return State(total=1, last="a")


def score(s: State) -> State:
    return State(best=float(s.total), first="b")


FOLD = record(State)


def fold_two(s: State, a: State, b: State) -> State:
    return FOLD.combine(FOLD.combine(s, a), b)


def identity(s: State) -> State:
    return s


def plain_rounds(rounds: int) -> Graph[State, State, Any]:
    g: Graph[State, State, Any] = node(identity)
    for i in range(rounds):
        a, b = node(count).named(f"count{i}"), node(score).named(f"score{i}")
        g = g >> (node(identity).named(f"state{i}") & a & b).join(fold_two, name=f"fold{i}")
    return g


def update_rounds(rounds: int) -> Graph[State, State, Any]:
    g: Graph[State, State, Any] = node(identity)
    for i in range(rounds):
        a, b = node(count).named(f"count{i}"), node(score).named(f"score{i}")
        g = g >> update(a, b)
    return g


def timed(graph: Graph[Any, Any, Any], x: object, expected: object, repeats: int) -> float:
    plan_of(graph)  # lower outside the timing

    async def once() -> None:
        result = await run(graph, x)
        if result.unwrap() != expected:
            raise AssertionError(f"computed {result}, expected {expected}")

    return median_time(once, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n, repeats = args.steps, args.repeats
    rounds = n // 3
    final = State(total=rounds, best=float(rounds - 1), first="b", last="a")
    t_plain = timed(plain_chain(n), 0, n, repeats)
    t_builder = timed(builder_chain(n), 0, n, repeats)
    t_join = timed(plain_rounds(rounds), State(), final, repeats)
    t_update = timed(update_rounds(rounds), State(), final, repeats)
    rows = [
        ["plain chain", per_step_us(t_plain, n), 1.0],
        ["builder chain", per_step_us(t_builder, n), ratio(t_builder, t_plain)],
        ["plain join (state by hand)", per_step_us(t_join, 4 * rounds), 1.0],
        ["update (checked deltas)", per_step_us(t_update, 3 * rounds), ratio(t_update, t_join)],
    ]
    print(format_table(["graph", "us/step", "ratio"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
