"""A MySQL/MariaDB result's rows read off the wire and decoded into Arrow a batch at a time.

PyMySQL turns every row packet into a tuple of Python values (a length-coded string read,
decoded and converted per value): most of a large result's time. For a result whose
columns all have an Arrow type that Arrow parses from MySQL's text (integers, floats,
decimals, dates, datetimes and timestamps, text, binary), :class:`TextResultStream` reads
the row packets from the session's socket itself, appends their payloads to one buffer and
walks it column by column with numpy (:mod:`querydeck.drivers.columnar`): each value is a
length-coded string, cut out in one pass and parsed by an Arrow cast. Other results keep
PyMySQL's path.

The statement was sent by PyMySQL's unbuffered cursor, which read the column definitions;
this module reads from the first row packet to the end-of-rows packet (or the error
packet, raised as PyMySQL's error) and leaves the connection as PyMySQL would (the packet
sequence, the result marked complete). A stream closed before its end has the statement
killed (``KILL QUERY``) and reads what was sent meanwhile, so the session stays usable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pymysql
import pymysql.cursors

from querydeck.drivers.base import BATCH_ROWS, BatchReader
from querydeck.drivers.columnar import PAD, Column, RowBuffer, slices
from querydeck.errors import QueryCancelled, QueryDeckError, QueryFailed

if TYPE_CHECKING:
    from querydeck.drivers.mysql.driver import MySQLSession

#: A batch ends at BATCH_ROWS rows or once its row payloads hold this many bytes.
BATCH_BYTES = 32 * 1024 * 1024
#: A packet this long is continued by the next one (a row of 16 MB or more).
_MAX_PACKET = 0xFFFFFF
_EOF, _ERROR, _NULL = 0xFE, 0xFF, 0xFB
#: The end-of-rows packet is shorter than this (a row starting with an 8-byte length is not).
_EOF_BELOW = 9
_MORE_RESULTS = 8  # SERVER_MORE_RESULTS_EXISTS
_CR_SERVER_LOST = 2013
_READ_SIZE = 1 << 20


def readable(schema: pa.Schema, converters: Sequence[Callable[[Any], Any] | None]) -> bool:
    """Whether every column of a result can be read by this module: no PyMySQL value
    converter is needed and Arrow parses the column's type from MySQL's text."""
    return bool(schema.names) and all(
        convert is None and _parsed(f.type) for f, convert in zip(schema, converters, strict=True)
    )


def _parsed(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_date32(arrow_type)
        or (pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us")
    )


class _Packets:
    """The row packets of one result, read from the connection's buffered socket."""

    def __init__(self, conn: Any, result: Any) -> None:
        self._conn = conn
        self._result = result
        self._seq: int = conn._next_seq_id
        self._buffer = b""
        self._view = memoryview(self._buffer)
        self._at = 0
        self.done = False

    def _more(self, need: int) -> None:
        """Read what the socket has (at least one byte) after what is left unread; when
        ``need`` more bytes are known to be needed (a long packet), all of them at once, so
        that a long packet is not joined again for every chunk."""
        conn = self._conn
        if conn._current_timeout != conn._read_timeout:
            conn._sock.settimeout(conn._read_timeout)
            conn._current_timeout = conn._read_timeout
        try:
            chunk = conn._rfile.read(need) if need > _READ_SIZE else conn._rfile.read1(_READ_SIZE)
        except OSError as exc:
            conn._force_close()
            raise pymysql.err.OperationalError(
                _CR_SERVER_LOST, f"Lost connection to MySQL server during query ({exc})"
            ) from None
        if not chunk:
            conn._force_close()
            raise pymysql.err.OperationalError(
                _CR_SERVER_LOST, "Lost connection to MySQL server during query"
            )
        self._buffer = bytes(self._view[self._at :]) + chunk
        self._view = memoryview(self._buffer)
        self._at = 0

    def _packet(self) -> tuple[int, int]:
        """The next packet, waiting for all of it: (payload start, payload length)."""
        while True:
            at, buffer = self._at, self._buffer
            need = 0
            if len(buffer) - at >= 4:
                length = buffer[at] | buffer[at + 1] << 8 | buffer[at + 2] << 16
                need = 4 + length - (len(buffer) - at)
                if need <= 0:
                    if buffer[at + 3] != self._seq:
                        self._conn._force_close()
                        raise pymysql.err.InternalError(
                            f"Packet sequence number wrong - got {buffer[at + 3]} "
                            f"expected {self._seq}"
                        )
                    self._seq = (self._seq + 1) & 0xFF
                    self._at = at + 4 + length
                    return at + 4, length
            self._more(need)

    def read(self, rows: bytearray, sizes: list[int], limit: int) -> None:
        """Append up to ``limit`` rows' payloads to ``rows`` and their sizes to ``sizes``;
        at the end of the rows mark the result complete (raise an error packet's error)."""
        size = 0
        while len(sizes) < limit and size < BATCH_BYTES:
            start, length = self._packet()
            first = self._buffer[start] if length else 0
            if first == _ERROR or (first == _EOF and length < _EOF_BELOW):
                self._end(bytes(self._view[start : start + length]))
                return
            if length == _MAX_PACKET:
                payload = bytearray(self._view[start : start + length])
                while length == _MAX_PACKET:
                    start, length = self._packet()
                    payload += self._view[start : start + length]
                rows += payload
                length = len(payload)
            else:
                rows += self._view[start : start + length]
            sizes.append(length)
            size += length

    def drain(self) -> None:
        """Read and drop the rest of the result."""
        while not self.done:
            self.read(bytearray(), [], BATCH_ROWS)

    def _end(self, packet: bytes) -> None:
        self.done = True
        self._conn._next_seq_id = self._seq
        result = self._result
        result.unbuffered_active = False
        result.connection = None
        result.rows = None
        if packet[0] == _ERROR:
            result.has_next = False
            pymysql.err.raise_mysql_exception(packet)
        if len(packet) >= 5:
            status = int.from_bytes(packet[3:5], "little")
            result.warning_count = int.from_bytes(packet[1:3], "little")
            result.server_status = status
            result.has_next = bool(status & _MORE_RESULTS)
        if self._at != len(self._buffer):  # the server never sends more before a command
            self._conn._force_close()
            raise pymysql.err.InternalError("MySQL sent data after the end of the rows.")


