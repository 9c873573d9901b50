"""A text check some drivers make before sending a statement, as a layer of their own
under the guard, where the engine has no read-only session that would refuse a write
(ClickHouse's ``readonly`` lets ``KILL QUERY`` through; Doris and StarRocks have no
read-only transaction)."""

from __future__ import annotations

import re

from querydeck.errors import SqlNotReadOnly

#: Leading blanks, comments (``--``, ``#``, ``/* */``) and parentheses, then the first word.
_QUERY = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*.*?\*/|\()*(select|with|explain)\b",
    re.I | re.S,
)


def require_query(sql: str, engine: str) -> None:
    """Raise :class:`~querydeck.errors.SqlNotReadOnly` unless ``sql`` starts like a query
    (SELECT, WITH) or EXPLAIN."""
    if not _QUERY.match(sql):
        first = (sql.split(None, 1) or [""])[0][:40].upper()
        raise SqlNotReadOnly(
            f"{engine} connections run only queries (SELECT, WITH) and EXPLAIN.",
            detail={"construct": first},
        )
