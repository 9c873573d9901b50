"""ClickHouse column types as Arrow types, and a block of column values as a record batch.

clickhouse-connect decodes the server's Native format into Python values; the query asks
it for the raw forms that convert exactly (see :data:`READ_FORMATS`): strings as bytes
(ClickHouse strings are byte strings), ``DateTime``/``DateTime64`` as integer ticks since
the epoch, UUIDs and IP addresses as text. Each column is then built as an Arrow array of
its *raw* type and cast to its final type, nested types included:

- integers, floats and booleans as the same-width Arrow types; ``Int128``/``UInt128`` as
  ``decimal256(39, 0)``; ``Int256``/``UInt256`` as their decimal text;
- ``Decimal(P, S)`` as ``decimal128`` up to 38 digits, ``decimal256`` beyond (Decimal256);
- ``String`` as UTF-8 text (a value that is not UTF-8 becomes ``\\x`` + hex, as in every
  driver), ``FixedString`` as binary, ``Enum`` as its label, ``UUID``/``IPv4``/``IPv6`` as
  text;
- ``Date``/``Date32`` as ``date32``; ``DateTime`` and ``DateTime64(p, zone)`` as UTC
  timestamps of the smallest Arrow unit holding ``p`` digits (the zone is kept in the
  column's native type name);
- ``IntervalDay``, ``IntervalMonth``… as Arrow month-day-nanosecond intervals, which pages
  and exports write as ISO-8601 durations (``P1D``, ``P-3M``, ``PT1M30S``) like every
  engine's intervals (as text inside arrays, maps and tuples);
- ``Array`` as lists, ``Map`` as maps, ``Tuple`` as structs (unnamed elements are named
  ``1``, ``2``…), ``Nested`` as lists of structs; ``LowCardinality`` and ``Nullable`` wrap
  nothing in Arrow (values are decoded, nulls are nulls);
- anything else (JSON, Dynamic, Variant, geo types…) as text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.datatypes.base import ClickHouseType

from querydeck.drivers import arrow_rows
from querydeck.errors import ResultTypeMismatch

#: clickhouse-connect read formats that give exact raw values (see the module docstring).
READ_FORMATS: dict[str, str] = {
    "String": "bytes",
    "FixedString": "bytes",
    "DateTime": "int",
    "DateTime64": "int",
    "UUID": "string",
    "IPv4": "string",
    "IPv6": "string",
    "Enum*": "native",
}

_INTS: dict[str, pa.DataType] = {
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
}
_SIMPLE: dict[str, pa.DataType] = {
    **_INTS,
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "BFloat16": pa.float32(),
    "Bool": pa.bool_(),
    "Boolean": pa.bool_(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
    "Nothing": pa.null(),
}
_TEXT_LIKE = frozenset({"Enum8", "Enum16", "UUID", "IPv4", "IPv6"})
#: Each interval type's unit as (months, days, nanoseconds).
_INTERVALS: dict[str, tuple[int, int, int]] = {
    "IntervalNanosecond": (0, 0, 1),
    "IntervalMicrosecond": (0, 0, 1_000),
    "IntervalMillisecond": (0, 0, 1_000_000),
    "IntervalSecond": (0, 0, 1_000_000_000),
    "IntervalMinute": (0, 0, 60_000_000_000),
    "IntervalHour": (0, 0, 3_600_000_000_000),
    "IntervalDay": (0, 1, 0),
    "IntervalWeek": (0, 7, 0),
    "IntervalMonth": (1, 0, 0),
    "IntervalQuarter": (3, 0, 0),
    "IntervalYear": (12, 0, 0),
}
_INTERVAL = pa.month_day_nano_interval()
#: Arrow timestamp units by the number of fractional digits they hold.
_UNITS = ((0, "s"), (3, "ms"), (6, "us"), (9, "ns"))


@dataclass(frozen=True)
class Mapping:
    """How one ClickHouse type becomes Arrow: the type the decoded values are built as,
    the type they are cast to, and whether any timestamp ticks need scaling first."""

    raw: pa.DataType
    final: pa.DataType
    scaled: bool = False
    #: Values are not Arrow-ready and are written as text one by one.
    textual: bool = False


_TEXT = Mapping(pa.string(), pa.string(), textual=True)


def mapping(ch_type: ClickHouseType) -> Mapping:
    """The Arrow mapping of a (possibly nested) ClickHouse type."""
    ch: Any = ch_type  # each type class has its own attributes (element_type, scale…)
    base = str(ch.base_type)
    if base in _SIMPLE:
        return Mapping(_SIMPLE[base], _SIMPLE[base])
    if base == "String":
        return Mapping(pa.binary(), pa.string())
    if base == "FixedString":
        return Mapping(pa.binary(), pa.binary())
    if base in _TEXT_LIKE:
        return Mapping(pa.string(), pa.string())
    if base in ("Int128", "UInt128"):
        return Mapping(pa.decimal256(39, 0), pa.decimal256(39, 0))
    if base in _INTERVALS:
        return Mapping(pa.int64(), _INTERVAL)
    if base.startswith("Decimal"):
        precision, scale = int(ch.prec), int(ch.scale)
        decimal = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
        return Mapping(decimal, decimal)
    if base == "DateTime":
        return Mapping(pa.int64(), pa.timestamp("s", tz="UTC"))
    if base == "DateTime64":
        digits, unit = next((d, u) for d, u in _UNITS if d >= int(ch.scale))
        return Mapping(pa.int64(), pa.timestamp(unit, tz="UTC"), scaled=digits != int(ch.scale))
    if base == "Array":
        return _list(mapping(ch.element_type))
    if base == "Nested":
        return _list(_struct(list(ch.element_names), list(ch.element_types)))
    if base == "Tuple" and ch.element_types:
        names = list(ch.element_names or [str(i + 1) for i in range(len(ch.element_types))])
        return _struct(names, list(ch.element_types))
    if base == "Map":
        key, item = mapping(ch.key_type), mapping(ch.value_type)
        if key.textual or item.textual or _INTERVAL in (key.final, item.final):
            return _TEXT
        return Mapping(
            pa.map_(key.raw, item.raw),
            pa.map_(key.final, item.final),
            scaled=key.scaled or item.scaled,
        )
    return _TEXT


def _list(element: Mapping) -> Mapping:
    if element.textual or element.final == _INTERVAL:
        return _TEXT
    return Mapping(pa.list_(element.raw), pa.list_(element.final), scaled=element.scaled)


def _struct(names: list[str], types: Sequence[ClickHouseType]) -> Mapping:
    members = [mapping(t) for t in types]
    if any(m.textual or m.final == _INTERVAL for m in members):
        return _TEXT
    return Mapping(
        pa.struct([pa.field(n, m.raw) for n, m in zip(names, members, strict=True)]),
        pa.struct([pa.field(n, m.final) for n, m in zip(names, members, strict=True)]),
        scaled=any(m.scaled for m in members),
    )


def schema_of(names: Sequence[str], ch_types: Sequence[ClickHouseType]) -> pa.Schema:
    """The Arrow schema of a result, each field carrying its ClickHouse type name."""
    return pa.schema(
        [
            arrow_rows.field(name, mapping(ch).final, ch.name)
            for name, ch in zip(names, ch_types, strict=True)
        ]
    )


def to_batch(
    columns: Sequence[Sequence[Any]], ch_types: Sequence[ClickHouseType], schema: pa.Schema
) -> pa.RecordBatch:
    """One block of decoded columns as a record batch of ``schema``."""
    arrays = []
    for values, ch, arrow_field in zip(columns, ch_types, schema, strict=True):
        try:
            arrays.append(_column(values, ch, mapping(ch)))
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            raise ResultTypeMismatch(
                f"The values of column {arrow_field.name!r} ({ch.name}) cannot be read: {exc}",
                detail={"column": arrow_field.name},
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column(values: Sequence[Any], ch: ClickHouseType, how: Mapping) -> pa.Array:
    if how.textual:
        return pa.array([None if v is None else _text(v) for v in values], pa.string())
    if how.final == _INTERVAL:
        months, days, nanos = _INTERVALS[str(ch.base_type)]
        return pa.array(
            [None if v is None else (months * v, days * v, nanos * v) for v in values], _INTERVAL
        )
    raw = pa.array(values, how.raw)
    if how.scaled:
        raw = _scale(raw, ch)
    try:
        return raw.cast(how.final)
    except pa.ArrowInvalid:
        if not pa.types.is_string(how.final):
            raise
        # Not UTF-8: the value is shown as hex, as every driver shows such text.
        return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list | tuple):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def _plain(value: Any) -> Any:
    """A decoded value as JSON-ready data: bytes as text, map keys as strings, tuples as
    lists, what JSON has no type for (decimals, dates, UUIDs…) as its text."""
    if isinstance(value, dict):
        return {_text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _text(value)


def _scale(array: pa.Array, ch_type: ClickHouseType) -> pa.Array:
    """Ticks of ``DateTime64(p)`` multiplied into the Arrow unit chosen for ``p``, nested
    values included."""
    ch: Any = ch_type
    base = str(ch.base_type)
    if base == "DateTime64":
        digits = next(d for d, _ in _UNITS if d >= int(ch.scale))
        return pc.multiply(array, pa.scalar(10 ** (digits - int(ch.scale)), pa.int64()))
    if base in ("Array", "Nested"):
        inner = ch.element_type if base == "Array" else None
        list_array: Any = array
        if inner is None:  # Nested: a list of tuples
            return pa.ListArray.from_arrays(
                list_array.offsets,
                _scale_struct(list_array.values, list(ch.element_types)),
                mask=array.is_null(),
            )
        return pa.ListArray.from_arrays(
            list_array.offsets, _scale(list_array.values, inner), mask=array.is_null()
        )
    if base == "Tuple":
        return _scale_struct(array, list(ch.element_types))
    if base == "Map":
        map_array: Any = array
        return pa.MapArray.from_arrays(
            map_array.offsets,
            _scale(map_array.keys, ch.key_type),
            _scale(map_array.items, ch.value_type),
            mask=array.is_null(),
        )
    return array


def _scale_struct(array: Any, types: list[ClickHouseType]) -> pa.Array:
    fields = [_scale(array.field(i), t) for i, t in enumerate(types)]
    return pa.StructArray.from_arrays(fields, fields=list(array.type), mask=array.is_null())
