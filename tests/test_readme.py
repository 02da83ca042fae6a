"""The README's first example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

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


def _blocks_of(section: str) -> list[str]:
    text = README.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def _printed(code: str, cwd: Path) -> str:
    out = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    return out.getvalue()


def test_the_caching_section_runs_and_prints_what_it_claims(tmp_path: Path) -> None:
    (code,) = _blocks_of("Caching pure steps")
    lines = _printed(code, tmp_path).splitlines()
    assert lines == [
        "summarizing https://example.org/a",
        "<Success: Pure steps pay once>",
        "<Success: Pure steps pay once>",
        "True",
        "{'summarize': 1}",
        "1",
    ]


def test_the_deploy_section_runs_and_prints_what_it_claims(tmp_path: Path) -> None:
    (code,) = _blocks_of("Deploying a changed graph")
    assert _printed(code, tmp_path).splitlines() == [
        "post-1 (paused): resumable with on_change='reuse'; would run again: none",
        "<Success: published; subscribers told>",
    ]
