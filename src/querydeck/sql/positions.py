"""Where in a statement's text something is: 1-based line and column, as every rejection
reports it."""

from __future__ import annotations


def position(sql: str, offset: int) -> dict[str, int]:
    """The line and column of the character at ``offset`` (clamped to the text)."""
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    return {"line": line, "column": offset - (sql.rfind("\n", 0, offset) + 1) + 1}


def char_offset(sql: str, byte_offset: int) -> int:
    """The character offset of a byte offset into the UTF-8 text (engine parsers such as
    libpg_query report bytes)."""
    return len(sql.encode("utf-8")[: max(0, byte_offset)].decode("utf-8", errors="ignore"))
