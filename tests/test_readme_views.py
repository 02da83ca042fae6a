"""The README's blocks about asyncio, logs, spans and pictures run and print what they claim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README.split("\n## asyncio programs", 1)[1].split("\n## The command line", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def claimed_output(block: str) -> list[str]:
    """The ``# ...`` lines that end a block: what it prints, line by line."""
    lines = block.rstrip("\n").splitlines()
    tail: list[str] = []
    while lines and lines[-1].startswith("# "):
        tail.insert(0, lines.pop()[2:])
    return tail


def needed_modules(block: str) -> list[str]:
    """``# needs: pip install 'dagfn[otel]'`` -> the modules that extra brings."""
    extras = re.findall(r"^# needs: pip install 'dagfn\[(\w+)\]'", block, re.M)
    modules = {"otel": "opentelemetry.sdk", "asgi": "starlette", "redis": "redis"}
    return [modules[e] for e in extras if e in modules]


def without_numbers(lines: list[str]) -> list[str]:
    return [re.sub(r"\d+(\.\d+)?", "N", line) for line in lines]


def test_the_section_has_its_blocks() -> None:
    assert len(BLOCKS) == 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_block_runs_as_a_program_and_prints_what_it_claims(block: str, tmp_path: Path) -> None:
    for module in needed_modules(block):
        pytest.importorskip(module)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    claimed = claimed_output(block)
    if claimed:
        assert without_numbers(result.stdout.splitlines()) == without_numbers(claimed)
    for line in block.splitlines():  # print(...)  # <Success: ...>: the line it prints
        inline = re.search(r"^print\(.*\)  # (<Success: .*>|\[<Success.*\])$", line)
        if inline:
            assert inline.group(1) in result.stdout.splitlines()
