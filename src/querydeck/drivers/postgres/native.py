"""PostgreSQL's own grammar as the guard's second opinion, through pglast (libpg_query):
exactly one ``SelectStmt``, or an ``ExplainStmt`` without ANALYZE of one; nowhere in the
tree a ``SELECT … INTO``, a locking clause (``FOR UPDATE``/``SHARE``), a data-modifying
statement (a CTE's ``DELETE``…) or any other statement node; and every function it calls
passes the function policy. pglast is imported on first use."""

from __future__ import annotations

import re
from typing import Any

import orjson

from querydeck.errors import (
    FileAccessDenied,
    QueryRejected,
    SqlEmpty,
    SqlForbiddenFunction,
    SqlMultipleStatements,
    SqlNotReadOnly,
    SqlParseError,
)
from querydeck.sql.policy import FILE_ACCESS, FunctionPolicy
from querydeck.sql.positions import char_offset, position


def _not_read_only(sql: str, construct: str, location: int, what: str) -> QueryRejected:
    return SqlNotReadOnly(
        f"{what} is not allowed in a read-only statement.",
        detail={
            **position(sql, char_offset(sql, location)),
            "construct": construct,
            "parser": "postgres",
        },
    )


def _location(node: Any, fallback: int) -> int:
    if isinstance(node, dict):
        value = node.get("location")
        if isinstance(value, int) and value >= 0:
            return value
        for child in node.values():
            if isinstance(child, dict) and isinstance(child.get("location"), int):
                return int(child["location"])
    return fallback


def _function_name(call: dict[str, Any]) -> str:
    parts = call.get("funcname") or []
    last = parts[-1] if parts else {}
    return str(last.get("String", {}).get("sval", "")) if isinstance(last, dict) else ""


def _check_function(sql: str, call: dict[str, Any], policy: FunctionPolicy) -> None:
    name = _function_name(call)
    reason = policy.reason(name) if name else None
    if reason is None:
        return
    error = FileAccessDenied if reason == FILE_ACCESS else SqlForbiddenFunction
    raise error(
        f"The function {name.lower()}() is not allowed: it {reason}.",
        detail={
            **position(sql, char_offset(sql, _location(call, 0))),
            "construct": name.lower(),
            "parser": "postgres",
        },
    )


def _walk_postgres(sql: str, root: dict[str, Any], policy: FunctionPolicy) -> None:
    """Every node below a ``SelectStmt``: no writes, INTO, locks or forbidden functions."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((item, where) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        where = _location(node, where)
        for key, value in node.items():
            if key.endswith("Stmt") and key != "SelectStmt":
                name = key.removesuffix("Stmt").upper()
                raise _not_read_only(sql, name, _location(value, where), name)
            if key == "intoClause" and value:
                raise _not_read_only(sql, "INTO", _location(value, where), "SELECT … INTO")
            if key == "lockingClause" and value:
                raise _not_read_only(
                    sql, "FOR UPDATE", where, "A locking clause (FOR UPDATE/SHARE)"
                )
            if key == "FuncCall" and isinstance(value, dict):
                _check_function(sql, value, policy)
            if isinstance(value, dict | list):
                stack.append((value, where))


#: Keys of libpg_query's JSON. Inside a JSON string every ``"`` is escaped, so ``{"`` or
#: ``,"`` followed by a name and ``":`` is always a key, never text from the SQL.
_FUNC_NAME = re.compile(
    r'"FuncCall":\{"funcname":\[(?:\{"String":\{"sval":"(?:[^"\\]|\\.)*"\}\},)*'
    r'\{"String":\{"sval":"((?:[^"\\]|\\.)*)"\}\}\]'
)
#: Substrings of libpg_query's JSON that make the fast path give up.
_SUSPECT = ('"intoClause":', '"lockingClause":', '"defname":"analyze"', '"defname":"analyse"')


def _plainly_a_read(text: str, policy: FunctionPolicy) -> bool:
    """The fast path, on the JSON text with plain substring counts: True when it is
    certainly one read statement calling allowed functions; anything unusual answers
    False, and the full walk decides (and says where the problem is). Inside a JSON string
    every ``"`` is escaped, so a key such as ``"intoClause":`` can never be SQL text."""
    if text.count('{"stmt":') != 1 or any(suspect in text for suspect in _SUSPECT):
        return False
    selects = text.count('"SelectStmt":')
    explain = int('{"stmt":{"ExplainStmt":' in text)
    if not selects or text.count('Stmt":') != selects + explain:
        return False
    names = _FUNC_NAME.findall(text)
    if len(names) != text.count('"FuncCall":'):
        return False
    for name in names:
        plain = str(orjson.loads(f'"{name}"')) if "\\" in name else name
        if policy.reason(plain) is not None:
            return False
    return True


def check_postgres(sql: str, policy: FunctionPolicy) -> None:
    """PostgreSQL's own grammar (through pglast): one read statement, nothing else."""
    from pglast import parser as pg_parser  # imported on first use, as DuckDB is

    try:
        text = pg_parser.parse_sql_json(sql)
        if _plainly_a_read(text, policy):
            return
        parsed = orjson.loads(text)
    except pg_parser.ParseError as exc:
        message = str(exc.args[0]) if exc.args else "invalid syntax"
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        # pglast reports this one as a character offset already.
        where = position(sql, location) if location is not None else {}
        raise SqlParseError(
            f"PostgreSQL's parser rejects the SQL: {message}.",
            detail={**where, "parser": "postgres"},
        ) from None
    except RecursionError:
        raise SqlParseError("The SQL is nested too deeply to check.") from None
    statements = parsed.get("stmts") or []
    if len(statements) != 1:
        raise (SqlMultipleStatements if statements else SqlEmpty)(
            f"PostgreSQL reads this text as {len(statements)} statements; exactly one may run.",
            detail={"parser": "postgres", "statements": len(statements)},
        )
    ((kind, body),) = statements[0]["stmt"].items()
    if kind == "ExplainStmt":
        for option in body.get("options") or []:
            name = str(option.get("DefElem", {}).get("defname", "")).lower()
            if name in ("analyze", "analyse"):
                raise _not_read_only(sql, "EXPLAIN ANALYZE", 0, "EXPLAIN ANALYZE")
        ((kind, body),) = body["query"].items()
    if kind != "SelectStmt":
        name = kind.removesuffix("Stmt").upper()
        raise _not_read_only(sql, name, 0, name)
    _walk_postgres(sql, body, policy)
