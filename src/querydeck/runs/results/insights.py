"""Column statistics and chart aggregations of a stored result, computed by DuckDB over
the stored batches (:mod:`querydeck.runs.resultsql`): the browser gets a handful of numbers
or at most :data:`MAX_GROUPS` points, never the rows.

- :func:`column_stats`: rows, NULLs, distinct values, minimum, maximum and the most
  frequent values of one column.
- :func:`aggregate`: a chart's data: ``count``/``sum``/``avg``/``min``/``max`` of ``y``
  grouped by ``x`` (and a colour column); a numeric or time ``x`` with more distinct values
  than ``bins`` is binned into ``bins`` equal ranges (``x`` to ``x_end``).

Values follow the JSON rules of every other answer (:mod:`querydeck.runs.jsonrows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.types as pat

from querydeck.errors import ResultViewInvalid
from querydeck.runs.results import jsonrows, resultsql
from querydeck.runs.results.store import ResultStore, StoredResult

TOP_VALUES = 10
MAX_GROUPS = 1000
MAX_BINS = 500
Aggregate = Literal["count", "sum", "avg", "min", "max"]
_AGGREGATES = {
    "count": "count(*)",
    "sum": "sum({y})",
    "avg": "avg({y})",
    "min": "min({y})",
    "max": "max({y})",
}


@dataclass(frozen=True)
class ColumnStats:
    column: str
    rows: int
    nulls: int
    distinct: int
    min: Any
    max: Any
    top: list[dict[str, Any]]


@dataclass(frozen=True)
class Aggregation:
    rows: list[dict[str, Any]]
    binned: bool
    groups: int
    truncated: bool


def _json(table: pa.Table) -> list[list[Any]]:
    return jsonrows.rows(table)


def _orderable(arrow_type: pa.DataType) -> bool:
    return not (pat.is_nested(arrow_type) or pat.is_null(arrow_type))


def column_stats(store: ResultStore, run_id: str, stored: StoredResult, column: str) -> ColumnStats:
    """The statistics of one column of a stored result."""
    name = resultsql.sql_name(stored, column)
    arrow_type = stored.schema.field(resultsql.column_index(stored, column)).type
    orderable = _orderable(arrow_type)
    with resultsql.connect(store, run_id, stored) as db:
        # One pass over the file: the column is copied into DuckDB (it spills if large).
        db.execute(f"CREATE TEMP TABLE c AS SELECT {name} AS v FROM src")
        bounds = "min(v) AS lo, max(v) AS hi" if orderable else "NULL AS lo, NULL AS hi"
        counts = resultsql.fetch(
            db,
            f"SELECT count(*) AS n, count(*) - count(v) AS nulls, count(DISTINCT v) AS d, "
            f"{bounds} FROM c",
            [],
        )
        order = "n DESC, v ASC NULLS LAST" if orderable else "n DESC"
        top = resultsql.fetch(
            db, f"SELECT v, count(*) AS n FROM c GROUP BY v ORDER BY {order} LIMIT ?", [TOP_VALUES]
        )
    rows, nulls, distinct = (counts.column(i)[0].as_py() for i in range(3))
    bounds_table = (
        pa.table({"min": counts.column(3), "max": counts.column(4)}).cast(
            pa.schema([pa.field("min", arrow_type), pa.field("max", arrow_type)])
        )
        if orderable
        else None
    )
    low, high = _json(bounds_table)[0] if bounds_table is not None else (None, None)
    values = _json(pa.table({"v": top.column(0)}).cast(pa.schema([pa.field("v", arrow_type)])))
    counts_list = top.column(1).to_pylist()
    return ColumnStats(
        column=column,
        rows=int(rows),
        nulls=int(nulls),
        distinct=int(distinct),
        min=low,
        max=high,
        top=[{"value": v[0], "count": int(n)} for v, n in zip(values, counts_list, strict=True)],
    )


def _kind(arrow_type: pa.DataType) -> str:
    if pat.is_integer(arrow_type) or pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "number"
    if pat.is_timestamp(arrow_type) or pat.is_date(arrow_type):
        return "time"
    return "other"


def aggregate(
    store: ResultStore,
    run_id: str,
    stored: StoredResult,
    *,
    x: str,
    y: str | None,
    agg: Aggregate,
    color: str | None = None,
    bins: int = 50,
) -> Aggregation:
    """A chart's data from a stored result (see the module's docstring)."""
    if agg != "count" and y is None:
        raise ResultViewInvalid(f"{agg} needs a y column.", detail={"agg": agg})
    if not 1 <= bins <= MAX_BINS:
        raise ResultViewInvalid(f"bins is 1 to {MAX_BINS}.", detail={"bins": bins})
    x_type = stored.schema.field(resultsql.column_index(stored, x)).type
    kind = _kind(x_type)
    picks = [f"{resultsql.sql_name(stored, x)} AS x"]
    if y is not None:
        y_type = stored.schema.field(resultsql.column_index(stored, y)).type
        if agg in ("sum", "avg") and _kind(y_type) != "number":
            raise ResultViewInvalid(
                f"{agg} needs a numeric y column; {y!r} is not.", detail={"y": y}
            )
        picks.append(f"{resultsql.sql_name(stored, y)} AS y")
    if color is not None:
        picks.append(f"{resultsql.sql_name(stored, color)} AS color")
    value = _AGGREGATES[agg].format(y="y")
    group_color = ", color" if color is not None else ""
    with resultsql.connect(store, run_id, stored) as db:
        db.execute(f"CREATE TEMP TABLE t AS SELECT {', '.join(picks)} FROM src")
        distinct = resultsql.fetch(db, "SELECT count(DISTINCT x) FROM t", []).column(0)[0].as_py()
        binned = kind != "other" and distinct > bins
        if binned:
            as_number = (
                "CAST(x AS DOUBLE)" if kind == "number" else "epoch_ms(CAST(x AS TIMESTAMP))"
            )
            low, high = (
                resultsql.fetch(db, f"SELECT min({as_number}), max({as_number}) FROM t", [])
                .to_pylist()[0]
                .values()
            )
            width = (high - low) / bins or 1.0
            bucket = f"least(floor(({as_number} - ?) / ?), ?)"
            start = "? + b * ?"
            if kind == "time":
                start = f"make_timestamp(CAST(({start}) * 1000 AS BIGINT))"
            end = start.replace("b *", "(b + 1) *")
            sql = (
                f"SELECT {start} AS x, {end} AS x_end{group_color}, {value} AS y "
                f"FROM (SELECT *, {bucket} AS b FROM t WHERE x IS NOT NULL) "
                f"GROUP BY b{group_color} ORDER BY b{group_color} LIMIT ?"
            )
            params = [low, width, low, width, low, width, bins - 1, MAX_GROUPS + 1]
        else:
            sql = (
                f"SELECT x{group_color}, {value} AS y FROM t GROUP BY x{group_color} "
                f"ORDER BY {'x' if kind != 'other' else 'y DESC'} NULLS LAST LIMIT ?"
            )
            params = [MAX_GROUPS + 1]
        table = resultsql.fetch(db, sql, params)
    truncated = table.num_rows > MAX_GROUPS
    table = table.slice(0, MAX_GROUPS)
    names = table.schema.names
    rows = [dict(zip(names, row, strict=True)) for row in _json(table)]
    return Aggregation(rows=rows, binned=binned, groups=len(rows), truncated=truncated)
