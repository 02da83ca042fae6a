"""A real ``redis-server`` for the tests, on a free loopback port in a temp dir.

The `redis_url` fixture (session scope) starts one server without any
persistence (``--save ""``, ``--appendonly no``), waits until it answers
PING, yields its URL and stops it by its PID at the end. Without a
``redis-server`` executable the tests that use it are skipped, or fail
when ``CI=true`` (CI must install the Debian package ``redis-server``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_redis_server(executable: str, directory: Path) -> Iterator[str]:
    """Run ``redis-server`` in `directory`; yield its URL; stop it on exit.

    Raises `RuntimeError` if it does not answer PING within 10 seconds
    (three tries, in case another process took the chosen port).
    """
    log = directory / "redis.log"
    for _attempt in range(3):
        port = _free_port()
        # fmt: off
        argv = [
            executable,
            "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(directory), "--logfile", str(log),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]
        # fmt: on
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _answers_ping(port):
                    yield f"redis://127.0.0.1:{port}/0"
                    return
                time.sleep(0.02)
        finally:
            _stop(process)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"redis-server did not answer PING; its log ends with:\n{tail}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server started for this test session."""
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not installed: apt-get install -y redis-server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required when CI=true)")
        pytest.skip(message)
    with running_redis_server(executable, tmp_path_factory.mktemp("redis")) as url:
        yield url
