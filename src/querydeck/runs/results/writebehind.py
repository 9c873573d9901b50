"""Writing a result's batches on a thread of their own while the next ones are fetched.

Fetching a batch (a driver decoding rows, an engine scanning) and storing the one before it
(serialising, checksumming and writing some megabytes) use different resources, and both
release the GIL for their long parts: done one after the other they add up, done side by
side the slower one sets the pace. :class:`WriteBehind` hands each batch to one writer
thread through a short queue, so memory stays bounded (at most ``DEPTH`` batches wait),
and the order of the batches is kept. The writer's first error is raised to the caller at
its next hand-over or when it finishes; the thread always ends before :meth:`close`
returns, so nothing writes to the files after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: Batches waiting for the writer at most.
DEPTH = 2


class WriteBehind:
    """One writer thread calling ``write`` for each batch handed over, in order."""

    def __init__(self, write: Callable[[pa.RecordBatch], None]) -> None:
        self._write = write
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(DEPTH)
        self._error: BaseException | None = None
        #: The writer failed: it writes nothing more, even after its error was raised.
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="qd-result-writer", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._failed:
                continue  # keep taking batches: the caller must never block on a full queue
            try:
                self._write(batch)
            except BaseException as exc:  # raised to the caller, see put() and close()
                self._failed = True
                self._error = exc

    def put(self, batch: pa.RecordBatch) -> None:
        """Hand a batch to the writer (waits while ``DEPTH`` are waiting)."""
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every batch handed over is written (or dropped after an error) and
        the thread has ended; raise the writer's error, if any."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
