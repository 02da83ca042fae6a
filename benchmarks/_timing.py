"""A tiny timing harness: medians of timed runs, and aligned tables of the results.

Only the run is timed: graphs are built before, and for trio runs the clock
starts inside ``trio.run`` (so trio's own start-up is not counted). Each repeat
starts after a ``gc.collect()`` so that garbage from one run is not paid by the next.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

import trio

__all__ = [
    "format_table",
    "median_time",
    "median_time_sync",
    "per_step_us",
    "ratio",
    "time_once",
]


def time_once(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds taken by one ``await fn()`` inside a fresh ``trio.run``."""
    elapsed = 0.0

    async def timed() -> None:
        nonlocal elapsed
        start = time.perf_counter()
        await fn()
        elapsed = time.perf_counter() - start

    gc.collect()
    trio.run(timed)
    return elapsed


def median_time(fn: Callable[[], Awaitable[object]], repeats: int = 7, warmup: int = 1) -> float:
    """The median seconds of `repeats` trio runs of ``await fn()``, after `warmup` untimed ones."""
    _check_repeats(repeats, warmup)
    for _ in range(warmup):
        time_once(fn)
    return statistics.median(time_once(fn) for _ in range(repeats))


def median_time_sync(fn: Callable[[], object], repeats: int = 7, warmup: int = 1) -> float:
    """The median seconds of `repeats` calls of a plain `fn`, after `warmup` untimed ones."""
    _check_repeats(repeats, warmup)
    times: list[float] = []
    for n in range(warmup + repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        if n >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_step_us(seconds: float, steps: int) -> float:
    """Microseconds per step."""
    return seconds / steps * 1e6


def ratio(value: float, reference: float) -> float:
    """`value` / `reference`, or NaN when the reference is zero."""
    return value / reference if reference else float("nan")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table with aligned columns; floats get 2 decimals (3 below 10), None is "-".

    >>> print(format_table(["name", "us"], [["chain", 12.5], ["fanout", None]]))
    | name   | us    |
    | ------ | ----- |
    | chain  | 12.50 |
    | fanout | -     |
    """
    cells = [[_cell(v) for v in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            msg = f"Expected rows of {len(headers)} cells but got row={row!r}"
            raise ValueError(msg)
    widths = [max([len(h), *(len(r[c]) for r in cells)]) for c, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _check_repeats(repeats: int, warmup: int) -> None:
    if repeats < 1:
        msg = f"Expected repeats >= 1 but got repeats={repeats!r} (type={type(repeats).__name__})"
        raise ValueError(msg)
    if warmup < 0:
        msg = f"Expected warmup >= 0 but got warmup={warmup!r} (type={type(warmup).__name__})"
        raise ValueError(msg)
