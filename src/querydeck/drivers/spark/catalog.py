"""Spark's catalog: the databases from the catalog API, and every table and view of one
database with its columns from one ``SHOW TABLE EXTENDED … LIKE '*'`` (one round trip
whatever the number of tables; the catalog API would take one per table).

Each row's ``information`` text is Spark's description of a table: ``Type`` (``MANAGED``,
``EXTERNAL``, ``VIEW``), ``Comment``, ``View Text``, then its schema as a tree, whose
top-level lines are the columns (``|-- name: type (nullable = …)``). Spark's catalog has no
keys or indexes; a column's comment is not part of that text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from querydeck.drivers.catalog_model import ColumnMeta, SchemaMeta, TableMeta, type_family
from querydeck.errors import CatalogNotFound, QueryFailed

if TYPE_CHECKING:
    from querydeck.drivers.spark.session import SparkEngineSession

_FIELD = re.compile(r"^ \|-- (?P<name>.+?): (?P<type>\S+) \(nullable = (?P<nullable>true|false)\)$")
NOT_FOUND = ("SCHEMA_NOT_FOUND", "NO_SUCH_NAMESPACE", "DATABASE_NOT_FOUND")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def schemas(session: SparkEngineSession) -> list[str]:
    databases = session.call(lambda: session.native.catalog.listDatabases())
    return sorted(str(db.name) for db in databases)


def describe_schema(session: SparkEngineSession, schema: str) -> SchemaMeta:
    query = f"SHOW TABLE EXTENDED IN {_quote(schema)} LIKE '*'"
    try:
        rows = session.call(lambda: session.native.sql(query).collect())
    except QueryFailed as exc:
        if exc.detail.get("condition") in NOT_FOUND or "not found" in exc.message.lower():
            raise CatalogNotFound(
                f"The database {schema!r} does not exist.", detail={"schema": schema}
            ) from None
        raise
    result = SchemaMeta(name=schema)
    for row in sorted(rows, key=lambda r: str(r["tableName"])):
        if row["isTemporary"]:
            continue
        result.tables.append(_table(schema, str(row["tableName"]), str(row["information"])))
    return result


def _table(schema: str, name: str, information: str) -> TableMeta:
    properties: dict[str, str] = {}
    columns: list[ColumnMeta] = []
    in_schema = False
    for line in information.splitlines():
        if line.startswith("Schema: root"):
            in_schema = True
            continue
        if in_schema:
            field = _FIELD.match(line)
            if field:
                native = field.group("type")
                columns.append(
                    ColumnMeta(
                        name=field.group("name"),
                        ordinal=len(columns) + 1,
                        native_type=native,
                        family=type_family(native),
                        nullable=field.group("nullable") == "true",
                    )
                )
            continue
        key, sep, value = line.partition(": ")
        if sep:
            properties[key] = value
    is_view = properties.get("Type") == "VIEW"
    return TableMeta(
        schema=schema,
        name=name,
        kind="view" if is_view else "table",
        columns=columns,
        comment=properties.get("Comment") or None,
        definition=properties.get("View Text") if is_view else None,
    )
