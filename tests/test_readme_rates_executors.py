"""The README's rates block and its executors block run as programs and print what they claim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"


def block_with(marker: str) -> str:
    """The README's one complete ```python block that contains ``marker``."""
    found: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    blocks = [b for b in found if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README blocks contain {marker!r}"
    return blocks[0]


def run_program(code: str, tmp_path: Path) -> str:
    path = tmp_path / "block.py"
    path.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_rates_block_prints_what_it_claims(tmp_path: Path) -> None:
    code = block_with("Rate(2_000, per=60.0)")
    claimed = re.search(r"# (a long at \d+ s)", code)
    assert claimed is not None
    assert run_program(code, tmp_path).strip() == claimed.group(1)


def test_the_processes_block_runs_twice_on_one_pool(tmp_path: Path) -> None:
    out = run_program(block_with("Processes(workers=2)"), tmp_path)
    assert out.splitlines() == [
        "<Success: (333328333350000, 333328333350000, 333328333350000, 333328333350000)>",
        "<Success: (285, 285, 285, 285)>",
    ]
