"""`Processes` workers: warm across runs, gone with their parent, and a missing main guard.

Real processes throughout: programs are written to files and run with the
test's Python; worker pids are read back and checked in /proc.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dagfn import node, run_sync
from dagfn.executors import Processes
from dagfn.executors._processes import _is_main_test

ROOT = Path(__file__).parent.parent


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return not sys.platform.startswith("linux")


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def worker_pid(x: int) -> int:
    return os.getpid() + 0 * x


def python(script: str, tmp_path: Path, name: str = "program.py") -> subprocess.Popen[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    return subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_one_executor_keeps_its_workers_across_run_sync_calls_until_closed() -> None:
    pool = Processes(workers=1)
    g = node(worker_pid)
    first = run_sync(g, 0, executor=pool).unwrap()
    assert pool.live_workers == 1 and alive(first)
    second = run_sync(g, 0, executor=pool).unwrap()
    assert second == first  # the same warm worker, though each run_sync is a new trio run
    pool.close()
    assert pool.live_workers == 0
    assert gone_within([first], 5)
    third = run_sync(g, 0, executor=pool).unwrap()  # a closed executor starts anew
    assert third != first
    with pool:  # a `with` block closes it at its end
        assert run_sync(g, 0, executor=pool).unwrap() == third
    assert gone_within([third], 5)


def test_a_garbage_collected_executor_stops_its_workers() -> None:
    pool = Processes(workers=1)
    pid = run_sync(node(worker_pid), 0, executor=pool).unwrap()
    assert alive(pid)
    del pool
    gc.collect()
    assert gone_within([pid], 5)


def test_workers_die_within_a_second_of_a_sigkill_of_their_parent(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = python(
        f"""
        import os, time
        from dagfn import gather, node, run_sync
        from dagfn.executors import Processes

        def long_step(x: int) -> int:
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(120)
            return x

        if __name__ == "__main__":
            steps = [node(long_step).named("a"), node(long_step).named("b")]
            run_sync(gather(steps), 0, executor=Processes(workers=2))
        """,
        tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pids.exists() and len(pids.read_text().split()) == 2:
                break
            time.sleep(0.05)
        workers = [int(p) for p in pids.read_text().split()]
        assert all(alive(pid) for pid in workers)
        program.send_signal(signal.SIGKILL)
        program.wait()
        assert gone_within(workers, 3), "workers outlived their SIGKILLed parent"
    finally:
        program.kill()
        program.communicate()


UNGUARDED = """
from dagfn import node, run_sync
from dagfn.executors import Processes

def square(x: int) -> int:
    return x * x

print(run_sync(node(square), 7, executor=Processes(workers=1)))
"""


def test_a_missing_main_guard_is_one_clear_error_in_the_parent(tmp_path: Path) -> None:
    program = python(UNGUARDED, tmp_path)
    out, err = program.communicate(timeout=120)
    assert program.returncode == 1
    assert "Success" not in out and "Failure" not in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("dagfn.executors._errors.ExecutorUnavailableError: Processes: ")
    assert "program.py line 8 starts a run at import time" in last
    assert 'outside `if __name__ == "__main__":`' in last


def test_the_same_program_under_the_guard_runs(tmp_path: Path) -> None:
    guarded = UNGUARDED.replace("print(", 'if "__main__" == __name__:\n    print(')
    program = python(guarded, tmp_path)
    out, err = program.communicate(timeout=120)
    assert program.returncode == 0, err
    assert out.strip() == "<Success: 49>"


def test_a_run_from_a_function_called_under_the_guard_is_fine(tmp_path: Path) -> None:
    script = UNGUARDED.replace("print(", "def main() -> None:\n    print(")
    program = python(script + 'if __name__ == "__main__":\n    main()\n', tmp_path)
    out, err = program.communicate(timeout=120)
    assert program.returncode == 0, err
    assert out.strip() == "<Success: 49>"


@pytest.mark.parametrize(
    ("test", "is_main"),
    [
        ('__name__ == "__main__"', True),
        ("'__main__' == __name__", True),
        ('__name__ != "__main__"', False),
        ('name == "__main__"', False),
        ('__name__ == "__main__" and x', False),
    ],
)
def test_the_guard_is_recognised_either_way_round(test: str, is_main: bool) -> None:
    import ast

    expr = ast.parse(test, mode="eval").body
    assert _is_main_test(expr) is is_main


def test_redis_store_without_its_extra_says_how_to_install_it() -> None:
    script = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "try:\n"
        "    from dagfn.store import RedisStore\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    expected = (
        "ImportError RedisStore needs the optional dependency 'redis': pip install 'dagfn[redis]'"
    )
    assert done.stdout.strip() == expected
