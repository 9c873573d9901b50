"""Statements that only read the catalog: ``SHOW TABLES``, ``DESCRIBE t``, ``SUMMARIZE t``.

They are not queries, so the guard's tree check (reads are SELECT, VALUES, EXPLAIN) would
refuse them, yet people expect them to work. Each form here is a complete grammar over the
statement's text — keywords, names, a ``LIKE`` pattern as a string literal, nothing else:
no expression, no function call, no comment — so what matches can only read the catalog.
A driver declares which forms its engine answers (``Driver.metadata_reads``) only where
its engine's own layers prove them reads too (DuckDB's parser reads each as a SELECT; the
MySQL family runs every statement in a read-only transaction); everything else stays
refused by the guard as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r'(?:`[^`\n]+`|"[^"\n]+"|[A-Za-z_][A-Za-z0-9_$]*)'
_QUALIFIED = rf"{_NAME}(?:\.{_NAME}){{0,2}}"
_PATTERN = r"'(?:[^'\\\n]|'')*'"
_LIKE = rf"(?:\s+LIKE\s+{_PATTERN})?"
_IN = rf"(?:\s+(?:FROM|IN)\s+{_NAME})?"
#: DESCRIBE followed by these is EXPLAIN of a statement (or of another session's plan),
#: never a table.
_NOT_A_TABLE = (
    r"(?!(?:SELECT|WITH|VALUES|TABLE|FOR|ANALYZE|FORMAT|EXTENDED|PARTITIONS|INSERT|UPDATE"
    r"|DELETE|REPLACE|QUERY|PLAN)\b)"
)

#: Each form's grammar (the whole statement, case-insensitive).
FORMS: dict[str, str] = {
    # SHOW [FULL] TABLES [FROM db] [LIKE '...']
    "SHOW TABLES": rf"SHOW(?:\s+FULL)?\s+TABLES{_IN}{_LIKE}",
    # SHOW [FULL] COLUMNS FROM t [FROM db] [LIKE '...']
    "SHOW COLUMNS": (
        rf"SHOW(?:\s+FULL)?\s+(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+{_QUALIFIED}{_IN}{_LIKE}"
    ),
    "SHOW DATABASES": rf"SHOW\s+(?:DATABASES|SCHEMAS){_LIKE}",
    "SHOW CREATE": rf"SHOW\s+CREATE\s+(?:TABLE|VIEW)\s+{_QUALIFIED}",
    "SHOW INDEX": rf"SHOW\s+(?:INDEX|INDEXES|KEYS)\s+(?:FROM|IN)\s+{_QUALIFIED}{_IN}",
    # DESCRIBE t [column]
    "DESCRIBE": rf"(?:DESCRIBE|DESC)\s+{_NOT_A_TABLE}{_QUALIFIED}(?:\s+{_NAME})?",
    # DuckDB: SHOW ALL TABLES, SHOW t, SUMMARIZE t
    "SHOW ALL TABLES": r"SHOW\s+ALL\s+TABLES",
    "SHOW TABLE": rf"SHOW\s+{_NOT_A_TABLE}{_QUALIFIED}",
    "SUMMARIZE": rf"SUMMARIZE\s+{_NOT_A_TABLE}{_QUALIFIED}",
}
_COMPILED = {
    form: re.compile(rf"\s*{grammar}\s*", re.IGNORECASE | re.DOTALL)
    for form, grammar in FORMS.items()
}
#: Words that begin a metadata read (the guard asks this module only then).
LEADING_WORDS = frozenset({"SHOW", "DESCRIBE", "DESC", "SUMMARIZE"})
_QUOTED = re.compile(r'`([^`\n]+)`|"([^"\n]+)"')
#: A quoted name DuckDB would read as a file or URL (see the guard's table check).
_FILE_LIKE = re.compile(r"[./\\:~]")


@dataclass(frozen=True)
class MetadataRead:
    form: str
    sql: str


def match(sql: str, forms: frozenset[str], *, quoted_names_read_files: bool) -> MetadataRead | None:
    """The form among ``forms`` that ``sql`` is, whole; None when it is none of them (or
    names a quoted file-like table on an engine that would read it as a file)."""
    for form in forms:
        pattern = _COMPILED.get(form)
        if pattern is None or not pattern.fullmatch(sql):
            continue
        if quoted_names_read_files and any(
            _FILE_LIKE.search(m[1] or m[2]) for m in _QUOTED.finditer(sql)
        ):
            return None
        return MetadataRead(form, sql.strip())
    return None


__all__ = ["FORMS", "LEADING_WORDS", "MetadataRead", "match"]
