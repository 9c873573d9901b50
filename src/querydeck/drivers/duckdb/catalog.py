"""DuckDB catalog introspection from its ``duckdb_*()`` table functions (duckdb-engine's
SQLAlchemy reflection is not used). Four queries per schema: relations, columns,
constraints and indexes, all limited to the connection's own database."""

from __future__ import annotations

from typing import Any

import duckdb

from querydeck.drivers.catalog_model import (
    ColumnMeta,
    ForeignKeyMeta,
    IndexMeta,
    SchemaMeta,
    TableMeta,
    group_rows,
    type_family,
)
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.errors import CatalogNotFound

_OWN = "database_name = current_database() AND schema_name = $schema"
SCHEMAS = (
    "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
    "AND schema_name NOT IN ('information_schema', 'pg_catalog') ORDER BY schema_name"
)
SCHEMA = f"SELECT count(*) FROM duckdb_schemas() WHERE {_OWN}"
RELATIONS = f"""
SELECT table_name, 'table', comment, estimated_size, NULL FROM duckdb_tables() WHERE {_OWN}
UNION ALL
SELECT view_name, 'view', comment, NULL, sql FROM duckdb_views() WHERE {_OWN} AND NOT internal
ORDER BY 1
"""
COLUMNS = f"""
SELECT table_name, column_name, column_index, data_type, is_nullable, column_default, comment
FROM duckdb_columns() WHERE {_OWN} ORDER BY table_name, column_index
"""
CONSTRAINTS = f"""
SELECT table_name, constraint_type, constraint_name, constraint_column_names,
       referenced_table, referenced_column_names
FROM duckdb_constraints()
WHERE {_OWN} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
ORDER BY table_name, constraint_index
"""
INDEXES = f"""
SELECT table_name, index_name, is_unique, is_primary, expressions::VARCHAR[], sql
FROM duckdb_indexes() WHERE {_OWN} ORDER BY table_name, index_name
"""


def schemas(native: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in native.execute(SCHEMAS).fetchall()]


def _unquote(expression: str) -> str:
    if len(expression) >= 2 and expression[0] == expression[-1] == '"':
        return expression[1:-1].replace('""', '"')
    return expression


def describe_schema(native: duckdb.DuckDBPyConnection, schema: str) -> SchemaMeta:
    literal = text_literal(schema)

    def fetch(query: str) -> list[tuple[Any, ...]]:
        return native.execute(query.replace("$schema", literal)).fetchall()

    found = fetch(SCHEMA)
    if not found or not found[0][0]:
        raise CatalogNotFound(f"The schema {schema!r} does not exist.", detail={"schema": schema})
    relations = fetch(RELATIONS)
    columns = group_rows(fetch(COLUMNS))
    constraints = group_rows(fetch(CONSTRAINTS))
    indexes = group_rows(fetch(INDEXES))
    result = SchemaMeta(name=schema)
    for name, kind, comment, size, definition in relations:
        table = TableMeta(
            schema=schema,
            name=name,
            kind=kind,
            comment=comment or None,
            row_estimate=int(size) if size is not None else None,
            definition=definition,
        )
        for _, col, index, native_type, nullable, default, col_comment in columns.get(name, []):
            table.columns.append(
                ColumnMeta(
                    name=col,
                    ordinal=int(index),
                    native_type=native_type,
                    family=type_family(native_type),
                    nullable=bool(nullable),
                    default=default,
                    comment=col_comment or None,
                )
            )
        for _, con_type, con_name, cols, ref_table, ref_cols in constraints.get(name, []):
            if con_type == "PRIMARY KEY":
                table.primary_key = list(cols)
            elif con_type == "UNIQUE":
                table.unique.append(list(cols))
            else:
                table.foreign_keys.append(
                    ForeignKeyMeta(con_name, list(cols), schema, ref_table, list(ref_cols))
                )
        for _, index_name, unique, primary, expressions, sql in indexes.get(name, []):
            table.indexes.append(
                IndexMeta(
                    index_name, [_unquote(e) for e in expressions], bool(unique), bool(primary), sql
                )
            )
        result.tables.append(table)
    return result
