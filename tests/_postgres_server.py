"""A real PostgreSQL server for the tests, on a free loopback port in a temp dir.

The `postgres_dsn` fixture (session scope) makes a cluster with ``initdb`` in
a fresh temporary directory, starts it with ``pg_ctl start -w`` (TCP on
127.0.0.1 only, no Unix socket), yields its DSN and stops the server by the
PID in its ``postmaster.pid`` at the end, then removes the directory.
``initdb`` refuses to run as root: as root, the cluster belongs to the
unprivileged user ``nobody`` and both commands run as that user.

The executables are looked up on ``PATH``, then in ``/usr/lib/postgresql/*/bin``
(where Debian's ``postgresql`` package puts them). Without them, or without
psycopg, the tests that use the fixture are skipped, or fail when
``CI=true`` (CI must install the Debian package ``postgresql``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT = 60
_STOP_TIMEOUT = 30.0
_FAST = ("--no-locale", "--no-sync")  # a throwaway cluster: C locale, no fsync while made
_WAIT = ("-t", str(_START_TIMEOUT))


def find_executable(name: str) -> str | None:
    """``name`` on PATH, else the newest ``/usr/lib/postgresql/<version>/bin/<name>``."""
    found = shutil.which(name)
    if found is not None:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_user() -> dict[str, int]:
    """Popen arguments that drop root to ``nobody`` (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid}


def _stop(data: Path) -> None:
    """Stop the server by the PID in ``postmaster.pid`` (fast shutdown, then SIGKILL)."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().splitlines()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)  # postgres: SIGINT is a fast shutdown
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises ProcessLookupError once it is gone
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_postgres(initdb: str, pg_ctl: str) -> Iterator[str]:
    """Make a cluster in a new temp dir, start it, yield its DSN; stop and remove it on exit.

    Raises `RuntimeError` (with the server's log) if it does not start
    (three tries, in case another process took the chosen port).
    """
    user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="dagfn-postgres-"))
    data, log = root / "data", root / "server.log"
    try:
        if user:
            os.chown(root, user["user"], user["group"])
        quiet = {"stdin": subprocess.DEVNULL, "capture_output": True, "text": True, **user}
        made = subprocess.run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", *_FAST],
            check=False,
            timeout=120,
            **quiet,  # type: ignore[call-overload]
        )
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        for _attempt in range(3):
            port = _free_port()
            options = f"-p {port} -c listen_addresses=127.0.0.1 -k '' -c fsync=off"
            started = subprocess.run(
                [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", *_WAIT, "start"],
                check=False,
                timeout=_START_TIMEOUT + 10,
                **quiet,  # type: ignore[call-overload]
            )
            if started.returncode == 0:
                try:
                    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
                finally:
                    _stop(data)
                return
            _stop(data)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise RuntimeError(f"PostgreSQL did not start; its log ends with:\n{tail}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required when CI=true)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server started for this test session."""
    initdb, pg_ctl = find_executable("initdb"), find_executable("pg_ctl")
    if initdb is None or pg_ctl is None:
        _missing("PostgreSQL (initdb, pg_ctl) is not installed: apt-get install -y postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed: pip install 'dagfn[postgres]'")
    assert initdb is not None and pg_ctl is not None
    with running_postgres(initdb, pg_ctl) as dsn:
        yield dsn
