"""A PostgreSQL query's rows read with binary ``COPY``, decoded into Arrow with numpy.

The cursor path fetches rows into Python tuples, a Python object per value. For a query
whose columns :mod:`querydeck.drivers.postgres.binary` decodes, the driver reads the rows
with ``COPY (statement) TO STDOUT (FORMAT binary)`` instead: libpq hands over one buffer
per row and the decoder turns a batch of them into Arrow arrays with array operations.

What keeps the statement a query is unchanged: it was declared as a cursor first
(``DECLARE … CURSOR FOR``, in the extended protocol: one statement, and only a query
without data-modifying parts parses there), and the cursor's description gives the
columns' types. The same text is then wrapped in ``COPY (`` … ``\\n)``: a statement that
parsed on its own has balanced parentheses and ends outside any comment or literal, so the
wrapper holds exactly it; a text with a ``;`` anywhere is read through the cursor path.
``COPY`` is sent in the extended protocol too, inside the same ``READ ONLY`` transaction
whose ``statement_timeout`` bounds it as a whole.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
from psycopg import pq

from querydeck.drivers.base import BATCH_ROWS, BatchReader
from querydeck.drivers.postgres.binary import BinaryRowDecoder, decodable
from querydeck.errors import QueryCancelled, QueryFailed

if TYPE_CHECKING:
    from querydeck.drivers.postgres.driver import PostgresSession

#: A batch ends at BATCH_ROWS rows or once its row messages hold this many bytes.
BATCH_BYTES = 32 * 1024 * 1024
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
#: The signature, the flags field and the header extension's length.
_HEADER = len(_SIGNATURE) + 8
_TRAILER = b"\xff\xff"
_PREFIX = b"COPY ("


def copyable(statement: bytes, described: pq.abc.PGresult) -> bool:
    """Whether a declared statement's rows can be read with binary ``COPY``."""
    if b";" in statement or described.nfields == 0:
        return False
    return all(decodable(described.ftype(i)) for i in range(described.nfields))


class CopyResultStream(BatchReader):
    """The rows of one statement read with binary ``COPY``; closing it rolls the
    transaction back (through its connection)."""

    def __init__(
        self,
        owner: PostgresSession,
        statement: bytes,
        schema: pa.Schema,
        oids: list[int],
    ) -> None:
        super().__init__(schema)
        self._owner = owner
        self._pgconn = owner.native.pgconn
        self._decoder = BinaryRowDecoder(schema, oids, owner.native)
        self._statement = _PREFIX + statement + b"\n) TO STDOUT (FORMAT binary)"
        self._wire = owner.wire
        self._header = True
        #: The server is sending rows (the COPY has not ended).
        self._copying = False
        self._done = False

    def prefetch(self) -> None:
        """Send the ``COPY`` and read its first batch, so that most errors surface from
        the driver's ``execute``."""
        try:
            with self._owner.busy():
                self._pgconn.send_query_params(self._statement, None)
                self._wire.flush()
                result = self._result()
                if result is None or result.status != pq.ExecStatus.COPY_OUT:
                    self._finish_results(result)
                    raise QueryFailed("PostgreSQL did not start sending the rows.")
                self._copying = True
        except psycopg.Error as exc:
            self.close()
            raise self._owner.map_error(exc, len(_PREFIX)) from None
        except BaseException:
            self.close()
            raise
        super().prefetch()

    def _wait(self) -> None:
        self._wire.wait()

    def _result(self) -> pq.abc.PGresult | None:
        return self._wire.result()

    def _finish_results(self, first: pq.abc.PGresult | None) -> None:
        """Read the results left after the rows; raise the error one of them holds."""
        error: pq.abc.PGresult | None = None
        result = first
        while result is not None:
            if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                error = result
            result = self._result()
        if error is not None:
            raise psycopg.errors.error_from_result(error, encoding="utf-8")

    def _read_rows(self) -> tuple[bytearray, list[int]]:
        """Up to a batch of row messages, back to back, and the size of each; the COPY's
        end is read when it comes. The loop runs once per row and does as little as it
        can; each message is copied out at once, so that no object is kept per row (a
        batch of kept buffers made the garbage collector walk the whole heap again and
        again, which in a server holding many objects took most of the time)."""
        rows = bytearray()
        sizes: list[int] = []
        add = sizes.append
        size = 0
        get = self._pgconn.get_copy_data
        if self._header:
            self._header = False
            count, data = self._message(*self._pgconn.get_copy_data(1))
            if count < 0:
                return rows, sizes
            data = self._without_header(data)
            if len(data) > len(_TRAILER):
                rows += data
                add(len(data))
            elif data and bytes(data) != _TRAILER:
                raise QueryFailed("PostgreSQL sent a row in an unknown format.")
        for _ in range(BATCH_ROWS - len(sizes)):
            count, data = get(1)
            if count <= 0:
                count, data = self._message(count, data)
            if count > len(_TRAILER):
                rows += data
                add(count)
                size += count
                if size >= BATCH_BYTES:
                    break
            elif count < 0:
                break
            elif bytes(data) != _TRAILER:
                raise QueryFailed("PostgreSQL sent a row in an unknown format.")
        return rows, sizes

    def _message(self, count: int, data: Any) -> tuple[int, Any]:
        """The next COPY message, given what ``get_copy_data`` just answered: waiting for
        it when nothing was there yet (0); at the end (-1), the COPY's own results are
        read (raising the error they hold)."""
        while count == 0:
            self._wait()
            count, data = self._pgconn.get_copy_data(1)
        if count < 0:
            self._copying = False
            self._done = True
            self._finish_results(self._result())
        return count, data

    @staticmethod
    def _without_header(data: Any) -> Any:
        if bytes(data[: len(_SIGNATURE)]) != _SIGNATURE:
            raise QueryFailed("PostgreSQL sent rows in an unknown format.")
        skip = int.from_bytes(data[_HEADER - 4 : _HEADER], "big")
        return data[_HEADER + skip :]

    def exhausted(self) -> bool:
        return self._done

    def read_batch(self) -> pa.RecordBatch | None:
        if self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        try:
            with self._owner.busy():
                rows, sizes = self._read_rows()
        except psycopg.Error as exc:
            raise self._owner.map_error(exc, len(_PREFIX)) from None
        if not sizes:
            return None
        return self._decoder.decode(rows, sizes)

    def release(self) -> None:
        if self._copying:
            self._abandon()
        self._owner.rollback()
        self._owner.stream_closed(self)

    def _abandon(self) -> None:
        """Stop a COPY whose rows are no longer wanted: the server is asked to cancel it
        and what it had sent meanwhile is read and dropped (the session stays usable)."""
        self._copying = False
        with contextlib.suppress(psycopg.Error):
            self._owner.native.cancel_safe(timeout=5)
            while (count := self._pgconn.get_copy_data(1)[0]) >= 0:
                if count == 0:
                    self._wait()
            with contextlib.suppress(psycopg.errors.QueryCanceled):
                self._finish_results(self._result())
