"""`check_against` and ``dagfn check --against``: stored runs classified for a changed graph.

Each version of the graph is a module written to disk, as a deploy would ship
it; runs are journaled in real SQLite files and paused at an interrupt; the
classification is then checked against what `resume` really does.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure, Success

from dagfn import GraphChanged, JournalError, Paused, check_against, resume_sync, run_sync
from dagfn.cli import main
from dagfn.store import SqliteStore

HEADER = """
import attrs
from dagfn import interrupt, node


@attrs.frozen
class Doc:
    title: str
    words: int


@node
def load(d: Doc) -> Doc:
    return Doc(d.title.strip(), d.words)


def ask(d: Doc) -> str:
    return f"publish {d.title}?"


@node
def finish(ok: bool) -> str:
    return "published" if ok else "dropped"
"""

VERSIONS = {
    # the graph the runs were started with
    "v1": """
@node
def prepare(d: Doc) -> Doc:
    return Doc(d.title.title(), d.words)

flow = load >> prepare >> interrupt(ask, answer=bool) >> finish
""",
    # a new body for a step: same plan, outputs still fit
    "v1_body": """
@node
def prepare(d: Doc) -> Doc:
    return Doc(d.title.upper(), d.words + 0)

flow = load >> prepare >> interrupt(ask, answer=bool) >> finish
""",
    # a step inserted before `prepare`: `prepare` is rewired, so it runs again
    "v2_inserted": """
@node
def clean(d: Doc) -> Doc:
    return Doc(d.title.replace("!", ""), d.words)

@node
def prepare(d: Doc) -> Doc:
    return Doc(d.title.title(), d.words)

flow = load >> clean >> prepare >> interrupt(ask, answer=bool) >> finish
""",
    # `prepare` now returns an int: its journaled Doc no longer fits
    "v3_output_type": """
@node
def prepare(d: Doc) -> int:
    return d.words

def ask_count(n: int) -> str:
    return f"publish {n} words?"

flow = load >> prepare >> interrupt(ask_count, answer=bool, name="ask") >> finish
""",
}

# The input type changed: the run's journaled input no longer reads as it.
NEW_INPUT = """
import attrs
from dagfn import interrupt, node


@attrs.frozen
class Ticket:
    ticket_id: int


@node
def load(t: Ticket) -> Ticket:
    return t


@node
def prepare(t: Ticket) -> Ticket:
    return t


def ask(t: Ticket) -> str:
    return f"close {t.ticket_id}?"


@node
def finish(ok: bool) -> str:
    return "closed" if ok else "open"


flow = load >> prepare >> interrupt(ask, answer=bool) >> finish
"""


@pytest.fixture
def deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Deploy a version of the graph: write it as module ``deploy`` (one name, as a deploy
    replaces the code in place) and import its ``flow``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a rewrite is never read stale

    def write(version: str) -> Any:
        source = NEW_INPUT if version == "new_input" else HEADER + VERSIONS[version]
        (tmp_path / "deploy.py").write_text(source)
        sys.modules.pop("deploy", None)
        importlib.invalidate_caches()
        return importlib.import_module("deploy").flow

    yield write
    sys.modules.pop("deploy", None)


def started(tmp_path: Path, deploy: Any) -> Path:
    """A store file with runs of v1: two paused, one failed, one finished."""
    file = tmp_path / "runs.sqlite"
    flow = deploy("v1")
    doc = importlib.import_module("deploy").Doc
    with SqliteStore(file) as store:
        for run_id in ("paused-1", "paused-2"):
            result = run_sync(flow, doc(" draft ", 3), store=store, run_id=run_id)
            assert isinstance(result, Failure) and isinstance(result.failure(), Paused)
        run_sync(flow, doc("done", 1), store=store, run_id="finished")
        assert resume_sync(flow, "finished", store=store, answer=True) == Success("published")
    return file


def verdicts(report: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {r.run_id: (r.verdict, r.rerun) for r in report.runs}


def test_the_same_graph_finds_every_unfinished_run_resumable(tmp_path: Path, deploy: Any) -> None:
    file = started(tmp_path, deploy)
    with SqliteStore(file) as store:
        report = check_against(deploy("v1"), store)
    assert verdicts(report) == {"paused-1": ("resumable", ()), "paused-2": ("resumable", ())}
    assert report.ok
    assert "paused-1 (paused): resumable as is" in str(report)


def test_a_new_body_keeps_runs_resumable_and_they_resume(tmp_path: Path, deploy: Any) -> None:
    file = started(tmp_path, deploy)
    flow = deploy("v1_body")
    with SqliteStore(file) as store:
        assert verdicts(check_against(flow, store))["paused-1"] == ("resumable", ())
        assert resume_sync(flow, "paused-1", store=store, answer=True) == Success("published")


def test_an_inserted_step_needs_reuse_and_names_the_steps_that_run_again(
    tmp_path: Path, deploy: Any
) -> None:
    file = started(tmp_path, deploy)
    flow = deploy("v2_inserted")
    with SqliteStore(file) as store:
        report = check_against(flow, store)
        assert verdicts(report)["paused-2"] == ("reuse", ("prepare",))
        assert report.ok
        assert "would run again: prepare" in str(report)
        with pytest.raises(GraphChanged):
            resume_sync(flow, "paused-2", store=store, answer=True)
        result = resume_sync(flow, "paused-2", store=store, on_change="reuse")
        assert isinstance(result, Failure) and isinstance(result.failure(), Paused)


def test_a_changed_output_type_is_incompatible_naming_the_step(tmp_path: Path, deploy: Any) -> None:
    file = started(tmp_path, deploy)
    flow = deploy("v3_output_type")
    with SqliteStore(file) as store:
        report = check_against(flow, store)
        (check, _) = report.runs
        assert check.verdict == "incompatible" and not report.ok
        assert any("step 'prepare'" in p for p in check.problems)
        with pytest.raises(JournalError, match="prepare"):
            resume_sync(flow, check.run_id, store=store, answer=True)


def test_a_changed_input_type_is_incompatible(tmp_path: Path, deploy: Any) -> None:
    file = started(tmp_path, deploy)
    with SqliteStore(file) as store:
        report = check_against(deploy("new_input"), store)
    assert {r.verdict for r in report.runs} == {"incompatible"}
    assert all("input" in r.problems[0] for r in report.runs)


def test_a_failed_run_is_checked_too(tmp_path: Path, deploy: Any) -> None:
    file = started(tmp_path, deploy)
    with SqliteStore(file) as store:
        store.finish_run("paused-1", "failed", None)
        report = check_against(deploy("v1"), store)
    assert [(r.run_id, r.status) for r in report.runs] == [
        ("paused-1", "failed"),
        ("paused-2", "paused"),
    ]


def check_command(deploy: Any, version: str, file: Path) -> tuple[int, str]:
    """`dagfn check deploy:flow --against FILE` once ``version`` is deployed."""
    deploy(version)
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", "deploy:flow", "--against", str(file)], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def test_the_check_command_exits_0_when_every_run_can_resume_and_1_otherwise(
    tmp_path: Path, deploy: Any
) -> None:
    file = started(tmp_path, deploy)
    code, text = check_command(deploy, "v1", file)
    assert code == 0 and "paused-2 (paused): resumable as is" in text
    code, text = check_command(deploy, "v2_inserted", file)
    assert code == 0 and "resumable with on_change='reuse'; would run again: prepare" in text
    code, text = check_command(deploy, "v3_output_type", file)
    assert code == 1 and "incompatible" in text and "'prepare'" in text
