"""Arrow record batches from DB-API rows, shared by the drivers that fetch Python tuples.

A driver maps its column types to an Arrow schema (each field carrying the engine's own
type name under :data:`NATIVE_TYPE_KEY`, see :func:`field`), then wraps its cursor in a
:class:`DbApiResultStream`, which fetches ``BATCH_ROWS`` rows at a time and converts them
column by column with :func:`rows_to_batch`.

Values that Arrow does not take as they are follow one rule: they are converted only when
the conversion is exact, otherwise the batch fails with
:class:`~querydeck.errors.QueryFailed` (code ``RESULT_TYPE_MISMATCH``) naming the column —
a value is never dropped or silently changed. Exact conversions:

- to a string column: bytes as UTF-8 text when valid, else ``\\x`` + hex; booleans as
  ``true``/``false``; dates and times in ISO 8601; dicts and lists as JSON; the rest ``str()``;
- to a binary column: text as UTF-8;
- to an integer column: booleans, and floats or decimals with no fractional part;
- to a float column: integers and decimals that a float represents exactly;
- to a decimal column: integers, floats and numeric text whose digits fit the scale;
- to a boolean column: the integers 0 and 1;
- to a date or timestamp column: ISO 8601 text.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, Protocol

import pyarrow as pa

from querydeck.drivers.base import BATCH_ROWS, ResultStream
from querydeck.drivers.pandasprobe import skip_pandas_probe
from querydeck.errors import QueryDeckError, QueryFailed, ResultTypeMismatch

#: Field metadata key holding the engine's own type name (``int8``, ``numeric(10,2)``...).
NATIVE_TYPE_KEY = b"querydeck.native_type"

#: Largest precision a ``decimal128`` holds.
MAX_DECIMAL128_PRECISION = 38


class _MisfitError(Exception):
    """A value that has no exact conversion to the column's type."""


def field(name: str, arrow_type: pa.DataType, native_type: str) -> pa.Field:
    """A nullable field recording ``native_type`` in its metadata."""
    return pa.field(name, arrow_type, nullable=True, metadata={NATIVE_TYPE_KEY: native_type})


def native_type(arrow_field: pa.Field) -> str | None:
    """The engine's type name stored in a field's metadata, if any."""
    metadata = arrow_field.metadata or {}
    value = metadata.get(NATIVE_TYPE_KEY)
    return None if value is None else bytes(value).decode("utf-8")


def with_native_types(schema: pa.Schema, native_types: Sequence[str]) -> pa.Schema:
    """``schema`` with each field's native type metadata set, in order."""
    return pa.schema(
        [
            f.with_metadata({**(f.metadata or {}), NATIVE_TYPE_KEY: native.encode("utf-8")})
            for f, native in zip(schema, native_types, strict=True)
        ],
        metadata=schema.metadata,
    )


def decimal_type(precision: int | None, scale: int | None) -> pa.DataType:
    """``decimal128(precision, scale)`` when it is known and fits; otherwise text, which
    keeps every digit (the field's native type says it is a decimal)."""
    if (
        precision is not None
        and scale is not None
        and 0 < precision <= MAX_DECIMAL128_PRECISION
        and 0 <= scale <= precision
    ):
        return pa.decimal128(precision, scale)
    return pa.string()


