"""Rows of PostgreSQL's binary ``COPY`` format decoded into Arrow arrays, a column at a time.

A row of ``COPY … TO STDOUT (FORMAT binary)`` arrives as one message: a 16-bit field count,
then for each field a 32-bit length (-1 for NULL) and that many bytes in the type's binary
send format, big-endian. :class:`BinaryRowDecoder` joins a batch of row messages into one
buffer and walks it column by column with numpy: the lengths of column *k* in every row
say where column *k + 1* starts, so a batch costs a few array operations per column and no
Python call per value.

The result is what the cursor path (:mod:`querydeck.drivers.postgres.types`) gives for the
same column: the same Arrow types, and the same text for the types kept as text (``uuid``,
``json``, ``jsonb``). Types without a vectorised decoder but with a binary loader in
psycopg that yields what the cursor path yields (``numeric`` beyond 18 digits or without a
declared precision, one-dimensional arrays of such types) are loaded value by value;
:func:`decodable` says which result columns this module reads, and a statement with any
other column is read through the cursor path.

Infinite dates and timestamps, in a column or an array, become the type's largest value
and its negation, which pages and exports write back as ``infinity`` and ``-infinity``.
Values that an Arrow type cannot hold exactly (``NaN`` or infinite ``numeric`` in a decimal
column, a finite timestamp past Arrow's range, text that is not UTF-8) fail the batch with
:class:`~querydeck.errors.ResultTypeMismatch` naming the column, as the other paths do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pyarrow as pa
from psycopg import postgres
from psycopg.abc import AdaptContext, Loader
from psycopg.pq import Format

from querydeck.drivers import arrow_rows
from querydeck.drivers.columnar import PAD, Column, RowBuffer, slices
from querydeck.errors import QueryFailed

#: Microseconds and days between the Unix epoch and PostgreSQL's (2000-01-01).
_EPOCH_US = 946_684_800_000_000
_EPOCH_DAYS = 10_957
_INT64_MAX = np.iinfo(np.int64).max
#: ``numeric`` sign words (``NUMERIC_POS``...): positive, negative, NaN, +/- infinity.
_NUMERIC_NEG = 0x4000
#: Digits of a ``decimal128`` that an int64 holds whatever they are.
_INT64_DIGITS = 18
_POW10 = np.array([10**i for i in range(19)], dtype=np.int64)
_HEX = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint8).reshape(256, 2)
#: Where the 32 hex digits of a uuid go in its 36-character text.
_UUID_HEX_AT = np.array([i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)])

_NAMES = {info.oid: info.name for info in postgres.types}
_ARRAY_OF = {info.array_oid: info.oid for info in postgres.types if info.array_oid}

#: Built-in types decoded by array operations, by name.
_FIXED: dict[str, str] = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float4": ">f4",
    "float8": ">f8",
}
_TEXT = {"text", "varchar", "bpchar", "name", '"char"', "json"}
_VECTORISED = {
    *_FIXED,
    *_TEXT,
    "bool",
    "bytea",
    "jsonb",
    "uuid",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "interval",
    "numeric",
}
#: Types whose psycopg binary loader gives what the cursor path gives (as array elements,
#: or ``numeric`` beyond what the vectorised decoder takes).
_LOADED = {
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "name",
    "bytea",
    "uuid",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "numeric",
}


def decodable(oid: int) -> bool:
    """Whether a result column of type ``oid`` is read by this module."""
    name = _NAMES.get(oid)
    if name is not None:
        return name in _VECTORISED
    element = _NAMES.get(_ARRAY_OF.get(oid, 0))
    return element in _LOADED


class _Column(Column):
    """Where one column's values lie, with the reads of fixed-width binary values."""

    def check_width(self, width: int) -> None:
        if self.any_valid(self.length != width):
            raise self.mismatch("a value of an unexpected size")

    def bytes_of(self, width: int) -> npt.NDArray[np.uint8]:
        """The ``width`` bytes of each value of a fixed-width type (garbage where NULL),
        one row each."""
        self.check_width(width)
        gathered: npt.NDArray[np.uint8] = self.buffer.bytes[self.start[:, None] + np.arange(width)]
        return gathered

    def fixed(self, dtype: str) -> npt.NDArray[Any]:
        """The values of a fixed-width type (garbage where NULL), in native byte order."""
        self.check_width(np.dtype(dtype).itemsize)
        return self.buffer.at(self.start, dtype)


