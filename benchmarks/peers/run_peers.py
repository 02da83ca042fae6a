"""Run the BENCHMARKS.md workloads on dagfn and every installed peer beside the trio engine.

    bash benchmarks/peers/run.sh [--repeats 5] [--quick]   # setup.sh, then this script

or, once the peers' venv exists (``bash benchmarks/peers/setup.sh``):

    benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py [--repeats 5] [--quick]

For each peer and workload: one checked run first (each step body counts its
runs and whether its inputs existed; the values must equal
``workloads.reference_values``). A correct case is then timed: the median of
``--repeats`` runs, timing only the run (graphs are built before). An incorrect
case is reported as INCORRECT with the counts and is not timed as if it were
right: its one checked run's time is shown in parentheses. A peer that is not
installed, or a workload it cannot express, is skipped with a note.

dagfn runs as one more "peer" (peer_dagfn.py, installed editable into the
peers' venv by setup.sh), checked the same way; "x dagfn" is each row's time
over dagfn's on the same workload. Then, unless ``--no-plot``, every system
runs chains of 100, 300, 1,000 and 3,000 steps (dask: plain-function bodies) and
the per-step cost against graph size is drawn with matplotlib.

Writes ``benchmarks/results/peers.json``, ``peers.md`` and ``per_step.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
for p in (BENCHMARKS, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _common import Case, Skip  # noqa: E402
from _timing import format_table, median_time, per_step_us, time_once  # noqa: E402
from trio_engine import BodyKind, prepare, run_trio_engine  # noqa: E402
from workloads import (  # noqa: E402
    Dag,
    chain,
    critical_path,
    fanout,
    lattice,
    lower_bound,
    makespan,
    reference_values,
)

PEER_MODULES = (
    "peer_dagfn",
    "peer_langgraph",
    "peer_pydantic_graph",
    "peer_synapsekit",
    "peer_dask",
)
RESULTS = BENCHMARKS / "results"
LIMIT = 4  # the "limited" workload's concurrency
PLOT_SIZES = (100, 300, 1000, 3000)  # chain lengths for per_step.png
EACH = 10_000  # elements of the "each" workload (a fanout made at run time)


@dataclass
class Row:
    system: str
    workload: str
    steps: int
    seconds: float | None = None
    timed: bool = False  # False: seconds is the single checked run of an incorrect case
    correct: bool | None = None
    detail: str = ""
    workers: int | None = None
    note: str = ""
    trio_ratio: float | None = None
    dagfn_ratio: float | None = None
    bound_ratio: float | None = None

    @property
    def us_per_step(self) -> float | None:
        return None if self.seconds is None else per_step_us(self.seconds, self.steps)


def standard_workloads(quick: bool) -> dict[str, Dag]:
    if quick:
        c, m = chain(200), makespan(60)
        return {
            "chain": c,
            "sync": c.renamed("sync"),
            "fanout": fanout(100),
            "lattice": lattice(5, 20),
            "makespan": m,
            "limited": m.renamed("limited"),
            "each": fanout(200).renamed("each"),
        }
    c, m = chain(), makespan()
    return {
        "chain": c,
        "sync": c.renamed("sync"),
        "fanout": fanout(),
        "lattice": lattice(),
        "makespan": m,
        "limited": m.renamed("limited"),
        # The fanout's middle steps as the elements of a list made at run time:
        # dagfn's each, LangGraph's Send; the trio engine spawns one task per element.
        "each": fanout(EACH).renamed("each"),
    }


def trio_rows(dags: dict[str, Dag], repeats: int) -> list[Row]:
    """The floor: benchmarks/trio_engine.py on every workload, in this process."""
    rows = []
    for workload, dag in dags.items():
        body: BodyKind = "async"
        if workload == "sync":
            body = "sync"
        elif dag.durations is not None:
            body = "sleep"
        concurrency = LIMIT if workload == "limited" else None
        plan = prepare(dag)
        out: list[tuple[int, ...]] = []

        async def once(
            plan: Any = plan,
            body: BodyKind = body,
            c: int | None = concurrency,
            out: list[tuple[int, ...]] = out,
        ) -> None:
            out.append(await run_trio_engine(plan, body, concurrency=c))

        seconds = median_time(once, repeats=repeats, warmup=1)
        ok = all(v == reference_values(dag) for v in out)
        rows.append(
            Row(
                "trio engine (floor)",
                workload,
                len(dag),
                seconds,
                True,
                ok,
                "ok" if ok else "values differ from reference_values",
                workers=concurrency,
            )
        )
    return rows


def run_case(case: Case) -> tuple[float, Any]:
    """Seconds of one run (only the run) and its result."""
    gc.collect()
    if case.runner == "sync":
        start = time.perf_counter()
        result = case.run()
        return time.perf_counter() - start, result
    if case.runner == "trio":
        box: list[Any] = []

        async def into_box() -> None:
            box.append(await case.run())

        return time_once(into_box), box[0]

    async def timed() -> tuple[float, Any]:
        start = time.perf_counter()
        result = await case.run()
        return time.perf_counter() - start, result

    return asyncio.run(timed())


def peer_rows(
    label: str, build: Callable[[str, Dag], Case], dags: dict[str, Dag], repeats: int
) -> list[Row]:
    rows = []
    for workload, dag in dags.items():
        row = Row(label, workload, len(dag))
        rows.append(row)
        try:
            case = build(workload, dag)
        except Skip as skip:
            row.note = f"skipped: {skip}"
            print(f"  {label:28} {workload:9} {row.note}", flush=True)
            continue
        except Exception as exc:
            row.note = f"build failed: {type(exc).__name__}: {exc}"
            print(f"  {label:28} {workload:9} {row.note}", flush=True)
            continue
        row.workers = case.workers
        row.note = case.note
        try:
            case.probe.reset()
            first, values = run_case(case)
            row.correct, row.detail = case.probe.verdict(dag, values)
            if not row.correct:
                row.seconds = first
                continue
            times = []
            for _ in range(repeats):
                case.probe.reset()
                seconds, values = run_case(case)
                times.append(seconds)
            row.correct, row.detail = case.probe.verdict(dag, values)
            row.seconds = statistics.median(times)
            row.timed = row.correct
        except Exception as exc:
            row.correct = False
            row.detail = f"run failed: {type(exc).__name__}: {exc}"
            traceback.print_exc(limit=3)
        print(f"  {label:28} {workload:9} {_us(row):>10} us/step  {row.detail}", flush=True)
    return rows


def add_ratios(rows: list[Row], dags: dict[str, Dag]) -> None:
    floor = {r.workload: r.seconds for r in rows if r.system.startswith("trio engine")}
    ours = {r.workload: r.seconds for r in rows if r.system == "dagfn" and r.timed}
    for r in rows:
        reference = floor.get(r.workload)
        if r.timed and r.seconds is not None and reference:
            r.trio_ratio = r.seconds / reference
        reference = ours.get(r.workload)
        if r.timed and r.seconds is not None and reference:
            r.dagfn_ratio = r.seconds / reference
        dag = dags[r.workload]
        if r.timed and r.seconds is not None and dag.durations is not None:
            bound = lower_bound(dag, r.workers) if r.workers else critical_path(dag)
            r.bound_ratio = r.seconds / bound


def versions(loaded: dict[str, Any]) -> dict[str, str]:
    out = {"python": platform.python_version(), "trio": version("trio")}
    names = ("dagfn", "langgraph", "langchain-core", "pydantic-graph", "synapsekit", "dask")
    for name in (*names, "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def _us(r: Row) -> str:
    us = r.us_per_step
    if us is None:
        return "-"
    return f"{us:.1f}" if r.timed else f"({us:.1f})"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    headers = [
        "system",
        "workload",
        "steps",
        "us/step",
        "x trio",
        "x dagfn",
        "makespan / bound",
        "correct",
    ]
    table = []
    for r in rows:
        if r.correct is None:
            verdict = r.note or "-"
        elif r.correct:
            verdict = "yes"
        else:
            verdict = f"INCORRECT: {r.detail}"
        table.append(
            [
                r.system,
                r.workload,
                r.steps,
                _us(r),
                _ratio(r.trio_ratio),
                _ratio(r.dagfn_ratio),
                _ratio(r.bound_ratio),
                verdict,
            ]
        )
    v = ", ".join(f"{k} {val}" for k, val in meta["versions"].items())
    m = meta["machine"]
    lines = [
        "# Peers side by side",
        "",
        f"Measured {meta['date']} on {m['cpu']} ({m['cores']} cores), {m['platform']}.",
        f"Versions: {v}.",
        f"Median of {meta['repeats']} runs after one checked run; only the run is timed.",
        "",
        format_table(headers, table),
        "",
        "- us/step: median run time / steps. In parentheses: one run of an INCORRECT case,",
        "  not timed as if it were right.",
        "- x trio: ratio to benchmarks/trio_engine.py on the same workload in the same process",
        "  (sync: the trio engine with plain-function bodies).",
        "- x dagfn: ratio to dagfn on the same workload in the same process (above 1: slower).",
        "- makespan / bound: run time over the critical path, or over",
        "  max(critical path, total work / k) with k workers (limited: k = 4).",
        "- correct: every step body ran once, none before all its inputs existed, and",
        "  every value equals reference_values.",
    ]
    notes = sorted({f"- {r.system}: {r.note}" for r in rows if r.note})
    if notes:
        lines += ["", "Notes (skipped workloads and workarounds):", "", *notes]
    return "\n".join(lines) + "\n"


def verdicts(rows: list[Row]) -> list[str]:
    """The issue's bars, read off the rows: overhead vs LangGraph/pydantic-graph, makespan."""
    lines = []
    overhead = ("chain", "sync", "fanout", "lattice")
    for peer in ("langgraph", "pydantic-graph"):
        ratios = {
            r.workload: r.dagfn_ratio
            for r in rows
            if r.system == peer and r.workload in overhead and r.dagfn_ratio is not None
        }
        if ratios:
            low = min(ratios, key=lambda w: ratios[w] or 0.0)
            shown = ", ".join(f"{w} {x:.1f}x" for w, x in ratios.items() if x is not None)
            bar = "ok" if (ratios[low] or 0.0) >= 10 else "UNDER 10x"
            lines.append(f"- {peer} per step over dagfn: {shown} (least: {low}; {bar})")
    for workload in ("makespan", "limited"):
        if not any(r.workload == workload for r in rows):
            continue
        within = sorted(
            r.system
            for r in rows
            if r.workload == workload
            and r.correct
            and r.bound_ratio is not None
            and r.bound_ratio <= 1.07
            and not r.system.startswith("trio engine")
        )
        lines.append(f"- {workload}: correct and at or below 1.07x the bound: {within or 'none'}")
    send = [r.dagfn_ratio for r in rows if r.system == "langgraph" and r.workload == "each"]
    if send and send[0] is not None:
        bar = "ok" if send[0] >= 10 else "UNDER 10x"
        lines.append(
            f"- each: langgraph Send per element over dagfn's each: {send[0]:.1f}x ({bar})"
        )
    return lines


