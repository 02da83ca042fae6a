"""Executors: blocking I/O in threads, pure-Python work in processes, the rest inline.

    python examples/executors.py

`Processes()` is the run's default executor for plain functions here; `.via(Threads())`
sends the blocking `download` step to a thread instead. Both need the processes extra
(`pip install 'dagfn[processes]'`) and, as worker processes are spawned, the
`if __name__ == "__main__":` guard below.
"""

from __future__ import annotations

import time

import trio

from dagfn import gather, node, run
from dagfn.executors import Processes, Threads


def download(n: int) -> int:
    time.sleep(0.05)  # blocking I/O: a thread
    return n


def crunch(n: int) -> int:  # pure-Python work: a process
    return sum(i * i for i in range(n))


def total(parts: tuple[int, ...]) -> int:
    return sum(parts)


pipeline = (
    node(download).via(Threads())
    >> gather([node(crunch).named(f"crunch{i}") for i in range(4)])
    >> node(total)
)


async def main() -> int:
    async with Processes(workers=2) as pool:
        started = time.perf_counter()
        result = await run(pipeline, 300_000, executor=pool)
        print(result, f"in {time.perf_counter() - started:.2f} s")
        assert result.unwrap() == 4 * sum(i * i for i in range(300_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(trio.run(main))
