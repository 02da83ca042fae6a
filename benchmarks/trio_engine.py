"""The hand-written trio engine of BENCHMARKS.md: the floor for a trio interpreter.

One task per step, spawned with ``nursery.start_soon`` the moment its inputs
exist (indegree counters, no waves). Each task gathers its inputs' values,
calls the step body, stores the value, then decrements its dependents'
counters and spawns those that reach zero. It does all the work a real engine
must (pass values, one task per step, honour a concurrency limit) and nothing
more: no failure handling, no events, no paths.

Modules in `benchmarks/` import each other as top-level modules (``from
workloads import chain``): scripts run as ``python benchmarks/NAME.py`` have
this directory on ``sys.path``; tests and the peers' runner put it there.

Bodies (all compute the value semantics of `workloads`: sum of inputs + 1):

- ``"async"``: an ``async def`` that does not await (chain, fanout, lattice);
- ``"sync"``: a plain function called inside the step's task (the sync chain);
- ``"sleep"``: ``await trio.sleep(duration)`` first (makespan, limited).

>>> import trio
>>> from workloads import chain
>>> trio.run(run_trio_engine, prepare(chain(3)))
(1, 2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import trio
from workloads import ROOT_INPUT, Dag, dependents

__all__ = ["BodyKind", "Prepared", "prepare", "run_trio_engine"]

BodyKind = Literal["async", "sync", "sleep"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A `Dag` turned into what the engine reads while running (built outside the timing)."""

    # deps[i]: steps whose values are step i's arguments, in order.
    deps: tuple[tuple[int, ...], ...]
    # dependents[i]: steps whose counter drops when step i finishes.
    dependents: tuple[tuple[int, ...], ...]
    # indegree[i] == len(deps[i]); copied into a fresh counter list per run.
    indegree: tuple[int, ...]
    # roots: steps with indegree 0, started first.
    roots: tuple[int, ...]
    # durations[i]: the "sleep" body's duration; None for no-op workloads.
    durations: tuple[float, ...] | None


def prepare(dag: Dag) -> Prepared:
    """Precompute dependents and indegrees: the engine's plan, built once per DAG."""
    return Prepared(
        deps=dag.deps,
        dependents=dependents(dag),
        indegree=tuple(len(d) for d in dag.deps),
        roots=dag.roots,
        durations=dag.durations,
    )


def add_one(*inputs: int) -> int:
    """The step body: the sum of the inputs + 1."""
    return sum(inputs) + 1


async def add_one_async(*inputs: int) -> int:
    """The step body as a coroutine that does not await."""
    return sum(inputs) + 1


async def run_trio_engine(
    plan: Prepared,
    body: BodyKind = "async",
    *,
    concurrency: int | None = None,
    root_input: int = ROOT_INPUT,
) -> tuple[int, ...]:
    """Run `plan` with one trio task per step and return every step's value, by step number.

    `concurrency` bounds the bodies running at once (a `trio.CapacityLimiter`,
    first come first served), as the "limited" workload asks.
    """
    durations = plan.durations
    if body == "sleep" and durations is None:
        msg = "Expected a plan with durations for body='sleep' but got durations=None"
        raise ValueError(msg)
    deps = plan.deps
    dependents_of = plan.dependents
    # remaining[i]: inputs of step i not yet computed; the step is spawned when it hits 0.
    remaining = list(plan.indegree)
    values = [0] * len(deps)
    root_args = (root_input,)
    limiter = None if concurrency is None else trio.CapacityLimiter(concurrency)

    async def step(i: int) -> None:
        ds = deps[i]
        args = [values[j] for j in ds] if ds else root_args
        if body == "sync":
            value = add_one(*args)
        elif limiter is not None:
            async with limiter:
                if durations is not None and body == "sleep":
                    await trio.sleep(durations[i])
                value = await add_one_async(*args)
        else:
            if durations is not None and body == "sleep":
                await trio.sleep(durations[i])
            value = await add_one_async(*args)
        values[i] = value
        for j in dependents_of[i]:
            remaining[j] -= 1
            if remaining[j] == 0:
                nursery.start_soon(step, j)

    async with trio.open_nursery() as nursery:
        for i in plan.roots:
            nursery.start_soon(step, i)
    return tuple(values)