def chain_series(
    loaded: dict[str, Any], sizes: tuple[int, ...], repeats: int, cap: float
) -> dict[str, list[tuple[int, float]]]:
    """Per-step microseconds of a chain of each size, per system (dask: plain functions).

    A system stops growing once one run takes more than `cap` seconds; an
    incorrect run is left out (and said so), never drawn.
    """
    series: dict[str, list[tuple[int, float]]] = {}
    points: list[tuple[int, float]] = []
    for n in sizes:
        plan = prepare(chain(n))

        async def engine(plan: Any = plan) -> None:
            await run_trio_engine(plan, "async")

        points.append((n, per_step_us(median_time(engine, repeats=repeats), n)))
    series["trio engine (floor)"] = points
    for module in loaded.values():
        for label, build in module.PEERS.items():
            points = []
            name = label
            for n in sizes:
                dag = chain(n)
                try:
                    case = build("chain", dag)
                except Skip:
                    case = build("sync", dag.renamed("sync"))
                    name = f"{label} (plain functions)"
                case.probe.reset()
                first, values = run_case(case)
                ok, detail = case.probe.verdict(dag, values)
                if not ok:
                    print(f"  {name} chain({n}): INCORRECT ({detail}); not drawn", flush=True)
                    break
                times = []
                for _ in range(repeats):
                    case.probe.reset()
                    times.append(run_case(case)[0])
                points.append((n, per_step_us(statistics.median(times), n)))
                print(f"  {name:40} chain({n:5}) {points[-1][1]:9.1f} us/step", flush=True)
                if first > cap:
                    break
            series[name] = points
    return series


