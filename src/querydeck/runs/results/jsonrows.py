"""Rows of Arrow data as JSON-ready Python values (DESIGN §6).

- 64-bit integers: numbers within ±(2^53 − 1), strings beyond (JSON readers lose precision
  there); smaller integers are numbers.
- Decimals: strings, exact. Floats: numbers; NaN and infinities as the strings
  ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
- Timestamps, dates and times: ISO-8601 (timestamps with a zone in UTC with ``Z``);
  ``infinity``/``-infinity`` and years outside 1–9999 as :mod:`.extremes` writes them.
- Intervals: ISO-8601 durations (``P1DT2H``).
- Binary: base64. Lists and structs: JSON arrays and objects of the same rules; maps:
  objects, a key that is not text as its JSON text.
- NULL: null.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.types as pat

from querydeck.runs.models import ColumnInfo
from querydeck.runs.results import extremes

SAFE_INT = 2**53 - 1
Convert = Callable[[Any], Any]


def _big_int(value: int) -> int | str:
    return value if -SAFE_INT <= value <= SAFE_INT else str(value)


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _temporal(value: dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _decimal(value: decimal.Decimal) -> str:
    return format(value, "f")


def _binary(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _identity(value: Any) -> Any:
    return value


def _map_key(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")


def converter(arrow_type: pa.DataType) -> Convert | None:
    """How one non-null value of ``arrow_type`` becomes JSON; None when it already is."""
    if pat.is_integer(arrow_type):
        return _big_int if arrow_type.bit_width == 64 else None
    if pat.is_floating(arrow_type):
        return _float
    if pat.is_decimal(arrow_type):
        return _decimal
    if (
        pat.is_temporal(arrow_type)
        and not pat.is_duration(arrow_type)
        and not pat.is_interval(arrow_type)
    ):
        return _temporal
    if pat.is_interval(arrow_type) and arrow_type.id == pa.month_day_nano_interval().id:
        return extremes.interval_text
    if (
        pat.is_binary(arrow_type)
        or pat.is_large_binary(arrow_type)
        or pat.is_fixed_size_binary(arrow_type)
    ):
        return _binary
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        inner = converter(arrow_type.value_type) or _identity
        return lambda items: [None if v is None else inner(v) for v in items]
    if pat.is_struct(arrow_type):
        fields = {f.name: converter(f.type) or _identity for f in arrow_type}
        return lambda obj: {k: None if v is None else fields[k](v) for k, v in obj.items()}
    if pat.is_map(arrow_type):
        # An object; a key that is not text becomes its JSON text (JSON keys are strings).
        key = converter(arrow_type.key_type) or _identity
        item = converter(arrow_type.item_type) or _identity
        return lambda pairs: {_map_key(key(k)): None if v is None else item(v) for k, v in pairs}
    if (
        pat.is_string(arrow_type)
        or pat.is_large_string(arrow_type)
        or pat.is_boolean(arrow_type)
        or pat.is_null(arrow_type)
    ):
        return None
    return str


def json_type(arrow_type: pa.DataType) -> str:
    if pat.is_integer(arrow_type) or pat.is_floating(arrow_type):
        return "number"
    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_binary(arrow_type) or pat.is_large_binary(arrow_type):
        return "base64"
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        return "array"
    if pat.is_struct(arrow_type) or pat.is_map(arrow_type):
        return "object"
    return "string"


def columns(schema: pa.Schema) -> list[ColumnInfo]:
    out = []
    for f in schema:
        native = (f.metadata or {}).get(b"querydeck.native_type")
        out.append(
            ColumnInfo(
                name=f.name,
                type=str(f.type),
                native_type=native.decode("utf-8") if native else None,
                json_type=json_type(f.type),
            )
        )
    return out


def rows(table: pa.Table) -> list[list[Any]]:
    """The table's rows as lists of JSON-ready values."""
    converted: list[list[Any]] = []
    for column, f in zip(table.columns, table.schema, strict=True):
        if extremes.has_extremes(column):  # beyond Python's datetime: text of our own
            converted.append(extremes.temporal_values(column))
            continue
        values = column.to_pylist()
        convert = converter(f.type)
        if convert is not None:
            values = [None if v is None else convert(v) for v in values]
        converted.append(values)
    return [list(row) for row in zip(*converted, strict=True)] if converted else []

