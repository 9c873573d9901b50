"""PostgreSQL catalog introspection from ``pg_catalog`` (never ``information_schema``).

One schema is described in one ``REPEATABLE READ READ ONLY`` transaction (a consistent
view of the catalog, so a table dropped meanwhile is either wholly there or wholly absent)
with five queries whatever the number of tables: the schema, relations, columns,
constraints and indexes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from querydeck.drivers.catalog_model import (
    ColumnMeta,
    ForeignKeyMeta,
    IndexMeta,
    SchemaMeta,
    TableMeta,
    type_family,
)
from querydeck.drivers.postgres.flavours import hidden
from querydeck.errors import CatalogNotFound

if TYPE_CHECKING:
    from querydeck.drivers.postgres.driver import PostgresSession

KINDS = {
    "r": "table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
    "p": "partitioned_table",
}

SCHEMAS = """
SELECT nspname FROM pg_catalog.pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
ORDER BY nspname
"""

SCHEMA = """
SELECT n.oid, pg_catalog.has_schema_privilege(n.oid, 'USAGE')
FROM pg_catalog.pg_namespace n WHERE n.nspname = %(schema)s
"""

RELATIONS = """
SELECT c.oid, c.relname, c.relkind, d.description, c.reltuples::bigint,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END
FROM pg_catalog.pg_class c
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE c.relnamespace = %(oid)s AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
ORDER BY c.relname
"""

COLUMNS = """
SELECT a.attrelid, a.attname, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), d.description
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
 AND d.objsubid = a.attnum
WHERE c.relnamespace = %(oid)s AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype, con.conkey,
       fn.nspname, fc.relname, con.confrelid, con.confkey
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE c.relnamespace = %(oid)s AND con.contype IN ('p', 'u', 'f')
ORDER BY con.conrelid, con.conname
"""

#: Key columns as attribute numbers (named in Python from the columns already read); the
#: server renders only what cannot be named that way: expression keys, and the full
#: definition of indexes that are not plain B-tree indexes on columns.
INDEXES = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary,
       (i.indkey::int2[])[0:i.indnkeyatts - 1],
       CASE WHEN i.indexprs IS NOT NULL THEN ARRAY(
           SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
           FROM generate_series(1, i.indnkeyatts) AS k) END,
       CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL OR am.amname <> 'btree'
                 OR i.indnatts <> i.indnkeyatts
            THEN pg_catalog.pg_get_indexdef(i.indexrelid) END
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = %(oid)s
ORDER BY i.indrelid, ic.relname
"""

#: Column names of relations outside the schema that its foreign keys reference.
FOREIGN_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
"""


def schemas(conn: PostgresSession) -> list[str]:
    native = conn.native
    rows = conn.call(lambda: native.execute(SCHEMAS).fetchall())
    return [str(r[0]) for r in rows if not hidden(conn.flavour, str(r[0]))]


def describe_schema(conn: PostgresSession, schema: str, timeout_s: float) -> SchemaMeta:
    native = conn.native
    setup = sql.SQL(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = {}"
    ).format(sql.Literal(max(1, int(timeout_s * 1000))))

    def fetch(query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = conn.call(lambda: native.execute(query, params).fetchall())
        return rows

    conn.call(lambda: native.execute(setup))
    try:
        found = fetch(SCHEMA, {"schema": schema})
        if not found:
            raise CatalogNotFound(
                f"The schema {schema!r} does not exist.", detail={"schema": schema}
            )
        oid, usable = found[0]
        params = {"oid": oid}
        relations = fetch(RELATIONS, params)
        column_rows = fetch(COLUMNS, params)
        constraint_rows = fetch(CONSTRAINTS, params)
        oids = {row[0] for row in relations}
        foreign = sorted({row[6] for row in constraint_rows if row[6]} - oids)
        foreign_rows = fetch(FOREIGN_COLUMNS, {"oids": foreign}) if foreign else []
        index_rows = fetch(INDEXES, params)
    finally:
        conn.rollback()
    return _assemble(
        schema, usable, relations, column_rows, constraint_rows, foreign_rows, index_rows
    )


def _assemble(
    schema: str,
    usable: bool,
    relations: list[tuple[Any, ...]],
    column_rows: list[tuple[Any, ...]],
    constraint_rows: list[tuple[Any, ...]],
    foreign_rows: list[tuple[Any, ...]],
    index_rows: list[tuple[Any, ...]],
) -> SchemaMeta:
    """The schema from the rows of the catalog queries, in one pass over each (this runs
    for every column of big schemas: no grouping, positional construction)."""
    result = SchemaMeta(name=schema)
    if not usable:
        result.problems.append(
            f"The login has no USAGE privilege on the schema {schema!r}: its tables are "
            "listed but cannot be queried."
        )
    tables: dict[Any, TableMeta] = {}
    for rel_oid, name, kind, comment, tuples, definition in relations:
        estimate = int(tuples) if tuples is not None and tuples >= 0 and kind != "v" else None
        table = TableMeta(
            schema, name, KINDS[kind], comment=comment, row_estimate=estimate, definition=definition
        )
        tables[rel_oid] = table
        result.tables.append(table)
    names: dict[tuple[Any, int], str] = {(r[0], r[1]): r[2] for r in foreign_rows}
    family = type_family
    current_oid: Any = None
    columns: list[ColumnMeta] = []
    for rel_oid, col, ordinal, native_type, notnull, default, col_comment in column_rows:
        names[(rel_oid, ordinal)] = col
        if rel_oid != current_oid:
            current_oid = rel_oid
            owner = tables.get(rel_oid)
            columns = owner.columns if owner is not None else []
        columns.append(
            ColumnMeta(
                col, ordinal, native_type, family(native_type), not notnull, default, col_comment
            )
        )
    for (
        rel_oid,
        con_name,
        con_type,
        keys,
        ref_schema,
        ref_table,
        ref_oid,
        ref_keys,
    ) in constraint_rows:
        table_or_none = tables.get(rel_oid)
        if table_or_none is None:
            continue
        cols = [names[(rel_oid, n)] for n in keys]
        if con_type == "p":
            table_or_none.primary_key = cols
        elif con_type == "u":
            table_or_none.unique.append(cols)
        else:
            ref_cols = [names[(ref_oid, n)] for n in ref_keys or ()]
            table_or_none.foreign_keys.append(
                ForeignKeyMeta(con_name, cols, ref_schema, ref_table, ref_cols)
            )
    for rel_oid, index_name, unique, primary, keys, rendered, index_def in index_rows:
        table_or_none = tables.get(rel_oid)
        if table_or_none is None:
            continue
        cols = [
            names[(rel_oid, n)] if n else (rendered[i] if rendered else "?")
            for i, n in enumerate(keys)
        ]
        table_or_none.indexes.append(IndexMeta(index_name, cols, unique, primary, index_def))
    return result
