"""ClickHouse catalog introspection from ``system.databases``, ``system.tables`` and
``system.columns``, set-based: four queries per schema (a ClickHouse database is a schema
here) whatever its size — which optional columns this server's system tables have, the
database, its tables, their columns.

Servers differ in those system tables (18.16 has no ``comment`` or ``total_rows`` on
tables and no ``position`` on columns): the columns a query names are those the server
has. ClickHouse has no foreign keys, unique constraints or secondary indexes in the
catalog's sense: the primary key is the table's sorting-key prefix marked
``is_in_primary_key``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from querydeck.drivers.catalog_model import (
    ColumnMeta,
    SchemaMeta,
    TableMeta,
    group_rows,
    type_family,
)
from querydeck.errors import CatalogNotFound

if TYPE_CHECKING:
    from querydeck.drivers.clickhouse.session import ClickHouseSession

SYSTEM_DATABASES = ("system", "information_schema", "INFORMATION_SCHEMA")

SCHEMAS = (
    "SELECT name FROM system.databases "
    "WHERE name NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA') ORDER BY name"
)
SCHEMA = "SELECT name FROM system.databases WHERE name = {schema}"
OPTIONAL = (
    "SELECT table, name FROM system.columns WHERE database = 'system' "
    "AND table IN ('tables', 'columns')"
)
_VIEW_ENGINES = {"View": "view", "MaterializedView": "materialized_view", "LiveView": "view"}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def schemas(conn: ClickHouseSession) -> list[str]:
    return [str(row[0]) for row in conn.rows(SCHEMAS)]


def describe_schema(conn: ClickHouseSession, schema: str, timeout_s: float) -> SchemaMeta:
    def fetch(query: str) -> list[tuple[Any, ...]]:
        return conn.rows(query, timeout_s=timeout_s, catalog=True)

    has = {(str(t), str(n)) for t, n in fetch(OPTIONAL)}
    if not fetch(SCHEMA.format(schema=_quote(schema))):
        raise CatalogNotFound(
            f"The database {schema!r} does not exist or this login cannot see it.",
            detail={"schema": schema},
        )

    def optional(table: str, column: str, fallback: str = "NULL") -> str:
        return column if (table, column) in has else fallback

    definition = optional("tables", "as_select", "create_table_query")
    tables = fetch(
        f"SELECT name, engine, {optional('tables', 'comment')}, "
        f"{optional('tables', 'total_rows')}, {definition} "
        f"FROM system.tables WHERE database = {_quote(schema)} AND NOT is_temporary "
        "ORDER BY name"
    )
    columns = group_rows(
        fetch(
            f"SELECT table, name, type, default_kind, default_expression, "
            f"{optional('columns', 'comment')}, is_in_primary_key, "
            f"{optional('columns', 'position', '0')} "
            f"FROM system.columns WHERE database = {_quote(schema)}"
        )
    )
    result = SchemaMeta(name=schema)
    for name, engine, comment, total_rows, view_query in tables:
        kind = _VIEW_ENGINES.get(str(engine), "table")
        table = TableMeta(
            schema=schema,
            name=name,
            kind=kind,
            comment=comment or None,
            row_estimate=None if total_rows is None else int(total_rows),
            definition=view_query or None if kind != "table" else None,
        )
        members = columns.get(name, [])
        # Without a position column, system.columns lists a table's columns in order.
        if any(int(m[7]) for m in members):
            members = sorted(members, key=lambda m: int(m[7]))
        for ordinal, (_, col, native, default_kind, default, col_comment, in_pk, _) in enumerate(
            members, start=1
        ):
            table.columns.append(
                ColumnMeta(
                    name=col,
                    ordinal=ordinal,
                    native_type=native,
                    family=type_family(_unwrapped(native)),
                    nullable=native.startswith("Nullable(")
                    or native.startswith("LowCardinality(Nullable("),
                    default=f"{default_kind} {default}".strip() if default else None,
                    comment=col_comment or None,
                )
            )
            if int(in_pk):
                table.primary_key.append(col)
        result.tables.append(table)
    return result


def _unwrapped(native: str) -> str:
    """``LowCardinality(Nullable(String))`` → ``String``: the family is the value's."""
    text = native
    for wrapper in ("LowCardinality(", "Nullable("):
        if text.startswith(wrapper) and text.endswith(")"):
            text = text[len(wrapper) : -1]
    return text
