"""Executors run step functions inline, in threads, in processes and on Dask, with real parts.

Nothing is mocked: Processes starts trio-parallel worker processes, Dask starts
real LocalClusters (in-process workers for speed, worker processes where a
worker must die or be left behind). The clusters are started once per module.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

import dagfn.executors
from dagfn import InvalidArgument
from dagfn.executors import (
    Dask,
    Executor,
    ExecutorError,
    ExecutorUnavailableError,
    Inline,
    Processes,
    ShippingError,
    Threads,
    WorkerLostError,
)

pytest.importorskip("trio_parallel")
pytest.importorskip("distributed")


T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return trio.run(fn)


def square(x: int) -> int:
    return x * x


def fail_with(message: str) -> None:
    raise KeyError(message)


def write_pid_then_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return not sys.platform.startswith("linux")


async def wait_for_file(path: Path, timeout: float = 20.0) -> int:
    with trio.fail_after(timeout):
        while not path.exists() or not path.read_text():
            await trio.sleep(0.01)
    return int(path.read_text())


def open_for_module(executor: Dask) -> Iterator[Dask]:
    # Dask's synchronous client is not tied to a trio run (it lives in threads),
    # so one cluster can serve every test's trio.run.
    run(executor.__aenter__)
    try:
        yield executor
    finally:

        async def close() -> None:
            await executor.__aexit__(None, None, None)

        run(close)


@pytest.fixture(scope="module")
def dask_threads() -> Iterator[Dask]:
    yield from open_for_module(Dask(n_workers=2, processes=False))


@pytest.fixture(scope="module")
def dask_processes() -> Iterator[Dask]:
    yield from open_for_module(Dask(n_workers=1, processes=True))


@pytest.fixture(params=["processes", "dask_threads", "dask_processes"])
def remote(request: pytest.FixtureRequest) -> Executor:
    """Each executor that ships work elsewhere; tests enter it with ``async with``.

    A `Processes` is fresh and unopened (its workers stop when it is collected);
    the Dask ones are the module's open clusters, which entering again only shares.
    """
    if request.param == "processes":
        return Processes(workers=2)
    executor: Executor = request.getfixturevalue(request.param)
    return executor


def test_every_public_name_is_exported_once() -> None:
    assert len(dagfn.executors.__all__) == len(set(dagfn.executors.__all__))
    for name in dagfn.executors.__all__:
        assert getattr(dagfn.executors, name).__module__.startswith("dagfn.executors.")


def test_the_package_imports_without_its_optional_dependencies() -> None:
    blocked = ["trio_parallel", "cloudpickle", "distributed", "dask"]
    script = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "import dagfn.executors as ex\n"
        "try:\n"
        "    ex.Processes()\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = (
        "Processes needs the optional dependency 'trio_parallel': pip install 'dagfn[processes]'"
    )
    assert done.stdout.strip() == expected


def test_every_executor_is_an_executor() -> None:
    executors: list[Executor] = [Inline(), Threads(), Processes(), Dask()]
    assert all(isinstance(executor, Executor) for executor in executors)


def test_executor_error_is_a_dagfn_runtime_error_naming_the_step() -> None:
    error = WorkerLostError("step 'a': died", step="a")
    assert isinstance(error, ExecutorError)
    assert isinstance(error, dagfn.DagfnError)
    assert isinstance(error, RuntimeError)
    assert error.step == "a"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Threads(limit=0), "Expected a positive int but got limit=0 (type=int)"),
        (lambda: Processes(workers=0), "Expected None or a positive int but got workers=0"),
        (lambda: Dask(n_workers=-1), "Expected a positive int but got n_workers=-1"),
        (lambda: Dask(threads_per_worker=True), "got threads_per_worker=True (type=bool)"),
    ],
)
def test_bad_constructor_arguments_are_named(make: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


# -- Inline and Threads -----------------------------------------------------------------


@pytest.mark.parametrize("make", [Inline, Threads])
def test_local_executors_return_results_and_raise_the_original_exception(
    make: Callable[[], Executor],
) -> None:
    async def main() -> None:
        executor = make()
        assert await executor.submit(square, (7,), step="sq") == 49  # unopened works
        async with executor:
            assert await executor.submit(lambda a, b: a + b, (1, 2), step="add") == 3
            with pytest.raises(KeyError, match="nope"):
                await executor.submit(fail_with, ("nope",), step="bad")

    run(main)


def test_threads_run_at_most_limit_functions_at_once() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def busy() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1

    async def main() -> None:
        async with Threads(limit=3) as executor, trio.open_nursery() as nursery:
            for i in range(9):
                nursery.start_soon(partial(executor.submit, busy, (), step=f"busy#{i}"))

    run(main)
    assert peak == 3


def test_threads_cancellation_abandons_the_thread_at_once() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.5)
        finished.set()

    async def main() -> float:
        start = trio.current_time()
        with trio.move_on_after(0.05):
            await Threads().submit(slow, (), step="slow")
        return trio.current_time() - start

    assert run(main) < 0.3
    assert not finished.is_set()  # abandoned, still running
    assert finished.wait(5)


# -- Processes and Dask: shipping ------------------------------------------------------


def test_remote_executors_return_results(remote: Executor) -> None:
    async def main() -> list[int]:
        results = [0] * 6
        async with remote, trio.open_nursery() as nursery:
            for i in range(6):

                async def one(i: int = i) -> None:
                    results[i] = await remote.submit(square, (i,), step=f"sq#{i}")

                nursery.start_soon(one)
        return results

    assert run(main) == [0, 1, 4, 9, 16, 25]


def test_remote_executors_ship_lambdas_and_closures(remote: Executor) -> None:
    offset = 100

    def add_offset(x: int) -> int:
        return x + offset

    async def main() -> tuple[int, int]:
        async with remote:
            return (
                await remote.submit(add_offset, (1,), step="closure"),
                await remote.submit(lambda x: x * offset, (2,), step="lambda"),
            )

    assert run(main) == (101, 200)


def test_remote_executors_raise_the_original_exception_with_the_remote_traceback(
    remote: Executor,
) -> None:
    async def main() -> None:
        async with remote:
            await remote.submit(fail_with, ("no such key",), step="lookup")

    with pytest.raises(KeyError, match="no such key") as caught:
        run(main)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "remote traceback" in notes
    assert "in fail_with" in notes


def test_an_unpicklable_argument_names_the_step_and_the_argument(remote: Executor) -> None:
    async def main() -> None:
        async with remote:
            await remote.submit(square, (threading.Lock(),), step="rerank")

    with pytest.raises(
        ShippingError, match=r"^step 'rerank': cannot ship argument 0 \(a _thread.lock\) to a "
    ) as caught:
        run(main)
    assert caught.value.step == "rerank"
    assert caught.value.what == "argument 0 (a _thread.lock)"


def test_an_unpicklable_function_is_named() -> None:
    lock = threading.Lock()

    def holds_lock() -> bool:
        return lock.locked()

    async def main() -> None:
        async with Processes(workers=1) as executor:
            await executor.submit(holds_lock, (), step="locked")

    with pytest.raises(
        ShippingError, match=r"step 'locked': cannot ship the function .*holds_lock"
    ):
        run(main)


def test_an_unpicklable_result_names_the_step(remote: Executor) -> None:
    async def main() -> None:
        async with remote:
            await remote.submit(threading.Lock, (), step="make_lock")

    with pytest.raises(
        ShippingError, match=r"step 'make_lock': cannot ship the result \(a _thread.lock\) back"
    ):
        run(main)


def test_a_remote_system_exit_does_not_exit_the_caller() -> None:
    async def main() -> None:
        async with Processes(workers=1) as executor:
            await executor.submit(sys.exit, (3,), step="quit")

    with pytest.raises(ExecutorError, match="step 'quit': the function raised SystemExit"):
        run(main)


# -- lost workers ------------------------------------------------------------------------


def test_a_killed_process_worker_is_a_worker_lost_error_and_the_pool_recovers() -> None:
    async def main() -> None:
        async with Processes(workers=1) as executor:
            with pytest.raises(
                WorkerLostError,
                match=r"step 'die': the process worker running it died \(exit code 7\)",
            ):
                await executor.submit(os._exit, (7,), step="die")
            assert await executor.submit(square, (3,), step="after") == 9

    run(main)


def test_a_killed_dask_worker_is_a_worker_lost_error(dask_processes: Dask) -> None:
    async def main() -> None:
        with pytest.raises(WorkerLostError, match="step 'die': the Dask worker running it died"):
            await dask_processes.submit(os._exit, (7,), step="die")

    run(main)


# -- cancellation and clean-up ---------------------------------------------------------------


def test_cancelling_processes_kills_the_worker_and_close_leaves_none(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> tuple[int, list[int], float]:
        async with Processes(workers=2) as executor:
            idle = [await executor.submit(os.getpid, (), step="pid")]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(executor.submit, write_pid_then_sleep, (str(pid_file), 60), step="x")
                )
                busy = await wait_for_file(pid_file)
                start = trio.current_time()
                nursery.cancel_scope.cancel()
            took = trio.current_time() - start
            assert not alive(busy)  # killed, not left to finish the sleep
        return busy, idle, took

    busy, idle, took = run(main)
    assert took < 2
    assert not any(alive(pid) for pid in [busy, *idle])


def test_cancelling_dask_cancels_the_future(dask_threads: Dask) -> None:
    async def main() -> float:
        with trio.move_on_after(0.2):
            await dask_threads.submit(time.sleep, (1.5,), step="slow")
        start = trio.current_time()
        # The scheduler forgets the cancelled task (it cannot stop the running thread).
        with trio.fail_after(5):
            while any(str(key).startswith("slow-") for key in _scheduler_keys(dask_threads)):
                await trio.sleep(0.02)
        return trio.current_time() - start

    assert run(main) < 1
    time.sleep(1.5)  # let the abandoned sleep end, so it does not delay other tests


def _scheduler_keys(executor: Dask) -> list[Any]:
    def keys(dask_scheduler: Any) -> list[Any]:
        return list(dask_scheduler.tasks)

    # `run_on_scheduler` is unannotated in distributed; call it through a typed alias.
    run_on_scheduler: Callable[..., list[Any]] = executor.client.run_on_scheduler
    return run_on_scheduler(keys)


def test_dask_with_worker_processes_cancels_and_leaves_no_worker_after_close(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> tuple[list[int], float]:
        async with Dask(n_workers=1, processes=True) as executor:
            pids = [await executor.submit(os.getpid, (), step="pid")]
            assert pids[0] != os.getpid()
            start = math.inf
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    partial(executor.submit, write_pid_then_sleep, (str(pid_file), 2), step="x")
                )
                pids.append(await wait_for_file(pid_file))
                start = trio.current_time()
                nursery.cancel_scope.cancel()
            took = trio.current_time() - start
        return pids, took

    pids, took = run(main)
    assert took < 2
    assert not any(alive(pid) for pid in pids)


# -- lifecycle ---------------------------------------------------------------------------------


def test_entering_is_reentrant_and_a_closed_executor_reopens() -> None:
    def state(executor: Executor) -> bool:
        return executor.opened  # a call, so mypy does not narrow `opened` across awaits

    async def main() -> None:
        executor = Processes(workers=1)
        assert not state(executor)
        async with executor:
            async with executor:
                assert state(executor)
            assert state(executor)  # the inner exit did not close it
            assert await executor.submit(square, (2,), step="sq") == 4
        assert not state(executor)
        async with executor:
            assert await executor.submit(square, (3,), step="sq") == 9

    run(main)


@pytest.mark.parametrize("make", [lambda: Processes(workers=1), lambda: Dask(processes=False)])
def test_submitting_to_an_unopened_executor_says_how_to_open_it(
    make: Callable[[], Executor],
) -> None:
    async def main() -> None:
        await make().submit(square, (2,), step="sq")

    with pytest.raises(
        ExecutorUnavailableError, match=r"step 'sq': the \w+ executor is not open; use `async with"
    ):
        run(main)


def test_an_unreachable_scheduler_is_an_executor_unavailable_error() -> None:
    import dask

    async def main() -> None:
        async with Dask("tcp://127.0.0.1:1"):
            pass

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            ExecutorUnavailableError, match=r"cannot reach the scheduler at 'tcp://127.0.0.1:1'"
        ),
    ):
        run(main)
