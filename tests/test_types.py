"""The type tests under ``tests/types`` pass ``mypy --strict`` and pyright strict.

One mypy run over the directory, with the repository's config and its cache:
correct programs must check clean, and every ``# type: ignore[code]`` in a
``*_rejected.py`` file must be needed, which proves that mypy rejects that line.
Then one pyright run (strict, ``[tool.pyright]`` in pyproject.toml) over the same
files: no error in a correct program, and every ``# type: ignore`` needed there
too, so each rejected line is rejected by both checkers (but in
``mypy_only_rejected.py``, which turns that check off and says why).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mypy.api
import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPES = ROOT / "tests" / "types"


def test_type_tests_pass_mypy_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file in tests/types checks clean: no false positive, no missed rejection."""
    monkeypatch.chdir(ROOT)  # mypy.ini's mypy_path and the .mypy_cache are relative
    files = sorted(TYPES.glob("*.py"))
    assert files, f"no type tests found in {TYPES}"
    stdout, stderr, status = mypy.api.run(
        [
            "--config-file",
            str(ROOT / "mypy.ini"),
            # Spelled out as well, so that a change to mypy.ini cannot quietly
            # turn the rejected files into programs that prove nothing.
            "--strict",
            "--warn-unused-ignores",
            "--enable-error-code",
            "ignore-without-code",
            # Report only the type tests: dagfn itself is checked by the
            # project-wide mypy run, and another module's work in progress
            # should not fail this test.
            "--follow-imports",
            "silent",
            str(TYPES.relative_to(ROOT)),
        ]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], "\n" + stdout
    assert (status, stderr) == (0, ""), stdout + stderr
    # mypy saw every file (none excluded or skipped).
    checked = re.search(r"Success: no issues found in (\d+) source files?", stdout)
    assert checked is not None, stdout
    assert int(checked.group(1)) == len(files), stdout


def test_every_rejected_file_rejects_something() -> None:
    """A ``*_rejected.py`` file holds at least one ``# type: ignore[code]``."""
    for path in sorted(TYPES.glob("*_rejected.py")):
        text = path.read_text(encoding="utf-8")
        assert re.search(r"# type: ignore\[[a-z-]+", text), f"{path.name} rejects nothing"


def _pyright() -> str:
    """The pyright next to this Python (a dev dependency), else one on PATH."""
    here = Path(sys.executable).parent / "pyright"
    found = str(here) if here.exists() else shutil.which("pyright")
    assert found is not None, "pyright is a dev dependency: pip install -e '.[dev]'"
    return found


def test_type_tests_pass_pyright_strict() -> None:
    """The same files under pyright strict: no false positive, every rejection needed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [_pyright(), "--outputjson", "--pythonpath", sys.executable, str(TYPES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(completed.stdout)
    problems = [
        f"{Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert problems == [], "\n" + "\n".join(problems)
    assert report["summary"]["filesAnalyzed"] == len(list(TYPES.glob("*.py"))), report["summary"]
