"""Spark's result types as Arrow: Spark Connect already sends Arrow batches, so a column's
Arrow type is the one pyspark gives its Spark type (UTC timestamps, the session's time zone
being UTC; ``timestamp_ntz`` without a zone; day-time intervals as durations; decimals,
arrays, maps and structs as such), with every field nullable (Spark marks columns not
nullable batch by batch) and Spark's own type name kept as the native type."""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import (
    ArrayType,
    CalendarIntervalType,
    DataType,
    MapType,
    StructType,
    YearMonthIntervalType,
)

from querydeck.drivers import arrow_rows
from querydeck.errors import ResultTypeMismatch

#: Spark types whose Arrow form pyarrow cannot read (month intervals).
_UNREADABLE = (YearMonthIntervalType, CalendarIntervalType)


def unreadable(spark_type: DataType) -> str | None:
    """The name of a type in ``spark_type`` that cannot be read, if any."""
    if isinstance(spark_type, _UNREADABLE):
        return spark_type.simpleString()
    if isinstance(spark_type, ArrayType):
        return unreadable(spark_type.elementType)
    if isinstance(spark_type, MapType):
        return unreadable(spark_type.keyType) or unreadable(spark_type.valueType)
    if isinstance(spark_type, StructType):
        return next((u for f in spark_type.fields if (u := unreadable(f.dataType))), None)
    return None


def _nullable(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` with every nested field nullable."""
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, _nullable(f.type)) for f in arrow_type])
    if pa.types.is_map(arrow_type):
        return pa.map_(arrow_type.key_type, _nullable(arrow_type.item_type))
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(_nullable(arrow_type.value_type))
    return arrow_type


def arrow_type(spark_type: DataType) -> pa.DataType:
    return _nullable(to_arrow_type(spark_type, timezone="UTC", prefers_large_types=False))


def schema_of(struct: StructType) -> pa.Schema:
    """The Arrow schema of a result, each field carrying Spark's type name."""
    for f in struct.fields:
        found = unreadable(f.dataType)
        if found is not None:
            raise ResultTypeMismatch(
                f"The column {f.name!r} is of type {found}, which cannot be read: cast it "
                "to STRING.",
                detail={"column": f.name},
            )
    return pa.schema(
        [
            arrow_rows.field(f.name, arrow_type(f.dataType), f.dataType.simpleString())
            for f in struct.fields
        ]
    )


def to_batch(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """One table the server sent, as a single batch of ``schema``."""
    try:
        columns = []
        for column, target in zip(table.columns, schema, strict=True):
            combined = column.combine_chunks()
            columns.append(combined if combined.type == target.type else combined.cast(target.type))
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowException, ValueError) as exc:
        raise ResultTypeMismatch(f"A result column cannot be read: {exc}") from None
