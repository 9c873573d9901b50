"""What the model is told: compact DDL of the chosen tables, examples, glossary entries,
the earlier turns of a thread, and the problems of a rejected attempt.

Everything that comes from a catalog (names, comments) or a user (questions, examples) is
data inside these prompts; whatever it says, the SQL that comes back is only ever checked
by the guard and run read-only like a user's own statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from querydeck.assistant.models import Problem
from querydeck.catalog.ddl import ident
from querydeck.drivers.catalog_model import TableMeta

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset(
    [
        "all",
        "and",
        "any",
        "as",
        "asc",
        "between",
        "by",
        "case",
        "cast",
        "check",
        "column",
        "constraint",
        "create",
        "cross",
        "current",
        "default",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "in",
        "inner",
        "intersect",
        "into",
        "is",
        "join",
        "key",
        "language",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "natural",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "primary",
        "references",
        "right",
        "select",
        "session",
        "some",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "when",
        "where",
        "window",
        "with",
    ]
)
DIALECT_NAMES = {
    "postgres": "PostgreSQL",
    "mysql": "MySQL/MariaDB",
    "sqlite": "SQLite",
    "duckdb": "DuckDB",
}
MAX_COMMENT_CHARS = 300


def name(text: str, dialect: str) -> str:
    """A name as SQL: bare when it can be, quoted for the dialect otherwise."""
    plain = _PLAIN.match(text) and text.casefold() not in _RESERVED
    # PostgreSQL folds bare names to lower case: a name with capitals needs quotes there.
    if plain and (dialect != "postgres" or text == text.lower()):
        return text
    return ident(text, dialect)


def qualified(table: TableMeta, dialect: str, schema_qualified: bool = True) -> str:
    if not schema_qualified or (table.schema in ("", "main") and dialect == "duckdb"):
        return name(table.name, dialect)
    return f"{name(table.schema, dialect)}.{name(table.name, dialect)}"


def _comment(text: str | None) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())[:MAX_COMMENT_CHARS]
    return f"  -- {flat}"


def compact_ddl(
    table: TableMeta,
    dialect: str,
    samples: dict[str, list[str]] | None = None,
    *,
    schema_qualified: bool = True,
) -> str:
    """One table as a short ``CREATE TABLE`` with its keys, comments and (when allowed)
    a few sample values per column."""
    lines = []
    if table.comment:
        lines.append(f"-- {' '.join(table.comment.split())[:MAX_COMMENT_CHARS]}")
    lines.append(f"CREATE TABLE {qualified(table, dialect, schema_qualified)} (")
    body = []
    for column in table.columns:
        line = f"  {name(column.name, dialect)} {column.native_type}".rstrip()
        extra = _comment(column.comment)
        values = (samples or {}).get(column.name)
        if values:
            shown = ", ".join(repr(v) for v in values[:5])
            extra = (extra or "  --") + f" e.g. {shown}"
        body.append((line, extra))
    if table.primary_key:
        cols = ", ".join(name(c, dialect) for c in table.primary_key)
        body.append((f"  PRIMARY KEY ({cols})", ""))
    for fk in table.foreign_keys:
        cols = ", ".join(name(c, dialect) for c in fk.columns)
        ref = ", ".join(name(c, dialect) for c in fk.ref_columns)
        body.append((f"  FOREIGN KEY ({cols}) REFERENCES {name(fk.ref_table, dialect)}({ref})", ""))
    for i, (line, extra) in enumerate(body):
        comma = "," if i < len(body) - 1 else ""
        lines.append(line + comma + extra)
    lines.append(");")
    return "\n".join(lines)


@dataclass(frozen=True)
class Turn:
    """An earlier question of the thread and the SQL it got."""

    question: str
    sql: str


@dataclass(frozen=True)
class Shot:
    question: str
    sql: str


STAGE1_SYSTEM = (
    "You choose the database tables needed to answer a question. Answer with one JSON "
    'object and nothing else: {"tables": ["schema.table", ...]}, listing only names from '
    "the candidates given, the fewest that answer the question (include the tables needed "
    "to join them)."
)


def stage1(question: str, listing: Sequence[str], turns: Sequence[Turn]) -> list[dict[str, str]]:
    context = "".join(f"Earlier question: {t.question}\nIts SQL: {t.sql}\n\n" for t in turns)
    user = f"{context}Question: {question}\n\nCandidate tables (name: columns):\n" + "\n".join(
        listing
    )
    return [{"role": "system", "content": STAGE1_SYSTEM}, {"role": "user", "content": user}]


def listing_line(table: TableMeta, dialect: str, max_columns: int = 30) -> str:
    cols = ", ".join(c.name for c in table.columns[:max_columns])
    more = ", …" if len(table.columns) > max_columns else ""
    comment = f" -- {' '.join(table.comment.split())[:120]}" if table.comment else ""
    return f"- {table.schema}.{table.name}: {cols}{more}{comment}"


def stage2_system(dialect: str) -> str:
    engine = DIALECT_NAMES.get(dialect, dialect)
    return (
        f"You write one read-only {engine} SELECT statement that answers the user's "
        "question from the tables described. Use only the tables and columns shown. "
        "Answer with the SQL in one ```sql code block and nothing else: no explanation, "
        "no second statement."
    )


def stage2(
    question: str,
    dialect: str,
    ddl: Sequence[str],
    *,
    shots: Sequence[Shot],
    glossary: Sequence[tuple[str, str]],
    literals: Sequence[str],
    turns: Sequence[Turn],
) -> list[dict[str, str]]:
    parts = ["Tables:\n\n" + "\n\n".join(ddl)]
    if glossary:
        parts.append("Glossary:\n" + "\n".join(f"- {t}: {d}" for t, d in glossary))
    if literals:
        parts.append("Values the question mentions:\n" + "\n".join(f"- {v}" for v in literals))
    if shots:
        parts.append(
            "Examples of questions and their SQL on this database:\n\n"
            + "\n\n".join(f"Question: {s.question}\n```sql\n{s.sql}\n```" for s in shots)
        )
    for turn in turns:
        parts.append(f"Earlier question: {turn.question}\n```sql\n{turn.sql}\n```")
    parts.append(f"Question: {question}")
    return [
        {"role": "system", "content": stage2_system(dialect)},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def correction(sql: str, problems: Sequence[Problem]) -> list[dict[str, str]]:
    lines = []
    for p in problems:
        line = f"- {p.message}"
        if p.suggestions:
            line += f" Did you mean: {', '.join(p.suggestions)}?"
        lines.append(line)
    return [
        {"role": "assistant", "content": f"```sql\n{sql}\n```" if sql else "(no SQL)"},
        {
            "role": "user",
            "content": "That SQL cannot be used:\n"
            + "\n".join(lines)
            + "\nAnswer again with one corrected SELECT in one ```sql code block.",
        },
    ]


def baseline(question: str, dialect: str, ddl: Sequence[str]) -> list[dict[str, str]]:
    """The whole schema and the question, nothing else (the eval's comparison)."""
    return [
        {"role": "system", "content": stage2_system(dialect)},
        {"role": "user", "content": "Tables:\n\n" + "\n\n".join(ddl) + f"\n\nQuestion: {question}"},
    ]


def explanation(sql: str, question: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "Explain in a few plain sentences, for someone who does not read SQL, "
            "what the given query returns and how. No SQL in the answer.",
        },
        {"role": "user", "content": f"Question asked: {question}\n\n```sql\n{sql}\n```"},
    ]
