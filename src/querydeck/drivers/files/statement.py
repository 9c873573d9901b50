"""The file drivers' own check of a statement, under the guard and independent of it: the
only table functions a statement may call are a few generators. The tables are views over
the connection's files; every other table function reads something else (``read_csv``,
``glob``, ``query``), and some read outside DuckDB's file sandbox (the delta extension's
kernel lists and reads logs itself), so this check holds even when the guard is bypassed.
The tables a statement names are read too: a version of a lake table (``"t@3"``) is made
into a view when it is first named.

DuckDB's own parser finds the calls: ``json_serialize_sql`` gives the statement's tree,
whose ``TABLE_FUNCTION`` nodes name every table function, however quoted or nested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

from querydeck.drivers.duckdb.literals import text_literal
from querydeck.errors import FileAccessDenied, QueryRejected

#: Table functions that only generate values.
GENERATORS = frozenset({"range", "generate_series", "unnest"})
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Names:
    """The table functions a statement calls (lower case), the tables it names, and the
    databases or schemas it names them in."""

    functions: frozenset[str]
    tables: frozenset[str]
    qualifiers: frozenset[str] = frozenset()


def _names(tree: Any) -> Names:
    functions: set[str] = set()
    tables: set[str] = set()
    qualifiers: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION":
                function = node.get("function") or {}
                functions.add(str(function.get("function_name", "")).lower())
            elif node.get("type") == "BASE_TABLE":
                qualifier = node.get("catalog_name") or node.get("schema_name")
                if qualifier:
                    qualifiers.add(str(qualifier))
                else:
                    tables.add(str(node.get("table_name", "")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return Names(frozenset(functions), frozenset(tables), frozenset(qualifiers))


def read_names(native: duckdb.DuckDBPyConnection, sql: str, kind: str) -> Names:
    """What ``sql`` (one statement of DuckDB's type ``kind``, ``SELECT`` or ``EXPLAIN``)
    calls and reads. An ``EXPLAIN`` is read by the statement it explains, which binding
    reads as much as running would."""
    text = sql
    if kind == "EXPLAIN":
        match = _EXPLAIN.match(sql)
        if match is None:
            raise QueryRejected(
                "Write EXPLAIN first on this connection (no comment before it), so the "
                "statement it explains can be checked."
            )
        text = match.group(1)
    if "\x00" in text:  # DuckDB's parser would stop at it; the guard refuses it too
        raise QueryRejected("The SQL contains a NUL character.")
    # A literal, not a parameter: DuckDB's Python client imports pandas (about 0.4 s) to
    # convert the first parameter of a process, where pandas is installed.
    row = native.execute(f"SELECT json_serialize_sql({text_literal(text)}::VARCHAR)").fetchone()
    tree = orjson.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise QueryRejected(
            "This connection runs single SELECT statements only; DuckDB does not read this "
            "text as one.",
            detail={"engine_message": str(tree.get("error_message", ""))[:200]},
        )
    return _names(tree)


def check_table_functions(names: Names) -> None:
    """Raise unless every table function called is a generator."""
    for name in sorted(names.functions):
        if name not in GENERATORS:
            raise FileAccessDenied(
                f"The table function {name}() is not allowed here: this connection's tables "
                "are its files, read by name (SELECT * FROM cities).",
                detail={"function": name},
            )
