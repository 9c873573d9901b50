"""PostgreSQL type OIDs → Arrow types, and the psycopg loaders that feed them.

Values arrive in the text format. Types querydeck maps to Arrow natively keep psycopg's
loaders (``int``, ``float``, ``bool``, ``bytes``, dates and times); ``numeric`` is loaded as
text and turned into ``Decimal`` only for columns with a declared precision; ``interval`` is
parsed exactly into months, days and nanoseconds; every other type is kept as the server's
own text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
from psycopg import postgres
from psycopg.adapt import AdaptersMap, Buffer, Loader
from psycopg.types.string import TextLoader

from querydeck.drivers.arrow_rows import decimal_type

NUMERIC_OID = 1700
INTERVAL_OID = 1186

#: Base types with an Arrow type of their own (their arrays become lists).
_SCALAR_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    '"char"': pa.string(),
    "name": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "interval": pa.month_day_nano_interval(),
}

#: Base types whose psycopg loader already gives what Arrow needs.
_NATIVE_LOADED = {
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "bytea",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "text",
    "varchar",
    "bpchar",
    '"char"',
    "name",
}

_OID_SCALARS: dict[int, pa.DataType] = {}
_ARRAY_ELEMENTS: dict[int, int] = {}
for _name, _arrow in _SCALAR_TYPES.items():
    _info = postgres.types.get(_name)
    assert _info is not None
    _OID_SCALARS[_info.oid] = _arrow
    _ARRAY_ELEMENTS[_info.array_oid] = _info.oid
_ARRAY_ELEMENTS[postgres.types["numeric"].array_oid] = NUMERIC_OID

_INTERVAL_PART = re.compile(r"([+-]?\d+) (year|mon|day)s?")
_INTERVAL_TIME = re.compile(r"([+-]?)(\d+):(\d\d):(\d\d)(?:\.(\d{1,9}))?")


class IntervalLoader(Loader):
    """Loads an ``interval`` written in the ``postgres`` IntervalStyle as an Arrow
    ``(months, days, nanoseconds)`` triple, without folding months into days."""

    def load(self, data: Buffer) -> tuple[int, int, int]:
        text = bytes(data).decode("ascii")
        months = days = nanos = 0
        for amount, unit in _INTERVAL_PART.findall(text):
            if unit == "year":
                months += int(amount) * 12
            elif unit == "mon":
                months += int(amount)
            else:
                days += int(amount)
        clock = _INTERVAL_TIME.search(text)
        if clock:
            sign, hours, minutes, seconds, fraction = clock.groups()
            total = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 1_000_000_000
            total += int((fraction or "0").ljust(9, "0"))
            nanos = -total if sign == "-" else total
        return (months, days, nanos)


def register_loaders(adapters: AdaptersMap) -> None:
    """Make ``adapters`` load every built-in type the way :func:`column_type` expects."""
    for info in postgres.types:
        if info.name in _NATIVE_LOADED:
            continue
        adapters.register_loader(info.oid, TextLoader)
        if info.array_oid and info.oid not in _OID_SCALARS and info.oid != NUMERIC_OID:
            adapters.register_loader(info.array_oid, TextLoader)
    adapters.register_loader(INTERVAL_OID, IntervalLoader)


def column_type(oid: int, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a result column of type ``oid``."""
    if oid == NUMERIC_OID:
        return decimal_type(precision, scale)
    if oid in _OID_SCALARS:
        return _OID_SCALARS[oid]
    element = _ARRAY_ELEMENTS.get(oid)
    if element is not None:
        return pa.list_(column_type(element, precision, scale))
    return pa.string()


def value_converter(arrow_type: pa.DataType) -> Callable[[Any], Any] | None:
    """A function turning one loaded non-null value into what ``pa.array`` accepts for
    ``arrow_type``, or ``None`` when the loaded value is already right."""
    if pa.types.is_decimal(arrow_type):
        return Decimal
    if pa.types.is_list(arrow_type):
        inner = value_converter(arrow_type.value_type)

        def convert_list(items: Any) -> list[Any]:
            if any(isinstance(item, list) for item in items):
                raise ValueError("multi-dimensional arrays are not supported; cast to text")
            if inner is None:
                return list(items)
            return [None if item is None else inner(item) for item in items]

        return convert_list
    return None


def convert_rows(
    rows: list[tuple[Any, ...]], converters: list[Callable[[Any], Any] | None]
) -> list[tuple[Any, ...]]:
    """``rows`` with each non-null value passed through its column's converter."""
    if not any(converters):
        return rows
    return [
        tuple(
            value if value is None or convert is None else convert(value)
            for value, convert in zip(row, converters, strict=True)
        )
        for row in rows
    ]
