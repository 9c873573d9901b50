"""Values written into querydeck's own DuckDB statements as literals.

querydeck sends its own statements' values as literals, never as parameters: DuckDB's
Python client imports pandas (about 0.4 s and 50 MB where it is installed) on the first
statement with parameters in a process.
"""

from __future__ import annotations


def text_literal(value: str) -> str:
    """``value`` as a DuckDB string literal (DuckDB's strings have no backslash escapes)."""
    return "'" + value.replace("'", "''") + "'"
