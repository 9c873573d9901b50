"""Streaming exports of a stored result: CSV, TSV, JSON, NDJSON and Parquet.

An export reads the run's stored batches one at a time and turns each into bytes, so memory
stays constant whatever the result size and the query is never run again. CSV follows
RFC 4180 (UTF-8, a header row, CRLF line ends, quotes where needed, NULL as an empty field)
and is written by Arrow's CSV writer; TSV is the same with tabs and LF. JSON (one array of
objects) and NDJSON (one object per line) follow the JSON value rules of
:mod:`querydeck.runs.results.jsonrows` and are encoded with orjson batch by batch. Parquet is
written by Arrow's Parquet writer in row groups of about :data:`PARQUET_ROW_GROUP` rows.

Memory: at most :data:`ENCODE_AHEAD` batches are encoded ahead of the one being sent, an
encoded batch goes on as it is (small ones are joined up to :data:`CHUNK_BYTES`), and
Arrow's buffers come from :func:`querydeck.runs.results.arrowpool.memory_pool`, which returns freed
memory to the system promptly. The peak stays the same whatever the number of rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.types as pat

from querydeck.errors import QueryDeckError
from querydeck.runs.export import excel
from querydeck.runs.export.formats import MEDIA_TYPES, ExportFormat
from querydeck.runs.results import extremes, jsonrows
from querydeck.runs.results.arrowpool import memory_pool
from querydeck.runs.results.store import ResultStore, StoredResult

#: Rows per Parquet row group (a few batches; bounded memory).
PARQUET_ROW_GROUP = 65_536
#: Threads that encode CSV/TSV batches, and batches encoded ahead of the one being sent.
ENCODE_THREADS = max(1, min(4, os.cpu_count() or 1))
ENCODE_AHEAD = 2 * ENCODE_THREADS
#: Bytes gathered before a chunk is handed on (fewer, larger writes to the socket); a
#: piece this large or larger (an encoded batch, usually) goes on as it is. Larger chunks
#: gain no speed and cost resident memory: the HTTP server copies each one (chunked
#: framing, its send buffer).
CHUNK_BYTES = 1 << 20


class _Sink:
    """A write-only file that keeps what was written until :meth:`take` hands it out."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def take(self) -> list[bytes]:
        """What was written since the last call, as written (not joined: one copy less)."""
        parts, self._parts = self._parts, []
        return parts


def unique_keys(names: list[str]) -> list[str]:
    """Column names as JSON object keys; a repeated name gets ``_2``, ``_3``..."""
    keys: list[str] = []
    taken: set[str] = set()
    for name in names:
        key, n = name, 1
        while key in taken:
            n += 1
            key = f"{name}_{n}"
        taken.add(key)
        keys.append(key)
    return keys


def _csv_ready(arrow_type: pa.DataType) -> bool:
    """Whether Arrow's CSV writer writes this type as querydeck wants it."""
    return not (
        pat.is_nested(arrow_type)
        or pat.is_binary(arrow_type)
        or pat.is_large_binary(arrow_type)
        or pat.is_fixed_size_binary(arrow_type)
        or pat.is_null(arrow_type)
        or arrow_type.id == pa.month_day_nano_interval().id  # ISO-8601 durations instead
        or pat.is_duration(arrow_type)
    )