Decoder = Callable[[_Column], pa.Array]


class BinaryRowDecoder:
    """Turns batches of binary ``COPY`` row messages into record batches of ``schema``.

    ``oids`` are the columns' type OIDs (every one :func:`decodable`); ``context`` is the
    connection whose binary loaders read the columns decoded value by value."""

    def __init__(self, schema: pa.Schema, oids: Sequence[int], context: AdaptContext) -> None:
        self.schema = schema
        self._decoders = [_decoder(oid, f, context) for oid, f in zip(oids, schema, strict=True)]

    def decode(self, rows: bytearray, sizes: Sequence[int]) -> pa.RecordBatch:
        """One record batch from row messages stored back to back in ``rows``, of
        ``sizes`` bytes each (the decoder keeps ``rows`` and pads it)."""
        lengths = np.array(sizes, dtype=np.int64)
        buffer = RowBuffer(rows)
        ends = np.cumsum(lengths)
        if len(ends) and ends[-1] != len(rows) - PAD:
            raise QueryFailed("PostgreSQL sent rows of other sizes than their messages.")
        position = ends - lengths
        width = len(self._decoders)
        if (buffer.at(position, ">i2") != width).any():
            raise QueryFailed(
                f"PostgreSQL sent rows of another width than the {width} columns.",
            )
        position = position + 2
        arrays = []
        for decode, arrow_field in zip(self._decoders, self.schema, strict=True):
            length = buffer.at(position, ">i4").astype(np.int64)
            start = position + 4
            valid = length >= 0
            position = start + np.maximum(length, 0)
            if (position > ends).any():
                raise QueryFailed("PostgreSQL sent a row that ends before its last column.")
            arrays.append(decode(_Column(buffer, start, length, valid, arrow_field)))
        if (position != ends).any():
            raise QueryFailed("PostgreSQL sent a row with more bytes than its columns hold.")
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _decoder(oid: int, arrow_field: pa.Field, context: AdaptContext) -> Decoder:
    name = _NAMES.get(oid)
    target = arrow_field.type
    if name in _FIXED:
        return _fixed_decoder(_FIXED[name])
    if name in _TEXT:
        return _text
    if name == "jsonb":
        return _jsonb
    simple: dict[str | None, Decoder] = {
        "bool": _bool,
        "bytea": _bytea,
        "uuid": _uuid,
        "date": _date,
        "timestamp": _timestamp,
        "timestamptz": _timestamp,
        "time": _time,
        "interval": _interval,
    }
    if name in simple:
        return simple[name]
    if name == "numeric" and pa.types.is_decimal(target) and target.precision <= _INT64_DIGITS:
        return _decimal
    return _loaded_decoder(oid, target, context)


def _fixed_decoder(dtype: str) -> Decoder:
    def decode(column: _Column) -> pa.Array:
        values = column.fixed(dtype)
        return pa.Array.from_buffers(
            column.field.type,
            len(values),
            [column.validity(), pa.py_buffer(values)],
            null_count=column.null_count(),
        )

    return decode


def _bool(column: _Column) -> pa.Array:
    values = column.fixed(">u1") != 0
    return pa.array(values, mask=None if column.valid.all() else ~column.valid)


def _varlen(column: _Column, arrow_type: pa.DataType, skip: int = 0) -> pa.Array:
    return slices(column, arrow_type, skip)


def _text(column: _Column) -> pa.Array:
    return _varlen(column, pa.string())


def _bytea(column: _Column) -> pa.Array:
    return _varlen(column, pa.binary())


def _jsonb(column: _Column) -> pa.Array:
    """``jsonb`` is sent as a version byte (1) and the document's text."""
    versions = column.buffer.bytes[column.start[column.valid]]
    if (versions != 1).any() or column.any_valid(column.length < 1):
        raise column.mismatch("a jsonb value of an unknown format")
    return _varlen(column, pa.string(), skip=1)


def _uuid(column: _Column) -> pa.Array:
    """The 16 bytes of each uuid as PostgreSQL writes it: 36 lowercase characters."""
    raw = column.bytes_of(16)
    count = len(raw)
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_HEX_AT.reshape(16, 2)] = _HEX[raw]
    text = text[column.valid]
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(np.where(column.valid, 36, 0), out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(),
        count,
        [column.validity(), pa.py_buffer(offsets), pa.py_buffer(text)],
        null_count=column.null_count(),
    )


