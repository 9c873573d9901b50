"""Rows of Arrow data as JSON-ready Python values (DESIGN §6).

- 64-bit integers: numbers within ±(2^53 − 1), strings beyond (JSON readers lose precision
  there); smaller integers are numbers.
- Decimals: strings, exact. Floats: numbers; NaN and infinities as the strings
  ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
- Timestamps, dates and times: ISO-8601 (timestamps with a zone in UTC with ``Z``; a
  fraction of a second only when it is not zero, to the column's precision: ``.123`` for
  milliseconds, ``.123456`` for micro- and nanoseconds), the same text as CSV exports;
  ``infinity``/``-infinity`` and years outside 1–9999 as :mod:`.extremes` writes them.
- Intervals and durations: ISO-8601 durations (``P1DT2H``, ``PT838H59M59S``).
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


def _milliseconds(value: dt.datetime) -> str:
    """A millisecond timestamp: three digits of fraction (as Arrow's text), none when zero."""
    if value.microsecond == 0:
        return _temporal(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return value.isoformat(timespec="milliseconds")


#: Native type names whose text values are JSON documents (exported as nested JSON).
JSON_NATIVE_TYPES = frozenset({"json", "jsonb"})


def json_columns(schema: pa.Schema) -> list[int]:
    """Positions of the text columns that hold JSON documents (PostgreSQL's json and
    jsonb, MySQL's and DuckDB's JSON), by their native type."""
    found = []
    for i, f in enumerate(schema):
        native = (f.metadata or {}).get(b"querydeck.native_type", b"").decode("utf-8", "replace")
        text = pat.is_string(f.type) or pat.is_large_string(f.type)
        if text and native.strip().lower() in JSON_NATIVE_TYPES:
            found.append(i)
    return found


def nested(value: Any) -> Any:
    """A JSON document's text as its value (kept as text when it is not valid JSON)."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


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
    if pat.is_timestamp(arrow_type) and arrow_type.unit == "ms":
        return _milliseconds
    if (
        pat.is_temporal(arrow_type)
        and not pat.is_duration(arrow_type)
        and not pat.is_interval(arrow_type)
    ):
        return _temporal
    if pat.is_interval(arrow_type) and arrow_type.id == pa.month_day_nano_interval().id:
        return extremes.interval_text
    if pat.is_duration(arrow_type):
        return extremes.duration_text
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
        arrow_type = f.type
        if extremes.nested_extremes(column):  # the same, inside lists, maps and structs
            column = extremes.text_leaves(column.combine_chunks())
            arrow_type = column.type
        values = column.to_pylist()
        convert = converter(arrow_type)
        if convert is not None:
            values = [None if v is None else convert(v) for v in values]
        converted.append(values)
    return [list(row) for row in zip(*converted, strict=True)] if converted else []


def _sized(arrow_type: pa.DataType) -> int:
    """How a value's bytes grow in JSON: 1 for text, 4/3 (base64) for binary, 0 for the
    rest (values of a fixed, small size)."""
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type):
        return 3
    if pat.is_binary(arrow_type) or pat.is_large_binary(arrow_type):
        return 4
    return 0


def _threshold(sizes: list[int], budget: int) -> int | None:
    """The largest size T such that the sizes, each cut to T, add up to at most
    ``budget``; None when they already do."""
    ordered = sorted(sizes)
    spent = 0
    for index, size in enumerate(ordered):
        left = len(ordered) - index
        if spent + size * left > budget:
            return max((budget - spent) // left, 0)
        spent += size
    return None


def page_rows(table: pa.Table, max_bytes: int) -> tuple[list[list[Any]], list[tuple[int, int]]]:
    """The table's rows as :func:`rows` makes them, with its text and binary values cut so
    that together they take at most ``max_bytes`` in JSON: the largest ones are cut to
    the same length (the smaller ones stay whole). Also returns the ``(row, column)`` of
    every value cut."""
    sized = [(i, _sized(f.type)) for i, f in enumerate(table.schema) if _sized(f.type)]
    # The bytes the columns reference (``nbytes``, read without a pass over the values) are
    # at least their values' lengths: a small page is under the budget without a kernel.
    bound = sum(table.column(i).nbytes * growth // 3 for i, growth in sized)
    if bound <= max_bytes:
        return rows(table), []
    import pyarrow.compute as pc  # Arrow's kernels: for a page that may be over its budget

    measured_total = sum(
        (pc.sum(pc.binary_length(table.column(i))).as_py() or 0) * growth // 3
        for i, growth in sized
    )
    if measured_total <= max_bytes:  # the usual case: one pass over the offsets, in C
        return rows(table), []
    lengths: dict[int, list[int]] = {}
    for index, growth in sized:
        measured = pc.binary_length(table.column(index)).to_pylist()
        lengths[index] = [0 if n is None else n * growth // 3 for n in measured]
    threshold = _threshold([n for ns in lengths.values() for n in ns], max_bytes)
    if threshold is None:
        return rows(table), []
    cells: list[tuple[int, int]] = []
    columns = list(table.columns)
    for index, growth in sized:
        over = [row for row, n in enumerate(lengths[index]) if n > threshold]
        if not over:
            continue
        values = columns[index].to_pylist()
        keep = threshold * 3 // growth  # raw bytes whose JSON form fits the threshold
        for row in over:
            value = values[row]
            if isinstance(value, str):
                values[row] = value.encode("utf-8")[:keep].decode("utf-8", "ignore")
            else:
                values[row] = value[:keep]
            cells.append((row, index))
        columns[index] = pa.chunked_array([pa.array(values, type=table.schema[index].type)])
    capped = pa.Table.from_arrays(columns, schema=table.schema)
    return rows(capped), sorted(cells)
