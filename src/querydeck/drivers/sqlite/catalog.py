"""SQLite catalog introspection from ``sqlite_schema`` and the table-valued pragma functions.

A SQLite file has one schema, ``main``. Four queries describe it whatever its size:
relations, columns (``pragma_table_xinfo``), foreign keys (``pragma_foreign_key_list``) and
index columns (``pragma_index_list`` + ``pragma_index_info``), each joined to
``sqlite_schema`` so no query runs per table. The driver's authorizer allows exactly these
describing pragmas.
"""

from __future__ import annotations

import sqlite3
from typing import Any

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

SCHEMA_NAME = "main"
_USER = "m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"

RELATIONS = f"SELECT m.name, m.type, m.sql FROM sqlite_schema m WHERE {_USER} ORDER BY m.name"
COLUMNS = f"""
SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden
FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p
WHERE {_USER} AND p.hidden <> 1 ORDER BY m.name, p.cid
"""
FOREIGN_KEYS = f"""
SELECT m.name, p.id, p."table", p."from", p."to"
FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) p
WHERE {_USER} ORDER BY m.name, p.id, p.seq
"""
INDEXES = f"""
SELECT m.name, il.name, il."unique", il.origin, ii.name, ix.sql
FROM sqlite_schema m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
LEFT JOIN sqlite_schema ix ON ix.type = 'index' AND ix.name = il.name
WHERE {_USER} ORDER BY m.name, il.name, ii.seqno
"""


def sqlite_family(declared: str) -> str:
    """The family of a declared type; SQLite's affinity rules when the name says nothing."""
    family = type_family(declared)
    if family != "other":
        return family
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in upper or not upper:
        return "binary" if upper else "other"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "float"
    return "decimal"


def describe_schema(native: sqlite3.Connection, schema: str) -> SchemaMeta:
    if schema != SCHEMA_NAME:
        raise CatalogNotFound(
            f"A SQLite file has one schema, {SCHEMA_NAME!r}; there is no {schema!r}.",
            detail={"schema": schema},
        )

    def fetch(query: str) -> list[tuple[Any, ...]]:
        return native.execute(query).fetchall()

    relations = fetch(RELATIONS)
    columns = group_rows(fetch(COLUMNS))
    foreign = group_rows(fetch(FOREIGN_KEYS))
    indexes = group_rows(fetch(INDEXES))
    result = SchemaMeta(name=schema)
    primary: dict[str, list[str]] = {}
    for name, kind, definition in relations:
        table = TableMeta(
            schema=schema,
            name=name,
            kind="view" if kind == "view" else "table",
            definition=definition if kind == "view" else None,
        )
        pk = []
        for _, cid, col, declared, notnull, default, pk_pos, _hidden in columns.get(name, []):
            declared = declared or ""
            table.columns.append(
                ColumnMeta(
                    name=col,
                    ordinal=int(cid) + 1,
                    native_type=declared,
                    family=sqlite_family(declared),
                    nullable=not notnull and not pk_pos,
                    default=default,
                )
            )
            if pk_pos:
                pk.append((int(pk_pos), col))
        table.primary_key = [col for _, col in sorted(pk)]
        primary[name] = table.primary_key
        _add_indexes(table, indexes.get(name, []))
        result.tables.append(table)
    for table in result.tables:
        for fk_id, members in group_rows([r[1:] for r in foreign.get(table.name, [])]).items():
            ref_table = members[0][1]
            ref_cols = [m[3] for m in members]
            if any(c is None for c in ref_cols):  # REFERENCES t: the referenced primary key
                ref_cols = list(primary.get(ref_table, []))
            table.foreign_keys.append(
                ForeignKeyMeta(
                    f"fk_{table.name}_{fk_id}", [m[2] for m in members], schema, ref_table, ref_cols
                )
            )
    return result


def _add_indexes(table: TableMeta, rows: list[tuple[Any, ...]]) -> None:
    for index_name, members in group_rows([r[1:] for r in rows]).items():
        _, unique, origin, _, definition = members[0]
        cols = [m[3] if m[3] is not None else "(expression)" for m in members]
        table.indexes.append(IndexMeta(index_name, cols, bool(unique), origin == "pk", definition))
        if origin == "u":
            table.unique.append(cols)
