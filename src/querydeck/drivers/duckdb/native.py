"""DuckDB's own parser as the guard's second opinion: ``extract_statements`` must find
exactly one statement, of type ``SELECT`` or ``EXPLAIN``, and its tree must keep to the
size budget (:mod:`querydeck.drivers.duckdb.budget`). DuckDB is imported on first use (a
server without DuckDB connections never loads it)."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import orjson

from querydeck.drivers.duckdb.budget import SIZED, check_budget
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.errors import (
    SqlEmpty,
    SqlMultipleStatements,
    SqlNotReadOnly,
    SqlParseError,
    SqlValueTooLarge,
)
from querydeck.sql.policy import FunctionPolicy

if TYPE_CHECKING:
    import duckdb

#: DuckDB statement types that only read.
DUCKDB_READ_TYPES = frozenset({"SELECT", "EXPLAIN"})
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(.*)$", re.IGNORECASE | re.DOTALL)
#: Any sized function's name in a text, however quoted.
_SIZED_NAME = re.compile(r"\b(?:" + "|".join(sorted(SIZED)) + r")\b", re.IGNORECASE)

_duckdb_lock = threading.Lock()
_duckdb_parser: duckdb.DuckDBPyConnection | None = None


def _duckdb_connection() -> duckdb.DuckDBPyConnection:
    global _duckdb_parser
    if _duckdb_parser is None:
        import duckdb  # imported on first use: a server without DuckDB connections never is

        _duckdb_parser = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            },
        )
    return _duckdb_parser


def check_duckdb(sql: str, policy: FunctionPolicy | None = None) -> None:
    """DuckDB's own parser: one statement, of a reading type, within the size budget. It
    says nothing else about the functions called (``policy`` is unused): the guard's check
    of sqlglot's tree stands."""
    import duckdb

    try:
        with _duckdb_lock:
            statements = _duckdb_connection().extract_statements(sql)
            kinds = [s.type.name for s in statements]
            tree = _tree(sql, kinds)
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid syntax"
        raise SqlParseError(
            f"DuckDB cannot parse the SQL: {message}",
            detail={"parser": "duckdb"},
        ) from None
    if len(kinds) != 1:
        raise (SqlMultipleStatements if kinds else SqlEmpty)(
            f"DuckDB reads this text as {len(kinds)} statements; exactly one may run.",
            detail={"parser": "duckdb", "statements": len(kinds)},
        )
    if kinds[0] not in DUCKDB_READ_TYPES:
        raise SqlNotReadOnly(
            f"DuckDB reads this statement as {kinds[0]}; only SELECT and EXPLAIN may run.",
            detail={"parser": "duckdb", "construct": kinds[0]},
        )
    check_budget(tree)


def _tree(sql: str, kinds: list[str]) -> dict[str, Any]:
    """The statement's tree (an ``EXPLAIN``'s is the statement it explains: planning folds
    constants, so it builds what running would), or an empty one for a text that names no
    sized function (most: serializing costs about 1 ms); refused when DuckDB cannot give
    the tree of a text that does."""
    if kinds not in (["SELECT"], ["EXPLAIN"]) or not _SIZED_NAME.search(sql):
        return {}  # DuckDB's identifiers have no escapes: a call names its function
    match = _EXPLAIN.match(sql) if kinds == ["EXPLAIN"] else None
    text = match.group(1) if match else sql
    row = (
        _duckdb_connection().execute(f"SELECT json_serialize_sql({text_literal(text)})").fetchone()
    )
    tree: dict[str, Any] = orjson.loads(row[0]) if row else {"error": True}
    if not tree.get("error") and (match or kinds == ["SELECT"]):
        return tree
    if _SIZED_NAME.search(sql):
        raise SqlValueTooLarge(
            "DuckDB cannot show this statement's calls, and it names a function whose "
            "result's size an argument sets; write it as a plain SELECT.",
            detail={"parser": "duckdb"},
        )
    return {}
