"""What the audit log keeps of a statement: a fingerprint and the tables it names, never
its text (the text stays in the history, which the run id points to).

The fingerprint is the same for statements that differ only in literal values, layout,
comments, keyword case or the case of unquoted identifiers: literals become ``?`` (an
``IN`` list of literals one ``?``, a negative number too), the tree is printed back by
sqlglot, and the first 16 hex digits of its SHA-256 are kept. Text sqlglot cannot parse
(or too large to parse: over 1 MB, or more tokens than the guard's default budget, which
would cost seconds of parsing for a statement the guard refuses anyway) is fingerprinted
from its whitespace-normalised form instead, under another prefix so the two kinds never
collide.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from querydeck.sql.guard import DEFAULT_MAX_TOKENS, over_budget

#: Tables listed for one statement at most.
MAX_TABLES = 100
#: Longer texts are fingerprinted without parsing (the guard refuses them anyway).
MAX_PARSE_CHARS = 1_000_000
FINGERPRINT_CHARS = 16

_PLACEHOLDER = "?"


#: Statements up to this many characters are remembered, this many of them.
CACHED_SQL_CHARS = 8192
CACHED_STATEMENTS = 1024


@dataclass(frozen=True)
class SqlSummary:
    """A statement as the audit log records it."""

    fingerprint: str
    tables: list[str]
    parsed: bool


def _digest(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\n{text}".encode("utf-8", "backslashreplace")).hexdigest()[
        :FINGERPRINT_CHARS
    ]


def _text_fingerprint(sql: str) -> str:
    return _digest("text", " ".join(sql.split()))


def _parse(sql: str, dialect: str) -> list[exp.Expr] | None:
    if len(sql) > MAX_PARSE_CHARS or over_budget(sql, DEFAULT_MAX_TOKENS):
        return None
    try:
        trees = sqlglot.parse(sql, read=dialect)
        return [
            normalize_identifiers(t, dialect=dialect)
            for t in trees
            if t is not None and not isinstance(t, exp.Semicolon)
        ]
    except (SqlglotError, ValueError, RecursionError):
        return None


def _constant(node: exp.Expr | None) -> bool:
    """A literal (or a negative one), before or after it became a placeholder."""
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) or (
        isinstance(node, exp.Var) and node.name == _PLACEHOLDER
    )


def _placeholder(node: exp.Expr) -> exp.Expr:
    """Applied top-down by ``transform``: a node is seen before its children."""
    if _constant(node):
        return exp.var(_PLACEHOLDER)
    if (
        isinstance(node, exp.In)
        and node.expressions
        and all(_constant(e) for e in node.expressions)
    ):
        node.set("expressions", [exp.var(_PLACEHOLDER)])
    return node


def _normalised(trees: list[exp.Expr], dialect: str) -> str:
    return ";\n".join(t.transform(_placeholder).sql(dialect=dialect, comments=False) for t in trees)


def _function_name(node: exp.Func) -> str:
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    return f"{name.lower()}()"


def _cte_names(node: exp.Expr) -> set[str]:
    """Names of the CTEs visible where ``node`` is (every enclosing WITH)."""
    names: set[str] = set()
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_")
        if isinstance(with_, exp.With):
            names.update(cte.alias_or_name for cte in with_.expressions)
        parent = parent.parent
    return names


def _tables(trees: list[exp.Expr], dialect: str) -> list[str]:
    found: set[str] = set()
    for tree in trees:
        for table in tree.find_all(exp.Table):
            if isinstance(table.this, exp.Func):
                found.add(_function_name(table.this))
            elif not table.name:
                continue
            elif table.db or table.catalog or table.name not in _cte_names(table):
                found.add(exp.table_name(table, dialect=dialect))
    return sorted(found)[:MAX_TABLES]


def summarise(sql: str, dialect: str) -> SqlSummary:
    """The fingerprint and the tables of ``sql``, parsing it once; never raises. Short
    statements are remembered (dashboards and scripts repeat the same ones)."""
    if len(sql) > CACHED_SQL_CHARS:
        return _summarise(sql, dialect)
    known = _summarise_cached(sql, dialect)
    return SqlSummary(known.fingerprint, list(known.tables), known.parsed)


def _summarise(sql: str, dialect: str) -> SqlSummary:
    trees = _parse(sql, dialect)
    if not trees:
        return SqlSummary(_text_fingerprint(sql), [], False)
    try:
        return SqlSummary(
            _digest("sql", _normalised(trees, dialect)), _tables(trees, dialect), True
        )
    except (SqlglotError, ValueError, RecursionError):
        return SqlSummary(_text_fingerprint(sql), [], False)


_summarise_cached = functools.lru_cache(maxsize=CACHED_STATEMENTS)(_summarise)


def fingerprint(sql: str, dialect: str) -> str:
    """16 hex digits that are equal for the same statement with other literal values."""
    return summarise(sql, dialect).fingerprint


def tables_read(sql: str, dialect: str) -> list[str]:
    """Qualified names of the tables ``sql`` names (CTE names left out, table functions
    as ``read_parquet()``), sorted, unique, at most :data:`MAX_TABLES`; empty when the
    text does not parse."""
    return summarise(sql, dialect).tables
