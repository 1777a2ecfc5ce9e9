"""Metric points buffered in memory and written in batches by a background thread.

``add`` is the hot path of training loops: it appends a tuple under an uncontended lock
and returns (about a microsecond). A daemon thread writes everything buffered every
``interval`` seconds, sooner when ``batch_size`` points are waiting; a caller blocks
only when ``max_points`` are waiting (the store cannot keep up), which bounds memory.
``flush()`` writes synchronously (run end, process exit). A failed background write
keeps its points and tries again; points the store rejects as invalid are dropped with
an error in the log, since retrying cannot help.

The bound on loss: a process killed with SIGKILL loses the points of at most the last
``interval`` seconds (``OPSLOOP_METRIC_FLUSH_INTERVAL``, default 1 s).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from opsloop.errors import Conflict, InvalidInput, NotFound

__all__ = ["MetricBuffer", "Point"]

log = logging.getLogger(__name__)

# (run_id, key, value, step, timestamp_ms)
Point = tuple[str, str, float, int, int]
Sink = Callable[[str, list[tuple[str, float, int, int]]], None]


class MetricBuffer:
    """Buffers metric points of any number of runs and writes them in batches.

    Args:
        sink: ``sink(run_id, [(key, value, step, timestamp), ...])`` writes one run's batch.
        interval: seconds a point may wait in the buffer.
        batch_size: points that wake the writer early.
        max_points: points after which ``add`` writes synchronously (back-pressure).
    """

    def __init__(self, sink: Sink, *, interval: float = 1.0, batch_size: int = 10_000,
                 max_points: int = 100_000) -> None:
        self._sink = sink
        self._interval = interval
        self._batch_size = batch_size
        self._max_points = max(max_points, batch_size)
        self._points: list[Point] = []
        self._lock = threading.Lock()          # guards _points
        self._write_lock = threading.Lock()    # one writer at a time, in order
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Buffer one point (validated by the caller)."""
        with self._lock:
            self._points.append((run_id, key, value, step, timestamp))
            n = len(self._points)
        if self._thread is None:
            self._start()
        if n >= self._batch_size:
            if n >= self._max_points:
                self.flush()
            else:
                self._wake.set()

    def __len__(self) -> int:
        return len(self._points)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop:
                self._thread = threading.Thread(target=self._loop, name="opsloop-metrics",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep the thread alive; points were kept for retry
                log.warning("opsloop: writing buffered metrics failed, will retry: %s", exc)

    def flush(self) -> None:
        """Write every buffered point now. Raises if the store is unreachable."""
        with self._write_lock:
            with self._lock:
                points, self._points = self._points, []
            if not points:
                return
            by_run: dict[str, list[tuple[str, float, int, int]]] = defaultdict(list)
            for run_id, key, value, step, ts in points:
                by_run[run_id].append((key, value, step, ts))
            done: set[str] = set()
            try:
                for run_id, batch in by_run.items():
                    try:
                        self._sink(run_id, batch)
                    except (InvalidInput, NotFound, Conflict) as exc:
                        self.dropped += len(batch)
                        log.error("opsloop: dropped %d metric points of run %s: %s",
                                  len(batch), run_id, exc)
                    done.add(run_id)
            except BaseException:
                # Put back what was not written, ahead of newer points, and re-raise.
                keep = [p for p in points if p[0] not in done]
                with self._lock:
                    self._points[:0] = keep
                raise

    def take(self, run_id: str) -> list[tuple[str, float, int, int]]:
        """Remove and return one run's buffered points (to write them with its end).

        Waits for a background write in progress, so no older point of the run can land
        after the points returned here.
        """
        with self._write_lock, self._lock:
            mine = [(k, v, st, ts) for r, k, v, st, ts in self._points if r == run_id]
            if mine:
                self._points = [p for p in self._points if p[0] != run_id]
            return mine

    def close(self) -> None:
        """Stop the writer thread after a last flush."""
        self._stop = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.flush()
