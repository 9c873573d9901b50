"""The client watchdog of runs: one thread that fires deadlines, instead of a timer thread
started for every run (starting a thread costs more than a short query).

The thread is woken only when a new deadline comes before every one it waits for: a run's
deadline is almost always later than those of the runs already going, so scheduling one
costs no thread switch. A run that ends cancels its deadline, which stays in the heap until
it comes to the top (dropped unread then) or the heap is compacted.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("querydeck.runs")


class Deadline:
    """A scheduled action; :meth:`cancel` stops it from firing."""

    __slots__ = ("action", "cancelled")

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.action = _nothing  # what the action holds (a whole run) is not kept alive


def _nothing() -> None:
    return None


#: Heap size at which cancelled deadlines are dropped; it then grows with what stays.
COMPACT_AT = 4096


class Watchdog:
    """Calls each scheduled action once its delay has passed, on one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._compact_at = COMPACT_AT

    def schedule(self, delay_s: float, action: Callable[[], object]) -> Deadline:
        deadline = Deadline(action)
        due = time.monotonic() + delay_s
        with self._wake:
            first = not self._heap or due < self._heap[0][0]
            if len(self._heap) >= self._compact_at:
                self._compact()
            heapq.heappush(self._heap, (due, next(self._order), deadline))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="qd-watchdog", daemon=True)
                self._thread.start()
            elif first:  # the thread sleeps until a later deadline: wake it
                self._wake.notify()
        return deadline

    def pending(self) -> int:
        """Deadlines held, cancelled ones not dropped yet included."""
        with self._wake:
            return len(self._heap)

    def _compact(self) -> None:  # called with the lock held
        self._heap = [item for item in self._heap if not item[2].cancelled]
        heapq.heapify(self._heap)
        self._compact_at = max(COMPACT_AT, 2 * len(self._heap))

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    # Cancelled deadlines at the top are dropped without waiting for them.
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    if timeout is not None and timeout <= 0:
                        break
                    self._wake.wait(timeout)
                if self._closed:
                    return
                _, _, due = heapq.heappop(self._heap)
            if not due.cancelled:
                try:
                    due.action()
                except Exception:  # one failing action must not stop the others
                    log.exception("a run watchdog action failed")
