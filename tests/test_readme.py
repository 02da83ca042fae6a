"""The README's first example runs and prints what the README says it prints; its
whole programs pass both type checkers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mypy.api

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_the_first_readme_example_runs_and_prints_what_it_claims() -> None:
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    code = block.group(1)
    claimed = re.search(r"# (<Success: .*>)", code)
    assert claimed is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert out.getvalue().strip() == claimed.group(1)


def _programs(text: str) -> list[str]:
    """The README's python blocks that are whole programs (imports first, defining something)."""
    programs = []
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        if lines[0].startswith(("import ", "from ")) and re.search(r"^(def|class|@)", block, re.M):
            programs.append(block)
    return programs


def _long_pipeline(steps: int, per_stage: int) -> tuple[str, int]:
    """A pipeline of ``steps`` steps written one expression per stage, as the README says,
    with a mistake planted after the last stage; and the line of the mistake."""
    lines = [
        "from dagfn import node",
        "",
        "",
        "@node",
        "def inc(x: int) -> int:",
        "    return x + 1",
        "",
        "",
        "@node",
        "def show(x: int) -> str:",
        "    return str(x)",
        "",
        "",
    ]
    previous = None
    for k in range(steps // per_stage):
        chain = " >> ".join(["inc"] * per_stage)
        lines.append(f"stage{k} = {f'{previous} >> ' if previous else ''}{chain}")
        previous = f"stage{k}"
    lines.append(f"pipeline = {previous} >> show >> inc  # the planted mistake: a str into inc")
    return "\n".join(lines) + "\n", len(lines)


def test_the_readme_programs_and_a_long_pipeline_pass_both_checkers(tmp_path: Path) -> None:
    """Every whole program in the README checks clean under pyright strict and mypy (with
    the plugin); a 300-step pipeline written in stages stays under pyright's depth cap:
    the mistake planted at its end is reported by both."""
    programs = _programs(README.read_text())
    assert len(programs) >= 3
    files = []
    for index, program in enumerate(programs):
        path = tmp_path / f"readme_{index}.py"
        path.write_text(program)
        files.append(path)
    long_source, mistake_line = _long_pipeline(300, 50)
    long_path = tmp_path / "long_pipeline.py"
    long_path.write_text(long_source)
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps(
            {"typeCheckingMode": "strict", "pythonVersion": "3.11", "extraPaths": [str(ROOT)]}
        )
    )
    pyright = Path(sys.executable).parent / "pyright"
    completed = subprocess.run(
        [str(pyright) if pyright.exists() else "pyright", "--outputjson", "--pythonpath",
         sys.executable, "--project", str(tmp_path), *map(str, [*files, long_path])],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    report = json.loads(completed.stdout)
    errors = [
        (Path(d["file"]).name, d["range"]["start"]["line"] + 1, d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    long_errors = [e for e in errors if e[0] == long_path.name]
    assert [e for e in errors if e[0] != long_path.name] == []
    assert {line for _, line, _ in long_errors} == {mistake_line}, long_errors
    assert any('Operator ">>" not supported' in message for *_, message in long_errors)
    stdout, _, _ = mypy.api.run(
        ["--config-file", str(ROOT / "mypy.ini"), "--follow-imports", "silent",
         "--cache-dir", str(tmp_path / "mypy_cache"), *map(str, [*files, long_path])]
    )  # fmt: skip
    found = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(found) == 1 and f"long_pipeline.py:{mistake_line}:" in found[0], stdout
