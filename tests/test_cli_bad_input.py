"""The `dagfn` command on bad storage input: one line naming the path, exit 2.

Also: read commands never create a store, run ids are printed escaped, and
printed commands quote them for the shell.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagfn import cli, node, run_sync
from dagfn.store import SqliteStore

REPO = Path(__file__).resolve().parent.parent
RUN = ("run", "examples.rag:pipeline", "--input", '{"text": "explain trio"}')


def dagfn(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # MODULE:GRAPH is imported from the current directory
    monkeypatch.setattr(sys, "path", list(sys.path))


def _one_line_naming(err: str, path: Path | str, *words: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert repr(str(path)) in err, err
    for word in words:
        assert word in err, err


def _bad_stores(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(4096))
    folder = tmp_path / "a folder"
    folder.mkdir()
    return {
        "missing directory": (tmp_path / "nowhere" / "runs.db", "directory does not exist"),
        "directory": (folder, "is a directory"),
        "random bytes": (noise, "not a database"),
    }


@pytest.mark.parametrize("case", ["missing directory", "directory", "random bytes"])
@pytest.mark.parametrize(
    "command",
    [RUN, ("runs", "list"), ("runs", "show", "r1"), ("mermaid", "examples.rag:pipeline")],
)
def test_a_store_that_cannot_be_opened_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, case: str, command: tuple[str, ...]
) -> None:
    path, why = _bad_stores(tmp_path)[case]
    extra = ("--run-id", "r1") if command[0] == "mermaid" else ()
    code, _, err = dagfn(*command, *extra, "--store", str(path))
    assert code == cli.USAGE
    if case == "missing directory" and command[0] != "run":
        why = "does not exist"  # a read command never creates anything
    _one_line_naming(err, path, why)


@pytest.mark.parametrize("command", [("runs", "list"), ("runs", "show", "r1")])
def test_a_read_command_on_a_missing_file_says_so_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "typo.db"
    code, _, err = dagfn(*command, "--store", str(path))
    assert code == cli.USAGE
    _one_line_naming(err, path, "no store at", "does not exist")
    assert not path.exists()


def _read_only(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in a mount namespace where ``tmp_path/ro`` is read-only."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(tmp_path))}"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("cannot make a read-only file system here (needs a mount namespace)")
    ro = shlex.quote(str(tmp_path / "ro"))
    mount = f"mount --bind {ro} {ro} && mount -o remount,ro,bind {ro} && "
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", mount + script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _cli(*argv: str) -> str:
    words = [sys.executable, "-c", "import sys; from dagfn.cli import main; sys.exit(main())"]
    return shlex.join([*words, *argv])


def test_a_store_on_a_read_only_file_system_is_one_line_naming_it_and_exit_2(
    tmp_path: Path,
) -> None:
    (tmp_path / "ro").mkdir()
    existing = tmp_path / "ro" / "runs.db"
    code, _, _ = dagfn(*RUN, "--store", str(existing), "--run-id", "r1")
    assert code == cli.OK
    new = tmp_path / "ro" / "new.db"
    for argv, path in (
        ((*RUN, "--store", str(new)), new),
        ((*RUN, "--store", str(existing)), existing),
        (("runs", "list", "--store", str(existing)), existing),
    ):
        done = _read_only(tmp_path, _cli(*argv))
        assert done.returncode == cli.USAGE, done.stderr
        _one_line_naming(done.stderr, path, "read-only")


def test_runs_list_escapes_control_characters_in_run_ids(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    hostile = "evil\x1b[2J\rid\nnext\\line"
    with SqliteStore(path) as store:
        run_sync(node(lambda x: x).named("step"), 1, store=store, run_id=hostile)
    code, out, _ = dagfn("runs", "list", "--store", str(path))
    assert code == cli.OK
    header, row = out.splitlines()  # a table: one line per run, whatever its id holds
    assert header.startswith("RUN")
    assert row.startswith("evil\\x1b[2J\\rid\\nnext\\\\line  succeeded")
    code, out, _ = dagfn("runs", "show", hostile, "--store", str(path))
    assert code == cli.OK
    assert out.startswith("run evil\\x1b[2J\\rid\\nnext\\\\line: succeeded, started ")
    assert "\x1b" not in out and "\r" not in out


@pytest.mark.parametrize("run_id", ["it's $(rm -rf ~)", "tab\there", "plain"])
def test_the_printed_answer_command_quotes_the_run_id_for_the_shell(
    tmp_path: Path, run_id: str
) -> None:
    db = tmp_path / "my runs" / "review.sqlite"
    db.parent.mkdir()
    request = '{"to": "ada@example.org", "topic": "Q3"}'
    code, _, err = dagfn(
        "run", "examples.review:flow", "--input", request, "--store", str(db), "--run-id", run_id
    )
    assert code == cli.PAUSED
    command = err[err.index("--store") : err.index("--answer")]
    if run_id.isprintable():
        assert shlex.split(command) == ["--store", str(db), "--run-id", run_id]
    else:  # bash's $'...' form, which shlex does not read
        assert command == f"--store {shlex.quote(str(db))} --run-id $'tab\\there' "
    bash = shutil.which("bash")
    if bash is not None:
        words = subprocess.run(
            [bash, "-c", f"printf '%s\\n' {command}"], capture_output=True, text=True, check=True
        ).stdout
        assert words.splitlines()[-1] == run_id
