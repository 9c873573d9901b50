"""Writers for a run's rows: a text table, CSV (RFC 4180), a JSON array and NDJSON.

Rows arrive page by page as JSON-ready values (see :mod:`querydeck.runs.results.jsonrows`), so
CSV, JSON and NDJSON are written one page at a time and never hold the whole result.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable
from typing import Any, TextIO

import orjson

from querydeck.runs.models import ColumnInfo

#: Longest cell shown in a table; longer values end with an ellipsis.
MAX_CELL_CHARS = 60
_VISIBLE_CONTROLS = str.maketrans({"\n": "↵", "\r": "␍", "\t": "⇥"})

Rows = list[list[Any]]


class DataFormat(enum.StrEnum):
    """How a run's rows are written."""

    table = "table"
    csv = "csv"
    json = "json"
    ndjson = "ndjson"
    tsv = "tsv"
    parquet = "parquet"


def object_keys(columns: list[ColumnInfo]) -> list[str]:
    """Column names as JSON object keys; a repeated name gets ``_2``, ``_3``... so no value
    is lost."""
    keys: list[str] = []
    taken: set[str] = set()
    for column in columns:
        key, n = column.name, 1
        while key in taken:
            n += 1
            key = f"{column.name}_{n}"
        taken.add(key)
        keys.append(key)
    return keys


def csv_value(value: Any) -> Any:
    """One JSON-ready value as a CSV field: NULL empty, booleans ``true``/``false``, lists
    and objects as JSON text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode("utf-8")
    return value


def write_csv(stream: TextIO, columns: list[ColumnInfo], pages: Iterable[Rows]) -> None:
    writer = csv.writer(stream)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow([c.name for c in columns])
    for rows in pages:
        writer.writerows([csv_value(v) for v in row] for row in rows)


def write_json(stream: TextIO, columns: list[ColumnInfo], pages: Iterable[Rows]) -> None:
    """One JSON array of objects (column name → value), then a newline."""
    keys = object_keys(columns)
    stream.write("[")
    first = True
    for rows in pages:
        if not rows:
            continue
        body = orjson.dumps([dict(zip(keys, row, strict=True)) for row in rows])
        stream.write(("" if first else ",") + body[1:-1].decode("utf-8"))
        first = False
    stream.write("]\n")


def write_ndjson(stream: TextIO, columns: list[ColumnInfo], pages: Iterable[Rows]) -> None:
    """One JSON object per line."""
    keys = object_keys(columns)
    for rows in pages:
        stream.write(
            "".join(
                orjson.dumps(
                    dict(zip(keys, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE
                ).decode("utf-8")
                for row in rows
            )
        )


def cell_text(value: Any) -> str:
    """A table cell's text: NULL as ``NULL``, control characters made visible, long values
    cut."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | dict):
        text = orjson.dumps(value).decode("utf-8")
    else:
        text = str(value)
    text = text.translate(_VISIBLE_CONTROLS)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def write_rows(
    fmt: DataFormat,
    stream: TextIO,
    columns: list[ColumnInfo],
    pages: Iterable[Rows],
) -> None:
    """Write every page in ``fmt`` to ``stream`` (tables streamed as aligned text lines;
    see :mod:`querydeck.cli.tables`)."""
    if fmt is DataFormat.table:
        from querydeck.cli.tables import write_table_stream

        write_table_stream(stream, columns, pages, cell=cell_text)
    elif fmt is DataFormat.csv:
        write_csv(stream, columns, pages)
    elif fmt is DataFormat.json:
        write_json(stream, columns, pages)
    else:
        write_ndjson(stream, columns, pages)
