"""The command line explains: tracebacks, strict inputs in plain words, tables, version, help."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import attrs
import pytest
from returns.result import Failure

import dagfn
import dagfn.store
from dagfn import InvalidAnswer, InvalidArgument, Trace, cli, node, run_sync
from dagfn._plan import plan_of

REPO = Path(__file__).resolve().parent.parent


def dagfn_cli(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    out = io.StringIO()
    err = _Terminal() if tty else io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # MODULE:GRAPH is imported from the current directory
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "graphs_for_cli.py").write_text(GRAPHS)


GRAPHS = """
from typing import Literal

import attrs

from dagfn import interrupt, node, route, update, reduced
from dagfn.monoid import Concat


@attrs.frozen
class Query:
    text: str
    tags: tuple[str, ...] = ()


@attrs.frozen
class Outer:
    query: Query
    many: list[Query]


@node
def words(q: Query) -> int:
    return len(q.text.split())


def ratio(n: int) -> float:
    return 10 / (n - 2)  # fails for two words


fails = words >> node(ratio)


@node
def count(o: Outer) -> int:
    return len(o.many)


def parity(n: int) -> Literal["even", "odd"]:
    return "even" if n % 2 == 0 else "odd"


@node
def half(n: int) -> int:
    return n // 2


@node
def triple(n: int) -> int:
    return 3 * n + 1


@node
def inc(n: int) -> int:
    return n + 1


routed = words >> route(parity).cases({"even": half >> triple, "odd": triple >> half >> inc})


@attrs.frozen
class Notes:
    lines: tuple[str, ...] = reduced(Concat())


@node
def hello(n: Notes) -> Notes:
    return Notes(lines=("hello",))


state = update(hello)


def ask(q: Query) -> str:
    return f"ok {q.text}?"


