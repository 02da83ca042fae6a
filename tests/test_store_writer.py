"""The group-commit writer thread shared by the SQLite and Redis stores."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from dagfn.store import StoreClosedError, StoreWriteError
from dagfn.store._writer import GroupWriter


class ListSink:
    """A real sink that keeps committed groups in a list (its 'database')."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.groups: list[list[int]] = []
        self.fail_on = fail_on
        self.closed = False
        self.thread: threading.Thread | None = None

    def commit(self, ops: Sequence[int]) -> list[object]:
        self.thread = threading.current_thread()
        if self.fail_on in ops:
            raise OSError(f"disk full at {self.fail_on}")
        self.groups.append(list(ops))
        return [ValueError(f"odd {op}") if op < 0 else op * 10 for op in ops]

    def close(self) -> None:
        self.closed = True

    @property
    def committed(self) -> list[int]:
        return [op for group in self.groups for op in group]


def writer(sink: ListSink, interval: float = 0.002) -> GroupWriter[int]:
    return GroupWriter(lambda: sink, name="test-writer", interval=interval)


def test_rows_are_committed_in_order_in_groups_by_one_thread() -> None:
    sink = ListSink()
    w = writer(sink)
    for op in range(5000):
        w.submit(op)
    w.flush()
    assert sink.committed == list(range(5000))
    # Submitting takes far less than the commit interval: a few groups, not 5000.
    assert len(sink.groups) <= 100
    assert sink.thread is not None and sink.thread is not threading.current_thread()
    w.close()
    assert sink.closed


def test_rows_are_committed_within_the_interval_without_flush() -> None:
    sink = ListSink()
    w = writer(sink)
    w.submit(1)
    deadline = threading.Event()
    for _ in range(500):  # up to 5 s on a very slow machine
        if sink.committed == [1]:
            break
        deadline.wait(0.01)
    assert sink.committed == [1]
    w.close()


def test_call_returns_the_result_of_its_op_after_earlier_ops() -> None:
    sink = ListSink()
    w = writer(sink, interval=1.0)  # a waiting caller does not wait for the interval
    w.submit(1)
    assert w.call(2) == 20
    assert sink.committed == [1, 2]
    with pytest.raises(ValueError, match="odd -3"):
        w.call(-3)
    w.close()


def test_domain_errors_of_submitted_ops_are_raised_by_the_next_flush_once() -> None:
    sink = ListSink()
    w = writer(sink)
    w.submit(-1)
    w.submit(2)
    w.barrier()  # a barrier does not report them
    with pytest.raises(ValueError, match="odd -1"):
        w.flush()
    w.flush()
    assert sink.committed == [-1, 2]
    w.close()


def test_a_failed_commit_fails_waiters_and_refuses_later_writes() -> None:
    sink = ListSink(fail_on=3)
    w = writer(sink)
    w.submit(1)
    w.flush()
    w.submit(3)
    with pytest.raises(StoreWriteError, match="disk full at 3") as info:
        w.flush()
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StoreWriteError):
        w.submit(4)
    with pytest.raises(StoreWriteError):
        w.call(5)
    w.close()  # the failure was reported already: close does not raise it again
    assert sink.committed == [1]
    assert sink.closed


def test_close_commits_pending_rows_and_then_refuses() -> None:
    sink = ListSink()
    w = writer(sink, interval=1.0)
    w.submit(1)
    w.close()
    w.close()
    assert sink.committed == [1]
    with pytest.raises(StoreClosedError):
        w.submit(2)
    with pytest.raises(StoreClosedError):
        w.flush()


def test_an_error_opening_the_sink_is_raised_by_the_constructor() -> None:
    def broken() -> ListSink:
        raise OSError("no such database")

    with pytest.raises(OSError, match="no such database"):
        GroupWriter(broken, name="broken", interval=0.002)
