"""Raw libpq calls on a psycopg connection's ``PGconn``, for what psycopg's cursors do not
offer: reading ``COPY`` data a row at a time without an object per row, and sending a few
statements in one round trip without psycopg's pipeline machinery (which costs more CPU
than a short run's own work).

psycopg keeps its connections in nonblocking mode: what is sent is flushed (waiting for the
socket to take it, reading what the server sends meanwhile), and results are waited for
with ``poll`` (not ``select``: a busy server's descriptors go past what ``select`` can
watch). Nothing here changes psycopg's view of the connection: each use ends with every
result read.
"""

from __future__ import annotations

import contextlib
import select

import psycopg
from psycopg import pq

_IN = select.POLLIN | select.POLLERR | select.POLLHUP
_OUT = select.POLLOUT | _IN


class Wire:
    """One connection's ``PGconn`` with the waits its nonblocking mode needs."""

    def __init__(self, pgconn: pq.abc.PGconn) -> None:
        self.pgconn = pgconn
        self._poller: select.poll | None = None

    def _poll(self, events: int) -> None:
        if self._poller is None:
            self._poller = select.poll()
        self._poller.register(self.pgconn.socket, events)  # registering again modifies
        self._poller.poll()

    def wait(self) -> None:
        """Wait until the socket has something to read, then take it in."""
        self._poll(_IN)
        self.pgconn.consume_input()

    def flush(self) -> None:
        """Send what libpq holds; while the socket is full, read what the server sends."""
        while self.pgconn.flush():
            self._poll(_OUT)
            self.pgconn.consume_input()

    def result(self) -> pq.abc.PGresult | None:
        """The next result of the connection, waiting for it."""
        self.pgconn.consume_input()
        while self.pgconn.is_busy():
            self.wait()
        return self.pgconn.get_result()

    def pipelined(self, *statements: bytes) -> pq.abc.PGresult:
        """Send statements in one round trip (the extended protocol: one statement each)
        and return the last one's result; the first error is raised as psycopg's (the
        statements after a failed one are not run)."""
        pgconn = self.pgconn
        pgconn.enter_pipeline_mode()
        results: list[pq.abc.PGresult] = []
        try:
            for statement in statements:
                pgconn.send_query_params(statement, None)
            pgconn.pipeline_sync()
            self.flush()
            sync = pq.ExecStatus.PIPELINE_SYNC
            while (result := self.result()) is None or result.status != sync:
                if result is not None:
                    results.append(result)
        except BaseException:
            with contextlib.suppress(psycopg.Error):  # a lost connection cannot leave it
                pgconn.exit_pipeline_mode()
            raise
        pgconn.exit_pipeline_mode()
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding="utf-8")
        return results[-1]
