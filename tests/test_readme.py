"""Every block of the README runs as written.

The conventions (DESIGN.md, "Hosting and views"):
- each ```python block is a complete program, unless its first line is
  `# continues the block above`: then it runs after the blocks it continues, as one program;
- a block that needs an extra says so in a leading comment, `# needs: pip install 'dagfn[x]'`
  (a server it needs: `# needs: redis-server`); without the extra it is skipped here, and in
  CI (`CI=true`) that is a failure;
- a program that defines `test_...` functions is a test module and runs under pytest;
- `print(...)  # <...>` claims what the line prints;
- in a ```sh block outside "Set up" (those two commands are what CI itself runs), every line
  runs in a fresh directory, in order, and exits 0 unless its trailing comment says
  `# exit N: why`.

Each program runs as its own process in a fresh temporary directory, as a reader would.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONTINUES = "# continues the block above"
# What each extra named in a `# needs:` line must make importable.
EXTRAS = {
    "redis": ("redis",),
    "processes": ("trio_parallel", "cloudpickle"),
    "dask": ("distributed",),
    "postgres": ("psycopg",),
    "asgi": ("starlette", "uvicorn", "httpx"),
    "otel": ("opentelemetry.sdk",),
}


@attrs.frozen
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    section: str
    code: str

    @property
    def needs(self) -> tuple[str, ...]:
        found: list[str] = []
        for text in self.code.splitlines():
            if not text.startswith("#"):
                break
            if text.startswith("# needs:"):
                found += re.findall(r"dagfn\[([\w,-]+)\]", text)
                found += [w for w in ("redis-server", "postgresql") if w in text.lower()]
        return tuple(part for item in found for part in item.split(","))


def blocks(text: str) -> Iterator[Block]:
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        fence = re.fullmatch(r"```(\w+)", lines[i])
        if fence:
            end = lines.index("```", i + 1)
            yield Block(fence.group(1), i + 1, section, "\n".join(lines[i + 1 : end]) + "\n")
            i = end
        i += 1


def programs() -> list[list[Block]]:
    found: list[list[Block]] = []
    for block in blocks(README.read_text()):
        if block.lang != "python":
            continue
        if block.code.startswith(CONTINUES):
            assert found, f"README line {block.line}: nothing above to continue"
            found[-1].append(block)
        else:
            found.append([block])
    return found


def command_blocks() -> list[Block]:
    return [
        b
        for b in blocks(README.read_text())
        if b.lang in ("sh", "bash", "console") and not b.section.startswith("Set up")
    ]


def missing(needs: tuple[str, ...]) -> list[str]:
    absent: list[str] = []
    for need in needs:
        if need == "redis-server":
            ok = bool(_which("redis-server"))
        elif need == "postgresql":
            ok = bool(_which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))
        else:
            ok = all(importlib.util.find_spec(m) is not None for m in EXTRAS.get(need, (need,)))
        if not ok:
            absent.append(need)
    return absent


def _which(name: str) -> str | None:
    return shutil.which(name)


def skip_or_fail(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI must have it)")
    pytest.skip(why)


def environment(needs: tuple[str, ...], request: pytest.FixtureRequest) -> dict[str, str]:
    """The reader's shell after set-up: `dagfn` on PATH, the checkout importable, and the URL
    of a server a block needs (`REDIS_URL`, `DATABASE_URL`) started by the suite's fixtures."""
    env = dict(os.environ)
    if "redis-server" in needs or "redis" in needs:
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    if "postgresql" in needs or "postgres" in needs:
        env["DATABASE_URL"] = request.getfixturevalue("postgres_dsn")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("COLUMNS", None)
    return env


def program_id(program: list[Block]) -> str:
    return f"line{program[0].line}"


@pytest.mark.parametrize("program", programs(), ids=program_id)
def test_every_python_block_runs_as_written(
    program: list[Block], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    needs = tuple(n for b in program for n in b.needs)
    absent = missing(needs)
    if absent:
        skip_or_fail(f"README line {program[0].line} needs {', '.join(absent)}")
    code = "".join(b.code for b in program)
    script = tmp_path / "readme_block.py"
    script.write_text(code)
    env = environment(needs, request)
    is_test_module = re.search(r"^def test_", code, re.M) is not None
    argv = (
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        if is_test_module
        else [sys.executable, str(script)]
    )
    done = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    where = f"README line {program[0].line}"
    assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
    for claim in re.findall(r"^\s*print\(.*\)\s+# (<.*>)$", code, re.M):
        assert claim in done.stdout, f"{where}: printed {done.stdout!r}, README says {claim!r}"


def commands(block: Block) -> Iterator[tuple[str, int]]:
    pending = ""
    for raw in block.code.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        said = re.search(r"#\s*exit (\d+)", line)
        yield line, int(said.group(1)) if said else 0


@pytest.mark.parametrize("block", command_blocks(), ids=lambda b: f"line{b.line}")
def test_every_command_line_runs_with_the_exit_code_it_states(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    absent = missing(block.needs)
    if absent:
        skip_or_fail(f"README line {block.line} needs {', '.join(absent)}")
    env = environment(block.needs, request)
    ran = 0
    for command, expected in commands(block):
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == expected, (
            f"README line {block.line}: `{command}` exited {done.returncode}, "
            f"the README says {expected}:\n{done.stdout}\n{done.stderr}"
        )
        ran += 1
    assert ran, f"README line {block.line}: a command block with no command"


def test_the_readme_has_blocks_to_run() -> None:
    assert len(programs()) >= 5
    assert command_blocks()


def test_a_block_that_continues_joins_the_program_above() -> None:
    text = "## A\n```python\nx = 1\n```\n```python\n# continues the block above\nprint(x)\n```\n"
    found = list(blocks(text))
    assert [b.line for b in found] == [2, 5]
    assert found[1].code.startswith(CONTINUES)


def test_exit_codes_are_read_from_trailing_comments() -> None:
    code = "# a comment\ndagfn run a:b  # exit 3: paused\ndagfn x \\\n  --y\n"
    block = Block("sh", 1, "CLI", code)
    assert list(commands(block)) == [("dagfn run a:b  # exit 3: paused", 3), ("dagfn x    --y", 0)]
