"""What a driver's bulk catalog introspection returns: plain, JSON-ready data classes.

:meth:`~querydeck.drivers.base.Connection.describe_schema` builds one :class:`SchemaMeta`
per schema from a handful of set-based catalog queries. Types are kept as the engine writes
them (``native_type``) and as a normalised ``family`` (see :func:`type_family`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class DdlStyle:
    """How the DDL the catalog shows for a table reads on an engine (declared by its
    driver; identifiers are quoted by sqlglot in the driver's dialect)."""

    #: Tables written ``schema.table`` (False: bare names, as SQLite writes them).
    schema_qualified: bool = True
    #: Foreign keys written with their ``CONSTRAINT name``.
    named_constraints: bool = True
    #: Comments inline (``COMMENT '…'``, MySQL), as ``COMMENT ON`` statements, or left out.
    comments: Literal["inline", "statements", "none"] = "none"


#: Kinds of relations a catalog lists.
RELATION_KINDS = (
    "table",
    "view",
    "materialized_view",
    "foreign_table",
    "partitioned_table",
)

_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"\[\]$|^array|^_|\[\d*\]$|^list", "array"),
    (
        r"^(big|small|tiny|medium|hug|u)?int|^integer|^serial|^bigserial|^smallserial|^(u)?bigint"
        r"|^(u)?smallint|^(u)?tinyint|^(u)?hugeint|^mediumint|^year$|^int\d",
        "integer",
    ),
    (r"^(numeric|decimal|dec\b|number|money|fixed)", "decimal"),
    (r"^(double|float|real)", "float"),
    (r"^bool", "boolean"),
    (r"^(timestamp|datetime)", "timestamp"),
    (r"^date$", "date"),
    (r"^time", "time"),
    (r"^interval", "interval"),
    (
        r"^(bytea|blob|binary|varbinary|tinyblob|mediumblob|longblob|bit\b|bit\s+varying|varbit)",
        "binary",
    ),
    (r"^(json|jsonb)\b", "json"),
    (r"^uuid", "uuid"),
    (
        r"^(char|character|varchar|nchar|nvarchar|text|tinytext|mediumtext|longtext|string|clob"
        r"|citext|name|enum|set\b|bpchar|xml)",
        "text",
    ),
    (r"^(struct|map|union|record|composite)", "struct"),
)
_COMPILED = tuple((re.compile(pattern, re.I), family) for pattern, family in _FAMILIES)


@functools.lru_cache(maxsize=4096)
def type_family(native_type: str) -> str:
    """A normalised family for an engine's type name: integer, decimal, float, boolean,
    text, binary, date, time, timestamp, interval, json, uuid, array, struct or other."""
    text = native_type.strip().lower()
    for pattern, family in _COMPILED:
        if pattern.search(text):
            return family
    return "other"


@dataclass(slots=True)
class ColumnMeta:
    name: str
    ordinal: int
    native_type: str
    family: str
    nullable: bool
    default: str | None = None
    comment: str | None = None


@dataclass
class ForeignKeyMeta:
    name: str | None
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


@dataclass
class IndexMeta:
    name: str
    columns: list[str]
    unique: bool
    primary: bool = False
    definition: str | None = None


@dataclass
class TableMeta:
    schema: str
    name: str
    kind: str
    columns: list[ColumnMeta] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)
    foreign_keys: list[ForeignKeyMeta] = field(default_factory=list)
    indexes: list[IndexMeta] = field(default_factory=list)
    comment: str | None = None
    row_estimate: int | None = None
    definition: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableMeta:
        values = dict(data)
        values["columns"] = [ColumnMeta(**c) for c in data.get("columns", [])]
        values["foreign_keys"] = [ForeignKeyMeta(**f) for f in data.get("foreign_keys", [])]
        values["indexes"] = [IndexMeta(**i) for i in data.get("indexes", [])]
        return cls(**values)


@dataclass
class SchemaMeta:
    """Every relation of one schema. ``problems`` lists what could not be read (a table
    that vanished while describing, a schema the login may not use); when it is not empty
    the snapshot is *partial*."""

    name: str
    tables: list[TableMeta] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.problems)


def group_rows(rows: list[tuple[Any, ...]], key_len: int = 1) -> dict[Any, list[tuple[Any, ...]]]:
    """Rows grouped by their first ``key_len`` values (one value: the value itself)."""
    out: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        key = row[0] if key_len == 1 else tuple(row[:key_len])
        out.setdefault(key, []).append(row)
    return out
