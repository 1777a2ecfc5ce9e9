"""The metric buffer: batching, background writes, retries and back-pressure."""

from __future__ import annotations

import threading
import time

import pytest

from opsloop.client.buffer import MetricBuffer
from opsloop.errors import InvalidInput, StoreUnavailable


class Sink:
    """An in-memory store of batches that can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[tuple[str, float, int, int]]]] = []
        self.fail_with: Exception | None = None
        self.written = threading.Event()

    def __call__(self, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append((run_id, points))
        self.written.set()

    def points(self, run_id: str) -> list[int]:
        return [p[2] for r, batch in self.batches if r == run_id for p in batch]


def test_points_are_written_in_the_background_within_the_interval() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=0.05)
    for step in range(100):
        buf.add("r1", "loss", 0.5, step, 0)
    assert sink.written.wait(2.0)
    assert sink.points("r1") == list(range(100))
    assert len(sink.batches) == 1  # one batch, not a write per point
    buf.close()


def test_a_full_batch_wakes_the_writer_early() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600, batch_size=50)
    for step in range(50):
        buf.add("r1", "loss", 0.5, step, 0)
    assert sink.written.wait(2.0)
    buf.close()


def test_flush_groups_by_run_and_keeps_order() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600)
    for step in range(10):
        buf.add("a", "m", 1.0, step, 0)
        buf.add("b", "m", 2.0, step, 0)
    buf.flush()
    assert sink.points("a") == list(range(10)) and sink.points("b") == list(range(10))
    assert len(buf) == 0


def test_a_failed_write_keeps_the_points_for_the_next_try() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600)
    buf.add("a", "m", 1.0, 0, 0)
    sink.fail_with = StoreUnavailable("database down")
    with pytest.raises(StoreUnavailable):
        buf.flush()
    buf.add("a", "m", 1.0, 1, 0)
    sink.fail_with = None
    buf.flush()
    assert sink.points("a") == [0, 1]


def test_points_the_store_rejects_are_dropped_and_counted() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600)
    buf.add("gone", "m", 1.0, 0, 0)
    sink.fail_with = InvalidInput("run", "gone", "does not exist")
    buf.flush()  # does not raise: retrying cannot help
    assert buf.dropped == 1 and len(buf) == 0


def test_back_pressure_writes_synchronously_when_full() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600, batch_size=10, max_points=20)
    blocked = threading.Event()
    for step in range(20):
        buf.add("a", "m", 1.0, step, 0)
    # the 20th point hit max_points: it was written by the caller, not left waiting
    assert len(buf) == 0 and sink.points("a") == list(range(20))
    blocked.set()
    buf.close()


def test_close_writes_what_is_left() -> None:
    sink = Sink()
    buf = MetricBuffer(sink, interval=3600)
    buf.add("a", "m", 1.0, 0, 0)
    started = time.monotonic()
    buf.close()
    assert sink.points("a") == [0] and time.monotonic() - started < 5