def plot(series: dict[str, list[tuple[int, float]]], path: Path, meta: dict[str, Any]) -> None:
    """Per-step cost against chain length, one line per system, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    for name, points in series.items():
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = "-o" if name in ("dagfn", "trio engine (floor)") else "--s"
        ax.plot(xs, ys, style, label=name, linewidth=2 if name == "dagfn" else 1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chain length (steps)")
    ax.set_ylabel("microseconds per step (median run / steps)")
    m = meta["machine"]
    ax.set_title(f"Per-step cost against graph size ({meta['date'][:10]}, {m['cores']} cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (>= 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results")
    parser.add_argument("--no-plot", action="store_true", help="skip the chain sizes and plot")
    parser.add_argument("--plot-repeats", type=int, default=3, help="timed runs per plot point")
    parser.add_argument(
        "--plot-cap", type=float, default=3.0, help="seconds of one run past which sizes stop"
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw per_step.png from peers.json"
    )
    parser.add_argument(
        "--only", action="append", default=[], help="run only this workload (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads((args.out / "peers.json").read_text())
        series = {k: [tuple(p) for p in v] for k, v in saved["per_step_us_by_chain_length"].items()}
        plot(series, args.out / "per_step.png", saved)
        print(f"wrote {args.out / 'per_step.png'}")
        return 0
    dags = standard_workloads(args.quick)
    if args.only:
        unknown = sorted(set(args.only) - set(dags))
        if unknown:
            parser.error(f"unknown workloads {unknown}; known: {sorted(dags)}")
        dags = {w: d for w, d in dags.items() if w in args.only}
    print(f"trio engine (floor), {args.repeats} repeats", flush=True)
    rows = trio_rows(dags, args.repeats)
    for r in rows:
        print(f"  {r.system:28} {r.workload:9} {_us(r):>10} us/step  {r.detail}", flush=True)
    loaded: dict[str, Any] = {}
    skipped: list[str] = []
    for name in PEER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            msg = f"{name.removeprefix('peer_')}: not installed ({exc}); run setup.sh"
            skipped.append(msg)
            print(f"skip {msg}", flush=True)
            continue
        loaded[name] = module
        for label, build in module.PEERS.items():
            print(label, flush=True)
            rows += peer_rows(label, build, dags, args.repeats)
    add_ratios(rows, dags)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": versions(loaded),
        "machine": machine(),
        "repeats": args.repeats,
        "quick": args.quick,
        "skipped_peers": skipped,
        "bounds": {
            w: {"critical_path": critical_path(d), f"lower_bound_{LIMIT}": lower_bound(d, LIMIT)}
            for w, d in dags.items()
            if d.durations is not None
        },
    }
    text = markdown(rows, meta)
    text += "\nThe issue's bars, from the rows above:\n\n" + "\n".join(verdicts(rows)) + "\n"
    if skipped:
        text += "\nPeers not installed:\n\n" + "".join(f"- {s}\n" for s in skipped)
    args.out.mkdir(parents=True, exist_ok=True)
    series: dict[str, list[tuple[int, float]]] = {}
    if not args.no_plot:
        sizes = (20, 60, 200) if args.quick else PLOT_SIZES
        print(f"chains of {sizes} steps, {args.plot_repeats} repeats", flush=True)
        series = chain_series(loaded, sizes, args.plot_repeats, args.plot_cap)
        headers = ["system", *(f"chain {n}" for n in sizes)]
        table = [[name, *(dict(points).get(n) for n in sizes)] for name, points in series.items()]
        text += "\nPer-step microseconds against chain length (per_step.png):\n\n"
        text += format_table(headers, table) + "\n"
        try:
            plot(series, args.out / "per_step.png", meta)
            print(f"wrote {args.out / 'per_step.png'}")
        except ImportError:
            text += "\nmatplotlib is not installed here: no per_step.png (run setup.sh).\n"
    print()
    print(text)
    payload = {
        **meta,
        "rows": [{**vars(r), "us_per_step": r.us_per_step} for r in rows],
        "per_step_us_by_chain_length": series,
    }
    (args.out / "peers.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / "peers.md").write_text(text)
    print(f"wrote {args.out / 'peers.json'} and {args.out / 'peers.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