def rows_to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """One record batch with exactly ``schema`` from row tuples (see the module rules)."""
    skip_pandas_probe()  # pyarrow would import pandas to tell whether a value is one
    width = len(schema)
    if rows and set(map(len, rows)) != {width}:
        raise ResultTypeMismatch(
            f"The engine returned rows of another width than the {width} columns.",
        )
    # One list per column, taken in C. (``zip(*rows)`` made an iterator per row: thousands
    # of allocations per batch that set off the garbage collector over the fresh rows.)
    columns: list[Sequence[Any]] = [list(map(itemgetter(i), rows)) for i in range(width)]
    arrays = [to_array(values, f) for values, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def to_array(values: Sequence[Any], arrow_field: pa.Field) -> pa.Array:
    """One column's values as an array of the field's type (see the module rules)."""
    target = arrow_field.type
    # pyarrow casts a float to an integer column by dropping its fraction (2.5 → 2): such a
    # column takes the checked path, where only integral floats convert.
    floats = pa.types.is_integer(target) and any(
        issubclass(t, float) for t in set(map(type, values))
    )
    if not floats:
        try:
            return pa.array(values, type=target, from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            pass
    convert = _converter(target)
    converted: list[Any] = []
    for value in values:
        if value is None:
            converted.append(None)
            continue
        try:
            fits = not (floats and isinstance(value, float)) and _fits(value, target)
            converted.append(value if fits else convert(value, target))
        except (_MisfitError, ValueError, TypeError, ArithmeticError):
            raise _mismatch(arrow_field, value) from None
    try:
        return pa.array(converted, type=target, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        raise _mismatch(arrow_field, next(v for v in values if v is not None)) from None


def _fits(value: Any, target: pa.DataType) -> bool:
    try:
        pa.scalar(value, type=target, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return False
    return True


def _mismatch(arrow_field: pa.Field, value: object) -> QueryFailed:
    kind = type(value).__name__
    return ResultTypeMismatch(
        f"Column {arrow_field.name!r} has a value of type {kind} that does not fit its type "
        f"{arrow_field.type}; CAST the column to text in the query to read it.",
        detail={"column": arrow_field.name, "type": str(arrow_field.type), "value_type": kind},
    )


def _converter(target: pa.DataType) -> Callable[[Any, pa.DataType], Any]:
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return _to_text
    if pa.types.is_binary(target) or pa.types.is_large_binary(target):
        return _to_bytes
    if pa.types.is_integer(target):
        return _to_int
    if pa.types.is_floating(target):
        return _to_float
    if pa.types.is_decimal(target):
        return _to_decimal
    if pa.types.is_boolean(target):
        return _to_bool
    if pa.types.is_date(target):
        return _to_date
    if pa.types.is_timestamp(target):
        return _to_timestamp
    return _no_conversion


def _to_text(value: Any, _: pa.DataType) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "\\x" + raw.hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _to_bytes(value: Any, _: pa.DataType) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise _MisfitError


def _to_int(value: Any, _: pa.DataType) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise _MisfitError


def _to_float(value: Any, _: pa.DataType) -> float:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        result = float(value)
        if Decimal(result) == Decimal(value):
            return result
    raise _MisfitError


def _to_decimal(value: Any, target: pa.DataType) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _MisfitError
    try:
        number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise _MisfitError from None
    if not number.is_finite():
        raise _MisfitError
    exact = number.quantize(Decimal(1).scaleb(-target.scale))
    if exact != number:
        raise _MisfitError
    return exact


def _to_bool(value: Any, _: pa.DataType) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _MisfitError


def _to_date(value: Any, _: pa.DataType) -> dt.date:
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise _MisfitError


def _to_timestamp(value: Any, _: pa.DataType) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise _MisfitError


def _no_conversion(value: Any, _: pa.DataType) -> Any:
    raise _MisfitError


class DbApiCursor(Protocol):
    """The part of a DB-API cursor a :class:`DbApiResultStream` uses."""

    def fetchmany(self, size: int = ..., /) -> Sequence[Sequence[Any]]: ...

    def close(self) -> None: ...


class MappedStream(ResultStream):
    """Shared life cycle of the streams below: native errors while reading are mapped with
    ``map_error``; the source is released once, and ``on_close`` runs once, whether the
    stream was exhausted, failed or was closed early."""

    def __init__(
        self,
        schema: pa.Schema,
        map_error: Callable[[Exception], QueryDeckError],
        on_close: Callable[[], None] | None,
    ) -> None:
        self.schema = schema
        self._map_error = map_error
        self._on_close = on_close
        self._closed = False

    @abc.abstractmethod
    def _batches(self) -> Iterator[pa.RecordBatch]:
        """The batches of the source, in order."""

    def _release(self) -> None:
        """Close the native source (errors are ignored by the caller)."""

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._batches()
        except QueryDeckError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._map_error(exc) from exc
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._release()
        if self._on_close is not None:
            self._on_close()


class DbApiResultStream(MappedStream):
    """Batches of ``batch_rows`` rows fetched from a DB-API cursor.

    ``first_rows`` are rows the driver already fetched (to infer types, say) with one
    ``fetchmany(batch_rows)``; they come first, as one batch. Fewer than ``batch_rows`` of
    them, or any later fetch that short, tells the stream that the cursor is done: it says
    so (:meth:`finished`) and fetches no more.
    """

    def __init__(
        self,
        cursor: DbApiCursor,
        schema: pa.Schema,
        map_error: Callable[[Exception], QueryDeckError],
        *,
        first_rows: Sequence[Sequence[Any]] = (),
        batch_rows: int = BATCH_ROWS,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(schema, map_error, on_close)
        self._cursor = cursor
        self._first_rows = first_rows
        self._batch_rows = batch_rows
        #: A fetch returned fewer rows than asked for: the cursor has no more.
        self._exhausted = 0 < len(first_rows) < batch_rows

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._first_rows and not self._closed:
            rows, self._first_rows = self._first_rows, ()
            yield rows_to_batch(rows, self.schema)
        while not self._closed and not self._exhausted:
            rows = self._cursor.fetchmany(self._batch_rows)
            self._exhausted = len(rows) < self._batch_rows
            if not rows:
                break
            yield rows_to_batch(rows, self.schema)

    def finished(self) -> bool:
        return self._closed or (self._exhausted and not self._first_rows)

    def _release(self) -> None:
        self._cursor.close()


class RecordBatchReaderStream(MappedStream):
    """Batches read from a ``pyarrow.RecordBatchReader``, relabelled with ``schema`` (the
    reader's schema plus metadata such as native types); empty batches are skipped."""

    def __init__(
        self,
        reader: pa.RecordBatchReader,
        schema: pa.Schema,
        map_error: Callable[[Exception], QueryDeckError],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(schema, map_error, on_close)
        self._reader = reader

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while not self._closed:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                break
            if batch.num_rows:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)

    def _release(self) -> None:
        self._reader.close()
