"""The SQLite driver's second opinion: the one call SQLite's own limits do not bound.

``SQLITE_LIMIT_LENGTH`` stops any value past 64 MiB as it is built, and the progress
handler interrupts between virtual-machine instructions, but ``printf('%.*c', 2147483647,
'x')`` (a ``%c`` with a precision repeats the character) keeps looping inside one
instruction after the limit stopped its output: 20 s past a 2 s timeout, in SQLite 3.40.
So a ``%c`` precision (in ``printf`` or its alias ``format``) must be written in a constant
format string, and all of a statement's add up to at most the value limit; anything else
SQLite's printf does is bounded by the limit.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from querydeck.errors import SqlValueTooLarge

if TYPE_CHECKING:
    from sqlglot import exp

    from querydeck.sql.policy import FunctionPolicy

#: The largest value (text or blob) a statement may build, bytes (SQLITE_LIMIT_LENGTH).
MAX_VALUE_BYTES = 64 * 1024 * 1024
_PRINTF = frozenset({"printf", "format"})
#: Either name in a text, however quoted (SQLite's identifiers have no escapes).
_NAMED = re.compile(r"\b(?:printf|format)\b", re.IGNORECASE)
#: A conversion: flags, width, precision, then the conversion character.
_SPEC = re.compile(r"%[-+ 0#!,]*(?:[0-9]+|\*)?(?:\.([0-9]+|\*))?(l{0,2}[a-zA-Z%])")


def check_sqlite(sql: str, policy: FunctionPolicy | None = None) -> None:
    """Refuse a ``printf``/``format`` call whose ``%c`` repeats could run past the limit
    (``policy`` is unused: the guard's check of the functions stands)."""
    if not _NAMED.search(sql):
        return
    import sqlglot  # the guard has loaded it already
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return  # the guard's own parse of the same text refuses it
    repeats = 0
    for node in tree.find_all(exp.Func):
        name = _name(node)
        if name not in _PRINTF:
            continue
        template = _template(node)
        if template is None:
            raise SqlValueTooLarge(
                f"{name}() is called with a format that is not a constant string, so what "
                "it builds cannot be bounded; write the format as a string literal.",
                detail={"function": name, "argument": "format"},
            )
        for spec in _SPEC.finditer(template):
            precision, conversion = spec.groups()
            if conversion != "c" or not precision:
                continue
            if precision == "*":
                raise SqlValueTooLarge(
                    f"{name}() repeats a character a number of times given by an argument "
                    "(%.*c), which cannot be bounded; write the count in the format.",
                    detail={"function": name, "argument": "precision"},
                )
            repeats += int(precision)
    if repeats > MAX_VALUE_BYTES:
        raise SqlValueTooLarge(
            f"This statement's printf() repeats {repeats} characters, more than the "
            f"{MAX_VALUE_BYTES} bytes a value may hold.",
            detail={"function": "printf", "bytes": repeats, "max_bytes": MAX_VALUE_BYTES},
        )


def _name(node: exp.Func) -> str:
    from sqlglot import exp

    raw = str(node.name) if isinstance(node, exp.Anonymous) else node.sql_name()
    return raw.strip('"`[]').lower()


def _template(node: exp.Func) -> str | None:
    """The format string of a call, when it is a literal."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        first = node.expressions[0] if node.expressions else exp.Literal.string("")
    else:
        first = node.this
    if isinstance(first, exp.Literal) and first.is_string:
        return str(first.this)
    return None