def _from_epoch(column: _Column, raw: np.ndarray, epoch: int, what: str) -> np.ndarray:
    """Day or microsecond counts from PostgreSQL's epoch (2000-01-01) moved to Unix's.
    ``infinity`` and ``-infinity`` (the type's largest and smallest values) become the
    largest value and its negation, which :mod:`querydeck.runs.results.extremes` writes
    back as ``infinity`` and ``-infinity``; a finite value Arrow cannot hold fails."""
    top = int(np.iinfo(raw.dtype).max)
    plus, minus = raw == top, raw == -top - 1
    finite = ~(plus | minus)
    if column.any_valid(finite & (raw > top - epoch)):
        raise column.mismatch(f"a {what} out of range")
    values = np.where(column.valid & finite, raw + epoch, 0)
    if not finite.all():
        values[plus] = top
        values[minus] = -top
    return values.astype(raw.dtype.newbyteorder("="), copy=False)


def _date(column: _Column) -> pa.Array:
    values = _from_epoch(column, column.fixed(">i4"), _EPOCH_DAYS, "date")
    return pa.Array.from_buffers(
        pa.date32(),
        len(values),
        [column.validity(), pa.py_buffer(values)],
        null_count=column.null_count(),
    )


def _timestamp(column: _Column) -> pa.Array:
    values = _from_epoch(column, column.fixed(">i8"), _EPOCH_US, "timestamp")
    return pa.Array.from_buffers(
        column.field.type,
        len(values),
        [column.validity(), pa.py_buffer(values)],
        null_count=column.null_count(),
    )


def _time(column: _Column) -> pa.Array:
    values = column.fixed(">i8")
    return pa.Array.from_buffers(
        pa.time64("us"),
        len(values),
        [column.validity(), pa.py_buffer(values)],
        null_count=column.null_count(),
    )


