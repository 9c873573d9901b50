"""The checks of a model's SQL before anyone runs it.

1. The guard, exactly as for hand-written SQL (the installation's function policy and
   size limit): a statement it refuses is never executed.
2. The catalog: every table must be one of the connection's cached tables, and every column
   must resolve (sqlglot's qualifier with the cached schema); unknown names come back with
   "did you mean" suggestions.
3. ``EXPLAIN`` on the engine, through a read-only session of the connection's driver.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from querydeck.assistant.models import Problem
from querydeck.assistant.retrieval import SchemaIndex
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import QueryRejected
from querydeck.sql.checker import StatementChecker
from querydeck.sql.rules import EngineRules

_UNKNOWN_COLUMN = re.compile(r"(?:Unknown column: (\S+)|Column '([^']+)' could not be resolved)")
MAX_SUGGESTIONS = 3

#: ``explain(sql)`` raises a QueryDeckError when the engine refuses the plan.
Explainer = Callable[[str], None]


def guard_problem(
    checker: StatementChecker, sql: str, rules: EngineRules
) -> tuple[str | None, Problem | None]:
    """The guarded text, or the guard's refusal as a problem."""
    try:
        return checker(sql, rules=rules, max_rows=1), None
    except QueryRejected as exc:
        kind = "syntax" if exc.code == "SQL_PARSE_ERROR" else "guard"
        return None, Problem(kind=kind, message=f"{exc.code}: {exc.message}")


def _suggest(word: str, names: list[str]) -> list[str]:
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=MAX_SUGGESTIONS, cutoff=0.5)
    return [folded[c] for c in close]


def catalog_problems(sql: str, dialect: str, index: SchemaIndex) -> list[Problem]:
    """Tables and columns of ``sql`` (already guarded) that the catalog does not have."""
    try:
        tree: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
    except SqlglotError:
        return [Problem(kind="syntax", message="The SQL cannot be parsed.")]
    ctes = {c.alias_or_name.casefold() for c in tree.find_all(exp.CTE)}
    problems: list[Problem] = []
    used: dict[str, TableMeta] = {}
    all_tables = [t.name for t in index.tables]
    for table in tree.find_all(exp.Table):
        bare = table.name
        if not bare or (bare.casefold() in ctes and not table.db):
            continue
        found = index.find(f"{table.db}.{bare}") if table.db else None
        found = found or index.find(bare)
        if found is None:
            problems.append(
                Problem(
                    kind="unknown_table",
                    name=table.sql(dialect=dialect),
                    message=f"There is no table {table.sql(dialect=dialect)}.",
                    suggestions=_suggest(bare, all_tables),
                )
            )
        else:
            used[f"{found.schema}.{found.name}"] = found
    if problems:
        return problems
    return _column_problems(tree, dialect, used)


def _column_problems(tree: exp.Expr, dialect: str, used: dict[str, TableMeta]) -> list[Problem]:
    schema: dict[str, object] = {}
    for table in used.values():
        tables = schema.setdefault(table.schema, {})
        assert isinstance(tables, dict)
        tables[table.name] = {c.name: c.native_type or "text" for c in table.columns}
    problems: list[Problem] = []
    candidates = [c.name for t in used.values() for c in t.columns]
    for _ in range(3):  # one unknown column per pass; a few are reported at most
        try:
            qualify(
                tree.copy(),
                schema=schema,
                dialect=dialect,
                validate_qualify_columns=True,
                quote_identifiers=False,
            )
            return problems
        except OptimizeError as exc:
            found = _UNKNOWN_COLUMN.search(str(exc))
            if found is None:
                return problems  # another limit of the qualifier: EXPLAIN decides
            column = found.group(1) or found.group(2)
            problems.append(
                Problem(
                    kind="unknown_column",
                    name=column,
                    message=f"There is no column {column} in the tables used.",
                    suggestions=_suggest(column.split(".")[-1], candidates),
                )
            )
            tree = _without_column(tree, column)
        except (SqlglotError, ValueError, KeyError):
            return problems
    return problems


def _without_column(tree: exp.Expr, column: str) -> exp.Expr:
    """The tree with the unknown column replaced by NULL (to look for the next one)."""
    bare = column.split(".")[-1].casefold()

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name.casefold() == bare:
            return exp.Null()
        return node

    return tree.copy().transform(swap)


def tables_used(sql: str, dialect: str, index: SchemaIndex) -> list[TableMeta]:
    """The catalog tables ``sql`` reads (CTE names left out)."""
    try:
        tree: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
    except SqlglotError:
        return []
    ctes = {c.alias_or_name.casefold() for c in tree.find_all(exp.CTE)}
    found: dict[str, TableMeta] = {}
    for table in tree.find_all(exp.Table):
        if not table.name or (table.name.casefold() in ctes and not table.db):
            continue
        meta = (index.find(f"{table.db}.{table.name}") if table.db else None) or index.find(
            table.name
        )
        if meta is not None:
            found[f"{meta.schema}.{meta.name}"] = meta
    return list(found.values())
