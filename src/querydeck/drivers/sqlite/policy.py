"""Functions a read-only statement may not call on SQLite: ``fnmatch`` patterns on
the normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown
to the user. The driver declares this table; the guard and the engine's own parser's
second opinion apply it, with the entries common to every engine and an administrator's
additions."""

from __future__ import annotations

from querydeck.sql.policy import FILE_ACCESS, SERVER_PATHS, SIDE_EFFECT

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "load_extension": FILE_ACCESS,
    "readfile": FILE_ACCESS,
    "writefile": FILE_ACCESS,
    "edit": SIDE_EFFECT,
    "fts3_tokenizer": SIDE_EFFECT,
    "fsdir": FILE_ACCESS,
    "zipfile": FILE_ACCESS,
    "sqlar_*": FILE_ACCESS,
    # The database file's path on the server (and any attached one's).
    "pragma_database_list": SERVER_PATHS,
}

#: The same table-valued function named as a relation.
FORBIDDEN_RELATIONS: dict[str, str] = {"pragma_database_list": SERVER_PATHS}