_INTERVAL = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def _interval(column: _Column) -> pa.Array:
    """``interval`` is sent as microseconds (int64), days and months (int32 each): Arrow's
    month-day-nano triple without folding any part into another."""
    raw = column.bytes_of(16)
    micros = raw[:, :8].copy().view(">i8").reshape(-1).astype(np.int64)
    valid = column.valid
    if column.any_valid(np.abs(micros) > _INT64_MAX // 1000):
        raise column.mismatch("an interval out of range")
    values = np.zeros(len(raw), dtype=_INTERVAL)
    values["nanos"] = np.where(valid, micros * 1000, 0)
    values["days"] = raw[:, 8:12].copy().view(">i4").reshape(-1)
    values["months"] = raw[:, 12:16].copy().view(">i4").reshape(-1)
    return pa.Array.from_buffers(
        pa.month_day_nano_interval(),
        len(values),
        [column.validity(), pa.py_buffer(values)],
        null_count=column.null_count(),
    )


def _decimal(column: _Column) -> pa.Array:
    """``numeric`` into ``decimal128(p ≤ 18, s)``: the base-10,000 digits are summed into
    the unscaled value as an int64 (it cannot overflow below 19 digits)."""
    target = column.field.type
    valid = column.valid
    start = column.start
    ndigits = np.where(valid, column.buffer.at(start, ">i2"), 0)
    weight = column.buffer.at(start + 2, ">i2").astype(np.int64)
    sign = column.buffer.at(start + 4, ">u2")
    if column.any_valid(sign & 0xC000 == 0xC000):
        raise column.mismatch("a numeric NaN or infinity")
    value = np.zeros(len(valid), dtype=np.int64)
    for k in range(int(ndigits.max(initial=0))):
        present = ndigits > k
        digit = np.zeros(len(valid), dtype=np.int64)
        digit[present] = column.buffer.at(start[present] + 8 + 2 * k, ">i2")
        exponent = 4 * (weight - k) + target.scale
        # each group's digits must lie within the precision (the sum then fits an int64)
        room = _POW10[np.clip(target.precision - exponent, 0, _INT64_DIGITS)]
        if (present & (exponent >= 0) & (digit >= room)).any():
            raise column.mismatch("a numeric beyond its precision")
        up = np.clip(exponent, 0, _INT64_DIGITS)
        down = np.clip(-exponent, 0, _INT64_DIGITS)
        if (present & (digit % _POW10[down] != 0)).any():
            raise column.mismatch("a numeric beyond its scale")
        value += np.where(present, digit // _POW10[down] * _POW10[up], 0)
    value = np.where(sign == _NUMERIC_NEG, -value, value)
    unscaled = np.empty((len(value), 2), dtype=np.int64)
    unscaled[:, 0] = value
    unscaled[:, 1] = value >> 63
    return pa.Array.from_buffers(
        target,
        len(value),
        [column.validity(), pa.py_buffer(unscaled)],
        null_count=column.null_count(),
    )


def _loaded_decoder(oid: int, target: pa.DataType, context: AdaptContext) -> Decoder:
    """Values loaded one by one by psycopg's binary loader, then converted like the cursor
    path converts them (``numeric`` without a decimal type becomes its exact text)."""
    element = _NAMES.get(_ARRAY_OF.get(oid, 0))
    if element in _EPOCH_LOADERS:
        context = _epoch_adapters(context)
    loader_class = context.adapters.get_loader(oid, Format.BINARY)
    if loader_class is None:  # decodable() lets no such type through
        raise QueryFailed(f"PostgreSQL type {oid} cannot be read in the binary format.")
    loader: Loader = loader_class(oid, context)
    convert: Callable[[Any], Any] | None
    if pa.types.is_list(target):
        convert = _list_converter(_NAMES.get(_ARRAY_OF.get(oid, 0)), target.value_type)
    else:
        convert = _element_converter(_NAMES.get(oid), target)

    def decode(column: _Column) -> pa.Array:
        raw = memoryview(column.buffer.raw)
        load = loader.load
        try:
            values: list[Any] = [
                load(raw[s : s + n]) if n >= 0 else None
                for s, n in zip(column.start.tolist(), column.length.tolist(), strict=True)
            ]
            if convert is not None:
                values = [None if v is None else convert(v) for v in values]
        except (psycopg.DataError, ValueError, ArithmeticError) as exc:
            raise column.mismatch(f"a value that cannot be read ({exc})") from None
        return arrow_rows.to_array(values, column.field)

    return decode


class _DaysLoader(psycopg.adapt.Loader):
    """A ``date`` array element as days since the Unix epoch, ``infinity`` and
    ``-infinity`` as the largest value and its negation (as :func:`_from_epoch` does)."""

    format = Format.BINARY

    def load(self, data: Any) -> int:
        return _shifted(int.from_bytes(data, "big", signed=True), _EPOCH_DAYS, 2**31 - 1)


class _MicrosLoader(psycopg.adapt.Loader):
    """A ``timestamp``/``timestamptz`` array element as microseconds since the Unix epoch,
    infinities as for :class:`_DaysLoader`."""

    format = Format.BINARY

    def load(self, data: Any) -> int:
        return _shifted(int.from_bytes(data, "big", signed=True), _EPOCH_US, _INT64_MAX)


def _shifted(value: int, epoch: int, top: int) -> int:
    if value == top:
        return top
    if value == -top - 1:
        return -top
    if value + epoch >= top:
        raise ValueError("a date or timestamp out of range")
    return value + epoch


_EPOCH_LOADERS: dict[str, type[psycopg.adapt.Loader]] = {
    "date": _DaysLoader,
    "timestamp": _MicrosLoader,
    "timestamptz": _MicrosLoader,
}


def _epoch_adapters(context: AdaptContext) -> AdaptContext:
    """``context``'s adapters with dates and timestamps loaded as epoch counts, so that an
    array holding ``infinity`` or a year past 9999 loads (Python's dates cannot)."""
    adapters = psycopg.adapt.AdaptersMap(context.adapters)
    for name, loader in _EPOCH_LOADERS.items():
        adapters.register_loader(name, loader)
    return adapters


def _element_converter(name: str | None, target: pa.DataType) -> Callable[[Any], Any] | None:
    """What turns a loaded value into what the cursor path gives for it, if anything."""
    if name == "numeric" and pa.types.is_string(target):
        return _numeric_text
    if name == "uuid":
        return str
    return None


def _list_converter(element: str | None, target: pa.DataType) -> Callable[[Any], Any]:
    inner = _element_converter(element, target)

    def convert(items: list[Any]) -> list[Any]:
        if any(isinstance(item, list) for item in items):
            raise ValueError("multi-dimensional arrays are not supported; cast to text")
        if inner is None:
            return items
        return [None if item is None else inner(item) for item in items]

    return convert


def _numeric_text(value: Decimal) -> str:
    """PostgreSQL's own text of a ``numeric`` (psycopg keeps its display scale)."""
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value < 0 else "Infinity"
    return format(value, "f")
