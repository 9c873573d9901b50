"""The file drivers' own check of a statement, under the guard and independent of it: the
only table functions a statement may call are a few generators and the connection's own
macros. The tables are views over the connection's files; every other table function reads
something else (``read_csv``, ``glob``, ``query``), and some read outside DuckDB's file
sandbox (the delta extension's kernel lists and reads logs itself), so this check holds
even when the guard is bypassed.

DuckDB's own parser finds the calls: ``json_serialize_sql`` gives the statement's tree,
whose ``TABLE_FUNCTION`` nodes name every table function, however quoted or nested.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import duckdb
import orjson

from querydeck.errors import FileAccessDenied, QueryRejected

#: Table functions that only generate values.
GENERATORS = frozenset({"range", "generate_series", "unnest"})
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(.*)$", re.IGNORECASE | re.DOTALL)


def _table_functions(tree: Any) -> Iterator[str]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "TABLE_FUNCTION":
                function = node.get("function") or {}
                yield str(function.get("function_name", "")).lower()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def check_table_functions(
    native: duckdb.DuckDBPyConnection, sql: str, kind: str, allowed: frozenset[str]
) -> None:
    """Raise unless every table function ``sql`` calls is a generator or in ``allowed``.
    ``kind`` is DuckDB's statement type (``SELECT`` or ``EXPLAIN``): an ``EXPLAIN`` is
    checked by the statement it explains, which binding reads as much as running would."""
    text = sql
    if kind == "EXPLAIN":
        match = _EXPLAIN.match(sql)
        if match is None:
            raise QueryRejected(
                "Write EXPLAIN first on this connection (no comment before it), so the "
                "statement it explains can be checked."
            )
        text = match.group(1)
    row = native.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()
    tree = orjson.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise QueryRejected(
            "This connection runs single SELECT statements only; DuckDB does not read this "
            "text as one.",
            detail={"engine_message": str(tree.get("error_message", ""))[:200]},
        )
    for name in _table_functions(tree):
        if name not in GENERATORS and name not in allowed:
            raise FileAccessDenied(
                f"The table function {name}() is not allowed here: this connection's tables "
                "are its files, read by name (SELECT * FROM cities).",
                detail={"function": name},
            )