asks = interrupt(ask, answer=bool, name="approve")
"""


def test_a_failed_step_names_where_it_raised_and_traceback_prints_its_traceback() -> None:
    code, _, err = dagfn_cli("run", "graphs_for_cli:fails", "--input", '{"text": "a b"}')
    assert code == cli.FAILED
    assert "failed: ratio: ZeroDivisionError('division by zero')" in err
    assert re.search(r"raised at .*graphs_for_cli\.py:\d+ in ratio", err)
    assert "--traceback" in err and "Traceback" not in err
    for flag in ("--traceback", "-v"):
        code, _, err = dagfn_cli("run", "graphs_for_cli:fails", "--input", '{"text": "a b"}', flag)
        assert code == cli.FAILED
        assert "Traceback (most recent call last):" in err
        assert "return 10 / (n - 2)  # fails for two words" in err
        assert "ZeroDivisionError: division by zero" in err
        assert "_execute.py" not in err  # dagfn's own frames are left out


def test_print_of_a_run_failure_shows_file_and_line() -> None:
    def boom(x: int) -> int:
        raise KeyError(x)

    result = run_sync(node(boom), 1)
    assert isinstance(result, Failure)
    line = boom.__code__.co_firstlineno + 1
    assert f"(raised at {__file__}:{line} in boom)" in str(result.failure())
    assert f"test_cli_explains.py:{line} in boom" in repr(result)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"text": 5}', "--input.text: expected str, got 5 (type=int)"),
        ('{"text": "a", "extra": 1}', "--input: unknown key 'extra' (Query has text, tags)"),
        ('"just text"', "--input: expected Query (an object with text, tags), got 'just text'"),
        ("{}", "--input.text: missing (expected str)"),
        (
            '{"text": "a", "tags": "xy"}',
            "--input.tags: expected tuple[str, ...] (a list), got 'xy'",
        ),
        ('{"text": "a", "tags": [1]}', "--input.tags[0]: expected str, got 1 (type=int)"),
    ],
)
def test_input_is_structured_strictly_and_shape_errors_say_type_and_place(
    data: str, message: str
) -> None:
    code, _, err = dagfn_cli("run", "graphs_for_cli:fails", "--input", data)
    assert code == cli.USAGE, err
    assert message in err
    assert "has no attribute" not in err and "@ $" not in err


def test_nested_input_errors_name_each_place() -> None:
    data = json.dumps({"query": "q", "many": [{"text": "a"}, {"text": 2}]})
    code, _, err = dagfn_cli("run", "graphs_for_cli:count", "--input", data)
    assert code == cli.USAGE
    assert "--input.query: expected Query (an object with text, tags), got 'q'" in err
    assert "--input.many[1].text: expected str, got 2 (type=int)" in err


def test_a_journaled_run_id_runs_again_without_input(tmp_path: Path) -> None:
    db = str(tmp_path / "r.sqlite")
    args = ("run", "graphs_for_cli:fails", "--store", db, "--run-id", "r")
    assert dagfn_cli(*args, "--input", '{"text": "a b c"}')[:2] == (cli.OK, "10.0\n")
    assert dagfn_cli(*args)[:2] == (cli.OK, "10.0\n")
    code, _, err = dagfn_cli("run", "graphs_for_cli:fails", "--store", db, "--run-id", "new")
    assert code == cli.USAGE and "--input JSON is required: run 'new' is not in the store" in err


def test_answering_a_finished_run_says_it_was_answered(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    args = ("run", "graphs_for_cli:asks", "--store", db, "--run-id", "p")
    assert dagfn_cli(*args, "--input", '{"text": "x"}')[0] == cli.PAUSED
    assert dagfn_cli(*args, "--answer", "true") == (cli.OK, "true\n", "")
    code, _, err = dagfn_cli(*args, "--answer", "true")
    assert code == cli.USAGE
    assert "the interrupt 'approve' of run 'p' was already answered" in err
    assert "pending: none" not in err


def test_runs_list_and_show_print_aligned_tables_with_iso_times_and_pending_prompts(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "t.sqlite")
    dagfn_cli(
        "run", "graphs_for_cli:asks", "--store", db, "--run-id", "p1", "--input", '{"text": "x"}'
    )
    dagfn_cli("run", "graphs_for_cli:state", "--store", db, "--run-id", "s1", "--input", "{}")
    code, out, _ = dagfn_cli("runs", "list", "--store", db)
    assert code == cli.OK
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "STARTED", "UPDATED", "PENDING"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["p1"].split()[1] == "paused" and rows["p1"].endswith("approve: ok x?")
    assert rows["s1"].split()[1] == "succeeded"
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
    assert re.fullmatch(rf"p1\s+paused\s+{iso}\s+{iso}\s+approve: ok x\?", rows["p1"])
    status_at = lines[0].index("STATUS")
    assert all(line[status_at - 2 : status_at] == "  " for line in lines)  # aligned columns

    code, out, _ = dagfn_cli("runs", "show", "s1", "--store", db)
    assert code == cli.OK and "<update>" not in out
    assert "1 internal steps hidden; --all shows them" in out
    header = next(line for line in out.splitlines() if line.startswith("STEP"))
    assert header.split() == ["STEP", "STATUS", "STARTED", "TOOK", "ATTEMPTS", "ERROR"]
    code, out, _ = dagfn_cli("runs", "show", "s1", "--store", db, "--all")
    assert "hello<update>" in out
    code, out, _ = dagfn_cli("runs", "show", "p1", "--store", db)
    assert "pending: approve: ok x?" in out


def test_runs_show_gantt_prints_a_mermaid_gantt(tmp_path: Path) -> None:
    db = str(tmp_path / "g.sqlite")
    dagfn_cli(
        "run", "graphs_for_cli:routed", "--store", db, "--run-id", "g", "--input", '{"text": "a b"}'
    )
    code, out, _ = dagfn_cli("runs", "show", "g", "--store", db, "--gantt")
    assert code == cli.OK
    assert out.startswith("gantt\n    title run g\n    dateFormat x\n")
    assert "    section even/half\n" in out and "    section words\n" in out
    assert re.search(r"    done :done, t\d+, \d+, \d+\n", out)


def test_runs_list_help_is_its_own_and_top_help_has_no_rest_markup() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dagfn", "runs", "list", "--help"],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    assert result.stdout.startswith("usage: dagfn runs list [-h] --store STORE")
    top = subprocess.run(
        [sys.executable, "-m", "dagfn", "--help"], capture_output=True, text=True, check=True
    )
    assert "``" not in top.stdout and "`" not in top.stdout
    assert "exit codes: 0 success" in top.stdout


def test_version_from_the_package_metadata_in_three_places() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert dagfn.__version__ == version
    result = subprocess.run(
        [sys.executable, "-m", "dagfn", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout == f"dagfn {version}\n"


def test_the_progress_bar_of_a_routed_graph_ends_at_n_of_n() -> None:
    code, _, err = dagfn_cli("run", "graphs_for_cli:routed", "--input", '{"text": "a b"}', tty=True)
    assert code == cli.OK
    counts = re.findall(r"\] (\d+)/(\d+) ", err)
    assert counts[-1] == ("4", "4")  # words, parity, even/half, even/triple; not 4/7 steps
    code, _, err = dagfn_cli("run", "graphs_for_cli:routed", "--input", '{"text": "a"}', tty=True)
    assert re.findall(r"\] (\d+)/(\d+) ", err)[-1] == ("5", "5")


def test_a_progress_bar_ignores_loop_body_steps_and_counts_each_step_once() -> None:
    plan = plan_of(dagfn.loop(node(lambda x: x + 1), until=lambda x: x > 3, max_steps=9))
    progress = cli.Progress(plan, io.StringIO())
    trace = Trace()
    for event in [
        dagfn.Event("start", "loop", 0.0, attempt=1),
        dagfn.Event("start", "<lambda>#1", 0.0, attempt=1),
        dagfn.Event("finish", "<lambda>#1", 0.1, attempt=1),
        dagfn.Event("finish", "loop", 0.2, attempt=1),
    ]:
        progress(event)
        trace(event)
    assert (progress.done, progress.total) == (1, 1)


def test_node_of_a_two_argument_function_is_rejected_when_built_naming_it() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(InvalidArgument, match=r"node\(add\): add\(a, b\) takes 2 arguments"):
        node(add)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"\(a & b\)\.join\(add\)"):
        node(name="plus")(add)  # type: ignore[arg-type]

    def first(x: int, y: int = 1) -> int:
        return x

    node(first)  # one input, a default for the rest: fine


def test_answer_shape_errors_are_plain_too() -> None:
    @attrs.frozen
    class Verdict:
        approved: bool

    def ask(x: int) -> str:
        return "?"

    store = dagfn.store.MemoryStore()
    g = dagfn.interrupt(ask, answer=Verdict, name="v")
    paused = run_sync(g, 1, store=store).failure()
    assert isinstance(paused, dagfn.Paused)
    run_id = paused.run_id
    with pytest.raises(InvalidAnswer) as info:
        dagfn.resume_sync(g, run_id, store=store, answer="yes")
    assert "answer: expected Verdict (an object with approved), got 'yes'" in str(info.value)
    assert "has no attribute" not in str(info.value)


def test_redis_store_without_its_extra_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if redis-py were not installed\n"
        "try:\n"
        "    from dagfn.store import RedisStore\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout == (
        "RedisStore needs the optional dependency 'redis': pip install 'dagfn[redis]'\n"
    )
