"""Installed as the README says, dagfn's types reach a user's own project.

A fresh venv outside the checkout gets `pip install -e <checkout>`; mypy --strict and
pyright, run from another directory against that venv's interpreter, must see dagfn's
annotations: a correct file passes and a mistyped edge is rejected (with setuptools'
import-hook editable install both said "module not found" and every @node was untyped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

USER_CODE = """\
from typing import assert_type

from typing_extensions import Never

from dagfn import Graph, node


@node
def parse(text: str) -> int:
    return len(text)


@node
def double(n: int) -> int:
    return 2 * n


pipeline = parse >> double
assert_type(pipeline, Graph[str, int, Never])
"""

MISTAKE = USER_CODE + "broken = double >> parse\n"
MISTAKE_LINE = f"user.py:{len(MISTAKE.splitlines())}"


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("user-project")
    venv.create(where / ".venv", with_pip=True)
    python = where / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    if done.returncode != 0:
        why = f"pip install -e into a fresh venv failed (no package index?):\n{done.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    yield where


def check(tool: list[str], project: Path, code: str) -> subprocess.CompletedProcess[str]:
    (project / "user.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(
        [*tool, "user.py"], cwd=project, capture_output=True, text=True, timeout=600, env=env
    )


def mypy(project: Path) -> list[str]:
    python = project / ".venv" / "bin" / "python"
    return [str(BIN / "mypy"), "--strict", "--no-incremental", f"--python-executable={python}"]


def pyright(project: Path) -> list[str]:
    exe = shutil.which("pyright", path=str(BIN)) or shutil.which("pyright")
    if exe is None:
        pytest.skip("pyright is not installed")
    return [exe, "--pythonpath", str(project / ".venv" / "bin" / "python")]


def test_the_editable_install_is_a_plain_path_not_an_import_hook(user_venv: Path) -> None:
    site = next((user_venv / ".venv" / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("__editable__*finder*.py"))
    pth = [p.read_text() for p in site.glob("*.pth")]
    assert any(str(ROOT) in text for text in pth)


def test_mypy_from_another_directory_sees_dagfn_types(user_venv: Path) -> None:
    done = check(mypy(user_venv), user_venv, USER_CODE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_from_another_directory_rejects_a_wrong_edge(user_venv: Path) -> None:
    done = check(mypy(user_venv), user_venv, MISTAKE)
    assert done.returncode == 1
    assert MISTAKE_LINE in done.stdout and "not found" not in done.stdout, done.stdout


def test_pyright_from_another_directory_sees_dagfn_types(user_venv: Path) -> None:
    done = check(pyright(user_venv), user_venv, USER_CODE)
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = check(pyright(user_venv), user_venv, MISTAKE)
    assert wrong.returncode == 1 and MISTAKE_LINE in wrong.stdout, wrong.stdout
