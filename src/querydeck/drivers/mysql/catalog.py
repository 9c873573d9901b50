"""MySQL/MariaDB catalog introspection from ``information_schema``, set-based.

Six queries per schema whatever its size: the schema, tables, columns, key columns (primary,
unique, foreign), index columns and view definitions. ``information_schema`` is not
transactional: a table listed but gone by the time its columns are read is left out and
reported as a problem (a partial result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from querydeck.drivers.catalog_model import (
    ColumnMeta,
    ForeignKeyMeta,
    IndexMeta,
    SchemaMeta,
    TableMeta,
    group_rows,
    type_family,
)
from querydeck.errors import CatalogNotFound

if TYPE_CHECKING:
    from querydeck.drivers.mysql.driver import MySQLSession

SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")

SCHEMAS = (
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
    "WHERE SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') "
    "ORDER BY SCHEMA_NAME"
)
SCHEMA = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
TABLES = (
    "SELECT TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME"
)
COLUMNS = (
    "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
    "COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
KEYS = (
    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, t.CONSTRAINT_TYPE, k.COLUMN_NAME, "
    "k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME "
    "FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.TABLE_CONSTRAINTS t ON t.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
    "AND t.TABLE_NAME = k.TABLE_NAME AND t.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "WHERE k.TABLE_SCHEMA = %s AND t.TABLE_SCHEMA = %s "
    "AND t.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') "
    "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
)
INDEXES = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
VIEWS = "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"


def _fetch(conn: MySQLSession, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    native = conn.native

    def action() -> list[tuple[Any, ...]]:
        with native.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())

    rows: list[tuple[Any, ...]] = conn.call(action)
    return rows


def schemas(conn: MySQLSession) -> list[str]:
    hidden = {name.lower() for name in conn.flavour.system_schemas}
    return [str(r[0]) for r in _fetch(conn, SCHEMAS, ()) if str(r[0]).lower() not in hidden]


def _set_timeout(conn: MySQLSession, timeout_s: float) -> None:
    _fetch(conn, conn.timeout_statement(timeout_s), ())


def describe_schema(conn: MySQLSession, schema: str, timeout_s: float) -> SchemaMeta:
    _set_timeout(conn, timeout_s)
    if not _fetch(conn, SCHEMA, (schema,)):
        raise CatalogNotFound(
            f"The schema {schema!r} does not exist or this login cannot see it.",
            detail={"schema": schema},
        )
    tables = _fetch(conn, TABLES, (schema,))
    columns = group_rows(_fetch(conn, COLUMNS, (schema,)))
    keys = group_rows(_fetch(conn, KEYS, (schema, schema)))
    indexes = group_rows(_fetch(conn, INDEXES, (schema,)))
    views = dict(_fetch(conn, VIEWS, (schema,)))
    result = SchemaMeta(name=schema)
    for name, table_type, comment, rows in tables:
        if name not in columns:
            result.problems.append(f"The table {name!r} disappeared while it was described.")
            continue
        is_view = table_type == "VIEW"
        table = TableMeta(
            schema=schema,
            name=name,
            kind="view" if is_view else "table",
            comment=None if is_view or not comment else comment,
            row_estimate=None if is_view or rows is None else int(rows),
            definition=views.get(name),
        )
        for _, col, ordinal, native_type, nullable, default, col_comment in columns[name]:
            table.columns.append(
                ColumnMeta(
                    name=col,
                    ordinal=int(ordinal),
                    native_type=native_type,
                    family=type_family(native_type),
                    nullable=nullable == "YES",
                    default=None if default is None or default == "NULL" else str(default),
                    comment=col_comment or None,
                )
            )
        _add_keys(table, keys.get(name, []))
        _add_indexes(table, indexes.get(name, []))
        result.tables.append(table)
    return result


def _add_keys(table: TableMeta, rows: list[tuple[Any, ...]]) -> None:
    for (con_name, con_type), members in group_rows([r[1:] for r in rows], key_len=2).items():
        cols = [m[2] for m in members]
        if con_type == "PRIMARY KEY":
            table.primary_key = cols
        elif con_type == "UNIQUE":
            table.unique.append(cols)
        else:
            first = members[0]
            table.foreign_keys.append(
                ForeignKeyMeta(con_name, cols, first[3], first[4], [m[5] for m in members])
            )


def _add_indexes(table: TableMeta, rows: list[tuple[Any, ...]]) -> None:
    for index_name, members in group_rows([r[1:] for r in rows]).items():
        table.indexes.append(
            IndexMeta(
                name=index_name,
                columns=[m[2] if m[2] is not None else "(expression)" for m in members],
                unique=not int(members[0][1]),
                primary=index_name == "PRIMARY",
            )
        )
