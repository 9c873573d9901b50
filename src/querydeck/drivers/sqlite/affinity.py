"""Which columns of a plain scan's result come straight from a table column, and with
what affinity (for :mod:`querydeck.drivers.sqlite.columnar`).

A column's affinity bounds the storage classes it can hold: a TEXT column stores numbers
as text, so it holds only TEXT, BLOB and NULL; a REAL column reads integers back as REAL,
so it holds only REAL, TEXT, BLOB and NULL. The program of a plain scan (``EXPLAIN``)
says where each result value comes from: ``ResultRow`` hands on registers that ``Column``
(table cursor, column index) or ``Rowid`` filled, and ``OpenRead`` says which table a
cursor reads (its root page). Anything less plain (a register filled otherwise, an index
cursor, a WITHOUT ROWID table, hidden or generated columns, another schema) is unknown.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

#: One row of ``EXPLAIN``: address, opcode, p1, p2, p3, p4, p5, comment.
Op = tuple[Any, ...]


def affinity(declared: str) -> str:
    """SQLite's affinity of a declared column type (section 3.1 of its datatype rules)."""
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "text"
    if "BLOB" in upper or not upper:
        return "blob"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "real"
    return "numeric"


def _tables(native: sqlite3.Connection, ops: Sequence[Op]) -> dict[int, list[str]] | None:
    """Each table cursor's column affinities (by column index); None when a cursor reads
    anything but a plain rowid table of the main schema."""
    found: dict[int, list[str]] = {}
    for op in ops:
        if op[1] != "OpenRead":
            continue
        cursor, root, schema = op[2], op[3], op[4]
        if schema != 0:
            return None
        row = native.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND rootpage = ?", (root,)
        ).fetchone()
        if row is None:
            return None  # an index, or not found
        name = str(row[0])
        listed = native.execute("SELECT wr FROM pragma_table_list WHERE name = ?", (name,))
        kinds = listed.fetchall()
        if len(kinds) != 1 or kinds[0][0] != 0:
            return None  # WITHOUT ROWID (columns in key order), or ambiguous
        columns = native.execute(
            "SELECT cid, type, hidden FROM pragma_table_xinfo(?) ORDER BY cid", (name,)
        ).fetchall()
        if any(hidden != 0 for _, _, hidden in columns):
            return None
        found[int(cursor)] = [affinity(str(kind or "")) for _, kind, _ in columns]
    return found


def sources(native: sqlite3.Connection, ops: Sequence[Op], width: int) -> list[str | None]:
    """For each of the ``width`` result columns, the affinity of the table column it is
    read from in every ``ResultRow`` (``integer`` for a rowid), or None when unknown.
    ``native`` is the authorized connection (it reads the schema)."""
    unknown: list[str | None] = [None] * width
    try:
        tables = _tables(native, ops)
    except sqlite3.Error:
        return unknown
    if tables is None:
        return unknown
    written: dict[int, set[str | None]] = {}
    for op in ops:
        if op[1] == "Column":
            columns = tables.get(int(op[2]))
            index = int(op[3])
            kind = columns[index] if columns is not None and index < len(columns) else None
            written.setdefault(int(op[4]), set()).add(kind)
        elif op[1] == "Rowid" and int(op[2]) in tables:
            written.setdefault(int(op[3]), set()).add("integer")
        elif op[1] == "Null":  # registers p2 to p3
            for register in range(int(op[3]), max(int(op[3]), int(op[4])) + 1):
                written.setdefault(register, set()).add(None)
        elif op[1] in ("Copy", "SCopy", "Integer", "String8", "Real"):  # register p2
            written.setdefault(int(op[3]), set()).add(None)
    result: list[set[str | None]] = [set() for _ in range(width)]
    rows = [op for op in ops if op[1] == "ResultRow"]
    if not rows:
        return unknown
    for op in rows:
        first, count = int(op[2]), int(op[3])
        if count != width:
            return unknown
        for position in range(width):
            result[position] |= written.get(first + position, {None})
    return [kinds.pop() if len(kinds) == 1 else None for kinds in result]