class TextRowDecoder:
    """Turns batches of text-protocol row payloads into record batches of ``schema``."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def decode(self, rows: bytearray, sizes: Sequence[int]) -> pa.RecordBatch:
        """One record batch from row payloads stored back to back in ``rows``, of
        ``sizes`` bytes each (the decoder keeps ``rows`` and pads it)."""
        lengths = np.array(sizes, dtype=np.int64)
        buffer = RowBuffer(rows)
        ends = np.cumsum(lengths)
        position = ends - lengths
        arrays = []
        for arrow_field in self.schema:
            first = buffer.at(position, "u1").astype(np.int64)
            valid = first != _NULL
            length = np.where(first < _NULL, first, 0)
            header = np.ones(len(first), dtype=np.int64)
            for marker, width in ((0xFC, 2), (0xFD, 3), (0xFE, 8)):
                wide = first == marker
                if wide.any():
                    length[wide] = _little(buffer, position[wide] + 1, width)
                    header[wide] = 1 + width
            start = position + header
            position = start + length
            if (position > ends).any():
                raise QueryFailed("MySQL sent a row that ends before its last column.")
            column = Column(buffer, start, length, valid, arrow_field)
            arrays.append(_column(column))
        if (position != ends).any():
            raise QueryFailed("MySQL sent a row with more values than its columns.")
        if len(ends) and ends[-1] != len(rows) - PAD:
            raise QueryFailed("MySQL sent rows of other sizes than their packets.")
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _little(buffer: RowBuffer, offsets: Any, width: int) -> Any:
    """Unsigned little-endian integers of ``width`` bytes (2, 3 or 8) at ``offsets``."""
    if width == 3:
        return buffer.at(offsets, "<u2").astype(np.int64) | (
            buffer.at(offsets + 2, "u1").astype(np.int64) << 16
        )
    return buffer.at(offsets, "<u2" if width == 2 else "<i8").astype(np.int64)


def _column(column: Column) -> pa.Array:
    """One column's values: text and binary as they are, the rest parsed by Arrow."""
    target = column.field.type
    if pa.types.is_string(target) or pa.types.is_binary(target):
        return slices(column, target)
    text = slices(column, pa.string())
    try:
        if pa.types.is_timestamp(target) and target.tz is not None:
            # the session's time zone is UTC: the text is the UTC time
            return text.cast(pa.timestamp("us")).cast(target)
        if pa.types.is_float32(target):  # as PyMySQL does: the nearest double, then float
            return text.cast(pa.float64()).cast(target, safe=False)
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise column.mismatch("a value that cannot be read as its type") from None


class TextResultStream(BatchReader):
    """The rows of one statement, read from the wire (see the module docstring). ``owner``
    runs each read as a round trip (cancel reaches the server meanwhile; PyMySQL's errors
    are mapped); ``on_close`` runs once the stream is closed."""

    def __init__(
        self,
        owner: MySQLSession,
        cursor: pymysql.cursors.SSCursor,
        schema: pa.Schema,
        on_close: Callable[[], None],
    ) -> None:
        super().__init__(schema)
        self._owner = owner
        self._cursor = cursor
        self._packets = _Packets(owner.native, cursor._result)  # type: ignore[attr-defined]
        self._decoder = TextRowDecoder(schema)
        self._on_close = on_close

    def exhausted(self) -> bool:
        return self._packets.done

    def read_batch(self) -> pa.RecordBatch | None:
        if self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        rows = bytearray()
        sizes: list[int] = []
        self._owner.call(lambda: self._packets.read(rows, sizes, BATCH_ROWS))
        if not sizes:
            return None
        if self._packets.done and self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        return self._decoder.decode(rows, sizes)

    def release(self) -> None:
        if not self._packets.done and self._owner.native.open:
            self._owner.kill_query()
            with contextlib.suppress(pymysql.Error, QueryDeckError):
                self._owner.call(self._packets.drain)
        with contextlib.suppress(pymysql.Error, QueryDeckError):
            self._cursor.close()
        self._on_close()