def _as_text(column: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    """A column Arrow's CSV writer cannot write, as text: base64 for binary, JSON for lists,
    maps and structs (the JSON value rules)."""
    if extremes.nested_extremes(column):  # dates Python's datetime cannot hold, inside
        column = extremes.text_leaves(column)
        arrow_type = column.type
    convert = jsonrows.converter(arrow_type)
    out: list[str | None] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
            continue
        ready = convert(value) if convert is not None else value
        out.append(ready if isinstance(ready, str) else orjson.dumps(ready).decode("utf-8"))
    return pa.array(out, type=pa.string())


#: Digits of a second's fraction in Arrow's text of a timestamp, by unit.
_FRACTION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
#: Characters of ``YYYY-MM-DD HH:MM:SS`` and the position of the space in it.
_WHOLE_SECONDS_CHARS = 19
_DATE_CHARS = 10


def _cut_where(text: pa.Array, ending: str, length: int) -> pa.Array:
    """``text`` with the values that end with ``ending`` cut to ``length`` characters (no
    copy when none does; one pass when all do, the usual case)."""
    pool = memory_pool()
    ends = pc.ends_with(text, ending, memory_pool=pool)
    if not pc.any(ends).as_py():
        return text
    short = pc.utf8_slice_codeunits(text, 0, length, memory_pool=pool)
    if pc.all(ends).as_py():
        return short
    return pc.if_else(ends, short, text, memory_pool=pool)


def _iso_text(column: pa.Array) -> pa.Array:
    """A timestamp column as ISO-8601 text, the form the JSON exports and the API use:
    ``2024-01-02T03:04:05Z`` (a fraction only when it is not zero, nanoseconds that are
    whole microseconds as six digits; ``Z`` for a column with a zone, in UTC). Made from
    the zone-less values with Arrow's kernels (no regular expressions): Arrow formats
    zone-aware values one at a time through a time-zone lookup, several times slower."""
    pool = memory_pool()
    unit = column.type.unit
    naive = pc.cast(column, pa.timestamp(unit), memory_pool=pool)
    text = pc.cast(naive, pa.string(), memory_pool=pool)
    digits = _FRACTION_DIGITS[unit]
    if digits == 9:
        text = _cut_where(text, "000", _WHOLE_SECONDS_CHARS + 7)
        digits = 6
    if digits:
        text = _cut_where(text, "." + "0" * digits, _WHOLE_SECONDS_CHARS)
    text = pc.binary_replace_slice(
        text, start=_DATE_CHARS, stop=_DATE_CHARS + 1, replacement="T", memory_pool=pool
    )
    if column.type.tz is None:
        return text
    return pc.binary_join_element_wise(text, "Z", "", memory_pool=pool)


def _arrow_text(column: pa.Array) -> pa.Array:
    """A column as the text Arrow's CSV writer would write for it."""
    return pc.cast(column, pa.string(), memory_pool=memory_pool())


def _has_empty(column: pa.Array) -> bool:
    """Whether a text column holds an empty string (NULLs do not count)."""
    return bool(pc.min(pc.binary_length(column)).as_py() == 0)  # one pass over the offsets


class _DelimitedEncoder:
    """Record batches as CSV/TSV rows (no header), by Arrow's CSV writer.

    Text is quoted only in a batch where some value needs it (minimal quoting, as most CSV
    readers and people expect); an empty string is quoted, NULL is not. Arrow refuses to
    write, unquoted, exactly the values that need quotes (a quote, the delimiter, CR or LF),
    so a batch is first tried unquoted, with only its empty strings looked for beforehand;
    after a batch that needed quotes, the next one is searched first (a regex over its text)
    so that data quoted throughout is not encoded twice. Timestamps are written as the
    ISO-8601 text of the JSON exports (see :func:`_iso_text`). Called from several threads:
    ``quoted_last`` is only a hint.
    """

    def __init__(
        self,
        schema: pa.Schema,
        delimiter: str,
        eol: str,
        text: Callable[[pa.Array], pa.Array] | None = None,
    ) -> None:
        """``text``: applied to every text column (after lists, binary... became text)."""
        self.schema = schema
        self.transform = text
        self.plain = [_csv_ready(f.type) for f in schema]
        self.stamps = [i for i, f in enumerate(schema) if pat.is_timestamp(f.type)]
        fields = [
            pa.field(f"c{i}", f.type if ok and i not in self.stamps else pa.string())
            for i, (f, ok) in enumerate(zip(schema, self.plain, strict=True))
        ]
        self.text = [
            i
            for i, f in enumerate(fields)
            if (pat.is_string(f.type) or pat.is_large_string(f.type)) and i not in self.stamps
        ]
        #: Dates and timestamps: text in a batch holding infinity or years beyond what
        #: Arrow formats (it would write ``<value out of range: …>``).
        self.temporal = [i for i, f in enumerate(schema) if extremes.is_sentinel_type(f.type)]
        self.quoted_schema = pa.schema(fields)  # positional names: duplicates are fine
        self.unquoted_schema = self.quoted_schema
        self.needs_quotes = f'^$|["\r\n{re.escape(delimiter)}]'
        self.options = {
            style: pacsv.WriteOptions(
                include_header=False, delimiter=delimiter, eol=eol, quoting_style=style
            )
            for style in ("needed", "none")
        }
        self.pool = memory_pool()
        self.quoted_last = False

    def __call__(self, batch: pa.RecordBatch) -> bytes:
        columns = [
            col if ok else _as_text(col, f.type)
            for col, ok, f in zip(batch.columns, self.plain, self.schema, strict=True)
        ]
        for i in self.temporal:
            if extremes.has_extremes(columns[i]):
                text = _iso_text if i in self.stamps else _arrow_text
                columns[i] = extremes.extreme_text_array(columns[i], text)
        if self.transform is not None:
            for i in self.text:
                columns[i] = self.transform(columns[i])
        for i in self.stamps:
            if pat.is_timestamp(columns[i].type):  # not already text (extreme values)
                columns[i] = _iso_text(columns[i])
        if not (self.quoted_last and self._needs_quotes(columns)) and not any(
            _has_empty(columns[i]) for i in self.text
        ):
            try:
                encoded = self._write(columns, self.unquoted_schema, "none")
            except pa.ArrowInvalid:
                pass  # some text needs quotes: the whole batch's text is quoted
            else:
                self.quoted_last = False
                return encoded
        self.quoted_last = True
        return self._write(columns, self.quoted_schema, "needed")

    def _needs_quotes(self, columns: list[pa.Array]) -> bool:
        return any(
            pc.any(pc.match_substring_regex(columns[i], self.needs_quotes)).as_py()
            for i in self.text
        )

    def _write(self, columns: list[pa.Array], schema: pa.Schema, style: str) -> bytes:
        if any(c.type != f.type for c, f in zip(columns, schema, strict=True)):
            schema = pa.schema([f.with_type(c.type) for c, f in zip(columns, schema, strict=True)])
        sink = pa.BufferOutputStream(memory_pool=self.pool)
        batch = pa.RecordBatch.from_arrays(columns, schema=schema)
        pacsv.write_csv(batch, sink, write_options=self.options[style], memory_pool=self.pool)
        return bytes(sink.getvalue())


@dataclass(frozen=True)
class ExportReceipt:
    """How an export ended: ``ok`` (every byte handed on), ``aborted`` (the consumer
    stopped early, e.g. a client that disconnected) or ``error``. ``bytes`` and ``sha256``
    cover the chunks handed to the consumer (when it stopped early, the last of them may
    have reached the client only in part: an upper bound); ``rows`` counts the rows read
    from the store."""

    outcome: str
    rows: int
    bytes: int
    sha256: str
    error_code: str | None = None


@dataclass
class Export:
    """One export of a stored result; iterate :meth:`chunks` to get its bytes.
    ``on_finished`` (the audit log) is called once with the :class:`ExportReceipt` when
    the iteration ends, however it ends."""

    store: ResultStore
    run_id: str
    stored: StoredResult
    format: ExportFormat
    filename: str
    total_rows: int
    rows_written: int = field(default=0)
    #: Columns whose values were cut to max_value_bytes when the result was stored.
    truncated_columns: list[str] = field(default_factory=list)
    on_finished: Callable[[ExportReceipt], None] | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def _batches(self) -> Iterator[pa.RecordBatch]:
        for batch in self.store.batches(self.run_id, self.stored):
            yield batch
            self.rows_written += batch.num_rows

    def chunks(self) -> Generator[bytes, None, None]:
        """The file's bytes, in chunks of about :data:`CHUNK_BYTES`, hashed as they are
        handed on (never buffered whole). A consumer that stops early should ``close()``
        the generator, so the export is reported ``aborted`` at once (not when the
        garbage collector gets to it)."""
        digest = hashlib.sha256()
        sent = 0
        outcome, error_code = "aborted", None  # closed early unless it runs to the end
        try:
            for chunk in self._encoded():
                digest.update(chunk)
                sent += len(chunk)
                yield chunk
            outcome = "ok"
        except QueryDeckError as exc:
            outcome, error_code = "error", exc.code
            raise
        except Exception:
            outcome, error_code = "error", QueryDeckError.code
            raise
        finally:
            callback, self.on_finished = self.on_finished, None
            if callback is not None:
                callback(
                    ExportReceipt(outcome, self.rows_written, sent, digest.hexdigest(), error_code)
                )

    def _encoded(self) -> Iterator[bytes]:
        writers = {
            ExportFormat.csv: lambda: self._delimited(",", "\r\n"),
            ExportFormat.excel: self._excel,
            ExportFormat.tsv: lambda: self._delimited("\t", "\n"),
            ExportFormat.json: self._json,
            ExportFormat.ndjson: self._ndjson,
            ExportFormat.parquet: self._parquet,
        }
        pending: list[bytes] = []
        size = 0
        for chunk in writers[self.format]():
            pending.append(chunk)
            size += len(chunk)
            if size >= CHUNK_BYTES:
                yield pending[0] if len(pending) == 1 else b"".join(pending)
                pending, size = [], 0
        if size:
            yield b"".join(pending)

    def _delimited(
        self,
        delimiter: str,
        eol: str,
        text: Callable[[pa.Array], pa.Array] | None = None,
        name: Callable[[str], str] = str,
    ) -> Iterator[bytes]:
        schema = self.stored.schema
        header = io.StringIO()
        names = [name(n) for n in schema.names]
        csv.writer(header, delimiter=delimiter, lineterminator=eol).writerow(names)
        yield header.getvalue().encode("utf-8")
        if not schema.names:
            return
        yield from _in_order(_DelimitedEncoder(schema, delimiter, eol, text), self._batches())

    def _excel(self) -> Iterator[bytes]:
        yield excel.BOM
        yield from self._delimited(",", "\r\n", excel.neutralise, excel.neutralise_name)

    def _objects(self, batch: pa.RecordBatch, keys: list[str]) -> list[dict[str, Any]]:
        """A batch as objects; JSON and JSONB values as nested JSON, not as strings."""
        rows = jsonrows.rows(pa.Table.from_batches([batch]))
        nested = jsonrows.json_columns(batch.schema)
        if nested:
            for row in rows:
                for i in nested:
                    row[i] = jsonrows.nested(row[i])
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _json(self) -> Iterator[bytes]:
        keys = unique_keys(self.stored.schema.names)
        yield b"["
        first = True
        for batch in self._batches():
            body = orjson.dumps(self._objects(batch, keys))
            yield (b"" if first else b",") + body[1:-1]
            first = False
        yield b"]\n"

    def _ndjson(self) -> Iterator[bytes]:
        keys = unique_keys(self.stored.schema.names)
        for batch in self._batches():
            yield b"".join(
                orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
                for obj in self._objects(batch, keys)
            )

    def _parquet(self) -> Iterator[bytes]:
        # Imported here: pyarrow.parquet loads Arrow's file systems (S3, GCS, Azure...),
        # resident memory a server that never writes Parquet need not carry.
        import pyarrow.parquet as pq

        sink = _Sink()
        schema, intervals = _parquet_schema(self.stored.schema)
        writer = pq.ParquetWriter(sink, schema, memory_pool=memory_pool())
        pending: list[pa.RecordBatch] = []
        count = 0
        for batch in self._batches():
            if intervals:  # Parquet has no month-day-nano interval: ISO-8601 durations
                columns = [
                    extremes.interval_text_array(c) if i in intervals else c
                    for i, c in enumerate(batch.columns)
                ]
                batch = pa.RecordBatch.from_arrays(columns, schema=schema)
            pending.append(batch)
            count += batch.num_rows
            if count >= PARQUET_ROW_GROUP:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending, count = [], 0
                yield from sink.take()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
        writer.close()
        yield from sink.take()


def _parquet_schema(schema: pa.Schema) -> tuple[pa.Schema, set[int]]:
    """The schema a Parquet file gets, and the columns (intervals) written as text."""
    intervals = {i for i, f in enumerate(schema) if f.type.id == pa.month_day_nano_interval().id}
    fields = [f.with_type(pa.string()) if i in intervals else f for i, f in enumerate(schema)]
    return pa.schema(fields, metadata=schema.metadata), intervals


def _in_order(
    encode: Callable[[pa.RecordBatch], bytes], batches: Iterator[pa.RecordBatch]
) -> Iterator[bytes]:
    """``encode`` each batch on a few threads (Arrow's encoders release the GIL), yielding
    the results in order; at most :data:`ENCODE_AHEAD` batches are in flight, so memory
    stays bounded."""
    with ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="qd-export") as pool:
        pending: deque[Future[bytes]] = deque()
        try:
            for batch in batches:
                pending.append(pool.submit(encode, batch))
                if len(pending) >= ENCODE_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def file_name(run_id: str, fmt: ExportFormat) -> str:
    if fmt is ExportFormat.excel:
        return f"querydeck-{run_id}-excel.csv"
    return f"querydeck-{run_id}.{fmt.value}"
