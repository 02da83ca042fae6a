"""Views of runs: stdlib logging, OpenTelemetry spans, gantt charts, loops in flowcharts."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import pytest
import trio
import trio.testing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from returns.result import Failure, Success

import dagfn
import dagfn.otel
from dagfn import (
    Trace,
    interrupt,
    log_events,
    loop,
    node,
    route,
    run,
    run_sync,
    to_gantt,
    to_mermaid,
)
from dagfn.store import MemoryStore


@node
async def fetch(x: int) -> int:
    await trio.sleep(0.001)
    return x + 1


@node
def double(x: int) -> int:
    return x * 2


def flaky_node(fails: int) -> dagfn.Graph[int, int, Any]:
    calls = [0]

    async def flaky(x: int) -> int:
        calls[0] += 1
        if calls[0] <= fails:
            raise ConnectionError(f"down {calls[0]}")
        return x

    return node(flaky).retry(3, backoff=0.001)


# -- logging ------------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Any:
    handler = Records()
    base = logging.getLogger("dagfn.run")
    base.addHandler(handler)
    base.setLevel(logging.DEBUG)
    yield handler.records
    base.removeHandler(handler)
    base.setLevel(logging.NOTSET)


def test_log_events_logs_each_event_to_one_logger_per_run_with_step_and_attempt(
    records: list[logging.LogRecord],
) -> None:
    g = (fetch & flaky_node(1)).join(lambda a, b: a + b) >> double
    assert run_sync(g, 1, store=MemoryStore(), run_id="r7", on_event=log_events()) == Success(6)
    assert {r.name for r in records} == {"dagfn.run.r7"}
    assert all(r.run_id == "r7" for r in records)  # type: ignore[attr-defined]
    lines = [(r.levelname, r.getMessage()) for r in records]
    assert lines[0] == ("INFO", "run started") and lines[-1] == ("INFO", "run succeeded")
    assert ("WARNING", "retry flaky: attempt 1 failed: ConnectionError('down 1')") in lines
    assert ("DEBUG", "start flaky (attempt 2)") in lines
    finish = next(r for r in records if r.getMessage().startswith("finish flaky"))
    assert (finish.step, finish.attempt, finish.event) == ("flaky", 2, "finish")  # type: ignore[attr-defined]
    assert re.fullmatch(r"finish flaky \(attempt 2\) in \d+\.\d ms", finish.getMessage())
    assert "dagfn.run.r7" not in logging.Logger.manager.loggerDict  # no logger kept per run


def test_a_failed_step_is_logged_as_an_error_with_its_traceback(
    records: list[logging.LogRecord],
) -> None:
    @node
    def boom(x: int) -> int:
        raise ValueError("bad input")

    on_event = log_events()
    result = run_sync(fetch >> boom, 1, on_event=on_event)
    assert isinstance(result, Failure)
    error = next(r for r in records if r.levelno == logging.ERROR)
    assert error.getMessage() == "fail boom: ValueError('bad input')"
    assert error.exc_info is not None and error.exc_info[1] is result.failure().error
    assert records[-1].levelname == "WARNING" and records[-1].getMessage().startswith("run failed")
    assert len({r.name for r in records}) == 1 and records[0].name.startswith("dagfn.run.")


def test_concurrent_runs_sharing_one_log_events_log_to_their_own_loggers(
    records: list[logging.LogRecord],
) -> None:
    on_event = log_events()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(3):
                go = functools.partial(run, store=MemoryStore(), run_id=f"c{i}", on_event=on_event)
                nursery.start_soon(go, fetch >> double, i)

    trio.run(main)
    for i in range(3):
        mine = [r.getMessage() for r in records if r.name == f"dagfn.run.c{i}"]
        assert mine[0] == "run started" and mine[-1] == "run succeeded"
        assert sum(m.startswith("finish") for m in mine) == 2


def test_log_events_takes_a_logger_or_a_name() -> None:
    handler = Records()
    mine = logging.getLogger("myapp.pipelines")
    mine.addHandler(handler)
    mine.setLevel(logging.INFO)
    try:
        run_sync(double, 2, on_event=log_events("myapp.pipelines"))
    finally:
        mine.removeHandler(handler)
    messages = [r.getMessage().partition(" in ")[0] for r in handler.records]
    assert messages == ["run started", "finish double", "run succeeded"]  # INFO and up
    assert handler.records[0].name.startswith("myapp.pipelines.")
    with pytest.raises(dagfn.InvalidArgument, match="logger"):
        log_events(3)  # type: ignore[arg-type]


# -- OpenTelemetry ------------------------------------------------------------------


@pytest.fixture
def spans() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider.get_tracer("test")
    provider.shutdown()


def test_one_span_per_step_attempt_under_one_span_per_run(spans: Any) -> None:
    exporter, tracer = spans
    g = (fetch & flaky_node(1)).join(lambda a, b: a + b, name="total")
    result = run_sync(g, 1, on_event=dagfn.otel.trace_events(tracer))
    assert result == Success(3)
    finished = exporter.get_finished_spans()
    (root,) = [s for s in finished if s.name == "dagfn.run"]
    steps = [s for s in finished if s.name != "dagfn.run"]
    assert sorted(s.name for s in steps) == ["fetch", "flaky", "flaky", "total"]
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in steps)
    assert all(s.context.trace_id == root.context.trace_id for s in steps)
    first, second = sorted((s for s in steps if s.name == "flaky"), key=lambda s: s.start_time)
    assert first.attributes["dagfn.attempt"] == 1 and second.attributes["dagfn.attempt"] == 2
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["dagfn.error"] == "ConnectionError('down 1')"
    assert first.events[0].name == "exception"  # recorded with its type and message
    assert second.status.status_code is StatusCode.OK and second.attributes["dagfn.cached"] is False
    assert root.attributes["dagfn.outcome"] == "succeeded"
    assert root.attributes["dagfn.run_id"] == first.attributes["dagfn.run_id"]
    assert all(root.start_time <= s.start_time <= s.end_time <= root.end_time for s in steps)


def test_a_failed_and_a_paused_run_end_their_spans_saying_so(spans: Any) -> None:
    exporter, tracer = spans
    on_event = dagfn.otel.trace_events(tracer)
    failed = run_sync(fetch >> flaky_node(5), 1, on_event=on_event)
    assert isinstance(failed, Failure)
    root = next(s for s in exporter.get_finished_spans() if s.name == "dagfn.run")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["dagfn.failed"] == ("flaky",)
    exporter.clear()

    def ask(x: int) -> str:
        return "ok?"

    paused = run_sync(
        fetch >> interrupt(ask, answer=bool), 1, store=MemoryStore(), on_event=on_event
    )
    assert isinstance(paused, Failure)
    names = {s.name: s for s in exporter.get_finished_spans()}
    assert names["dagfn.run"].attributes["dagfn.outcome"] == "paused"
    assert names["ask"].attributes["dagfn.paused"] is True


def test_cancelling_a_run_ends_its_open_spans(spans: Any) -> None:
    exporter, tracer = spans

    @node
    async def slow(x: int) -> int:
        await trio.sleep(10)
        return x

    async def main() -> None:
        with trio.move_on_after(0.05):
            await run(slow, 1, on_event=dagfn.otel.trace_events(tracer))

    trio.run(main)
    names = {s.name: s for s in exporter.get_finished_spans()}
    assert names["slow"].attributes["dagfn.cancelled"] is True
    assert names["dagfn.run"].attributes["dagfn.outcome"] == "ended"


# -- gantt and flowcharts -------------------------------------------------------------


def test_to_gantt_draws_each_attempt_as_a_bar_over_time() -> None:
    trace = Trace()
    g = (fetch & flaky_node(1)).join(lambda a, b: a + b, name="total")

    async def main() -> Any:
        return await run(g, 1, on_event=trace)

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == Success(3)
    text = to_gantt(trace, title="demo")
    lines = text.splitlines()
    assert lines[:4] == ["gantt", "    title demo", "    dateFormat x", "    axisFormat %S.%L s"]
    assert "    section flaky" in lines and "    section total" in lines
    bars = re.findall(r"    section (\S+)\n((?:    attempt .*\n)+)", text)
    by_step = {
        step: re.findall(r"attempt \d (\w+) :(\w+), t\d+, (\d+), (\d+)", body)
        for step, body in bars
    }
    assert [(o, tag) for o, tag, _, _ in by_step["flaky"]] == [("failed", "crit"), ("done", "done")]
    assert [(int(a), int(b)) for _, _, a, b in by_step["fetch"]] == [(0, 1)]  # its 1 ms sleep
    assert int(by_step["total"][0][2]) >= int(by_step["flaky"][1][3])  # after its inputs


def test_to_gantt_of_a_paused_run_has_a_milestone_and_an_unfinished_attempt_is_active() -> None:
    trace = Trace()

    def ask(x: int) -> str:
        return "?"

    run_sync(fetch >> interrupt(ask, answer=bool), 1, store=MemoryStore(), on_event=trace)
    assert re.search(r"    paused :milestone, t\d+, \d+, \d+\n", to_gantt(trace))
    partial = Trace()
    partial(dagfn.Event("start", "a:b", 1.0, attempt=1))
    partial(dagfn.Event("start", "c", 1.5, attempt=1))
    partial(dagfn.Event("finish", "c", 2.0, attempt=1))
    text = to_gantt(partial)
    assert "    section a\uff1ab\n    attempt 1 running :active, t0, 0, 1000\n" in text


def test_a_loop_is_drawn_as_a_subgraph_holding_its_body() -> None:
    def big(x: int) -> bool:
        return x > 100

    body = fetch >> double
    g = node(lambda x: x).named("first") >> loop(body, until=big, max_steps=5, name="grow")
    text = to_mermaid(g)
    assert '    subgraph n2["grow (loop, at most 5 times)"]' in text
    assert '        n2_1["fetch"]' in text and '        n2_2["double"]' in text
    assert "    n2_1 --> n2_2" in text
    assert '    n2_2 -.->|"until big, else again"| n2_0' in text
    assert "    n1 --> n2" in text


def test_a_loop_whose_body_ends_in_a_route_draws_the_edge_back_from_each_branch() -> None:
    def parity(x: int) -> bool:
        return x % 2 == 0

    body = route(parity).cases({True: double, False: fetch})
    text = to_mermaid(loop(body, until=lambda x: x > 50, max_steps=9, name="walk"))
    assert text.count("-.->") == 2
    assert '"True/double"' not in text and '["double"]' in text  # grouped under the key
