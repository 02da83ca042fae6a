"""The README's examples run and print what the README says they print: the first
block, and the blocks of the section on run ownership (one needs PostgreSQL)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


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


OWNERSHIP = "### One owner per run id, answers exactly once"


def _blocks_of(heading: str) -> list[str]:
    """The ```python blocks of a README section (up to the next heading of level 2)."""
    section = README.read_text().split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _runs_and_prints_what_it_claims(code: str) -> None:
    """Run a README block; each ``print(...)  # text`` line's text is printed, in order."""
    claims = re.findall(r"^\s*print\(.*\)\s+# (.*)$", code, re.M)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert out.getvalue().splitlines() == claims


def test_the_ownership_examples_run_and_print_what_they_claim() -> None:
    blocks = [b for b in _blocks_of(OWNERSHIP) if "# needs:" not in b]
    assert len(blocks) == 2
    for code in blocks:
        _runs_and_prints_what_it_claims(code)


def test_the_postgres_example_runs_on_a_real_server(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block that says ``# needs: ... PostgreSQL ... $DATABASE_URL`` gets the test server."""
    blocks = [b for b in _blocks_of(OWNERSHIP) if b.startswith("# needs:") and "PostgreSQL" in b]
    assert len(blocks) == 1
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    _runs_and_prints_what_it_claims(blocks[0])
