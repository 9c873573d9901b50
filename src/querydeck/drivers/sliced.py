"""A result stream over an engine that sends batches of its own size (a ClickHouse block,
a Spark Connect Arrow batch, up to tens of thousands of rows): each is sliced into batches
of at most ``BATCH_ROWS`` rows, as the contract asks."""

from __future__ import annotations

import abc
from collections.abc import Iterator

import pyarrow as pa

from querydeck.drivers.base import BATCH_ROWS, ResultStream


class SlicedStream(ResultStream):
    """Subclasses give :meth:`next_batch` (the engine's next batch, None after the last)
    and :meth:`end` (release the statement; ``early`` when the caller closes before the
    engine has sent everything, so that the engine must be told to stop). Set ``schema``
    before the first batch is read."""

    def __init__(self) -> None:
        self._pending: list[pa.RecordBatch] = []
        self._done = False
        self._ended = False
        self._closed = False

    @abc.abstractmethod
    def next_batch(self) -> pa.RecordBatch | None: ...

    @abc.abstractmethod
    def end(self, *, early: bool) -> None: ...

    def fill(self) -> None:
        """Read the engine's next batch when none is pending (an error closes the stream)."""
        while not self._pending and not self._done:
            try:
                batch = self.next_batch()
            except BaseException:
                self.close()
                raise
            if batch is None:
                self._done = True
                self._end(early=False)
                return
            self._pending = [
                batch.slice(start, BATCH_ROWS) for start in range(0, batch.num_rows, BATCH_ROWS)
            ]

    def _end(self, *, early: bool) -> None:
        if not self._ended:
            self._ended = True
            self.end(early=early)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while not self._closed:
            self.fill()
            if not self._pending:
                break
            yield self._pending.pop(0)
        self.close()

    def finished(self) -> bool:
        return self._closed or (self._done and not self._pending)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pending = []
        early = not self._done
        self._done = True
        self._end(early=early)
