"""The `dagfn` command: run, resume, mermaid, check, runs, and its exit codes."""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path

import pytest

from dagfn import cli

REPO = Path(__file__).resolve().parent.parent


def dagfn(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # MODULE:GRAPH is imported from the current directory
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_run_prints_the_output_as_json_and_exits_0(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    code, out, _ = dagfn(
        "run", "examples.rag:pipeline", "--input", '{"text": "explain trio"}', "--store", db,
        "--run-id", "r1",
    )  # fmt: skip
    assert code == cli.OK
    answer = json.loads(out)
    assert "trio" in answer["text"]
    code, out, _ = dagfn("runs", "list", "--store", db)
    header, row = out.splitlines()
    assert code == cli.OK and header.split() == ["RUN", "STATUS", "STARTED", "UPDATED", "PENDING"]
    assert row.split()[:2] == ["r1", "succeeded"]
    code, out, _ = dagfn("runs", "show", "r1", "--store", db)
    assert code == cli.OK and ["classify", "done"] in [
        line.split()[:2] for line in out.splitlines()
    ]


def test_a_paused_run_exits_3_and_an_answer_resumes_it(tmp_path: Path) -> None:
    db = str(tmp_path / "review.sqlite")
    request = '{"to": "ada@example.org", "topic": "Q3"}'
    code, out, err = dagfn(
        "run", "examples.review:flow", "--input", request, "--store", db, "--run-id", "p"
    )
    assert code == cli.PAUSED
    assert json.loads(out)["pending"][0]["step"] == "review"
    assert f"--store {db} --run-id p --answer" in err
    code, _, err = dagfn(
        "run", "examples.review:flow", "--store", db, "--run-id", "p", "--answer", '{"ok": 1}'
    )
    assert code == cli.USAGE and "does not fit Approval" in err
    code, out, _ = dagfn(
        "run", "examples.review:flow", "--store", db, "--run-id", "p",
        "--answer", '{"approved": true, "note": "go"}',
    )  # fmt: skip
    assert code == cli.OK
    assert json.loads(out) == "sent to ada@example.org (go)"


def test_a_pause_without_a_store_exits_3_and_says_it_cannot_be_answered() -> None:
    request = '{"to": "ada@example.org", "topic": "Q3"}'
    code, out, err = dagfn("run", "examples.review:flow", "--input", request)
    assert code == cli.PAUSED
    assert json.loads(out)["pending"][0]["step"] == "review"
    assert "cannot be answered" in err and "--store FILE" in err
    assert "--answer" not in err  # no advice that cannot work


def test_a_pause_on_the_memory_store_also_says_it_cannot_be_answered() -> None:
    request = '{"to": "ada@example.org", "topic": "Q3"}'
    code, _, err = dagfn("run", "examples.review:flow", "--input", request, "--store", "memory:")
    assert code == cli.PAUSED
    assert "cannot be answered" in err and "memory:" in err
    assert "--answer" not in err  # the memory store is gone once this process exits


def test_the_answer_advice_quotes_a_store_path_so_it_can_be_pasted(tmp_path: Path) -> None:
    db = str(tmp_path / "my runs" / "review.sqlite")
    (tmp_path / "my runs").mkdir()
    request = '{"to": "ada@example.org", "topic": "Q3"}'
    code, _, err = dagfn("run", "examples.review:flow", "--input", request, "--store", db)
    assert code == cli.PAUSED
    advice = err[err.index("--store") :].split(" (")[0]
    argv = shlex.split(advice.replace("JSON", '\'{"approved": true, "note": "ok"}\''))
    assert argv[1] == db
    code, out, _ = dagfn("run", "examples.review:flow", *argv)
    assert code == cli.OK
    assert json.loads(out) == "sent to ada@example.org (ok)"


def test_a_failed_run_exits_1_naming_the_step() -> None:
    code, _, err = dagfn("run", "examples.rag:pipeline", "--input", '{"text": "zzz"}')
    assert code == cli.FAILED
    assert "failed: lookup/lookup_keyword" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("run", "examples.rag", "--input", "{}"), "expected MODULE:GRAPH"),
        (("run", "examples.rag:nope", "--input", "{}"), "has no attribute 'nope'"),
        (("run", "no_such_module:g", "--input", "{}"), "cannot import module"),
        (("run", "examples.rag:pipeline", "--input", "{bad"), "--input is not valid JSON"),
        (("run", "examples.rag:pipeline", "--input", '{"txt": 1}'), "does not fit"),
        (("run", "examples.rag:pipeline"), "--input JSON is required"),
        (("run", "examples.rag:pipeline", "--answer", "1"), "--answer needs --store"),
    ],
)
def test_bad_usage_exits_2_with_a_message(argv: tuple[str, ...], message: str) -> None:
    code, _, err = dagfn(*argv)
    assert code == cli.USAGE
    assert message in err


def test_mermaid_draws_the_graph_and_colours_a_journaled_run(tmp_path: Path) -> None:
    code, out, _ = dagfn("mermaid", "examples.rag:pipeline")
    assert code == cli.OK
    assert out.startswith("flowchart TD\n")
    assert '-->|"explain"|' in out
    db = str(tmp_path / "m.sqlite")
    dagfn("run", "examples.rag:pipeline", "--input", '{"text": "explain trio"}', "--store", db,
          "--run-id", "m")  # fmt: skip
    code, out, _ = dagfn("mermaid", "examples.rag:pipeline", "--store", db, "--run-id", "m")
    assert code == cli.OK
    assert "class n1 completed" in out


def test_check_reports_the_plan_or_its_problem(tmp_path: Path) -> None:
    code, out, _ = dagfn("check", "examples.rag:pipeline")
    assert code == cli.OK and out.startswith("ok: ")
    module = tmp_path / "clash_graphs.py"
    module.write_text(
        "from dagfn import node\n"
        "def inc(x: int) -> int:\n    return x + 1\n"
        "g = node(inc) >> node(inc)\n"
    )
    sys.path.insert(0, str(tmp_path))
    code, _, err = dagfn("check", "clash_graphs:g")
    assert code == cli.FAILED
    assert "two different steps have the path 'inc'" in err


def test_an_unknown_run_id_is_named() -> None:
    code, _, err = dagfn("runs", "show", "ghost", "--store", "memory:")
    assert code == cli.USAGE
    assert "ghost" in err
