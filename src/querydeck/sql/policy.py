"""Function policy: which functions a read-only statement may not call.

The policy is data, and an engine's table is declared by its driver
(``Driver.forbidden_functions``, see :mod:`querydeck.drivers.base`): each entry is an
``fnmatch`` pattern on the function's normalised name (lower case, without schema
qualification or quoting) and the reason shown to the user. :data:`COMMON` applies to
every engine. An administrator adds entries with the ``forbidden_functions`` setting
(``QUERYDECK_FORBIDDEN_FUNCTIONS``, entries ``dialect:pattern`` for any driver's dialect,
or ``*`` for all); they can only add to the tables, never remove from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

FILE_ACCESS = "reads or writes files on the server"
SIDE_EFFECT = "has side effects outside the query"
SQL_IN_STRING = "runs SQL given as a string"
SLEEP_LOCK = "sleeps or takes locks"
CONFIG = "changes configuration"
NETWORK = "opens network connections"
SECRETS = "reveals stored credentials"
WHOLE_OBJECTS = "packs whole tables, schemas or databases into one value"
INDEX_WRITE = "writes to an index (index maintenance) whatever the transaction's mode says"
SERVER_PATHS = "shows the server's file paths, commands or configuration files"
SETTINGS = "shows the engine's settings, file paths among them"
REPLICATION_WAIT = "waits for the server's replication and holds the session meanwhile"
ADMIN = "is forbidden by the administrator's policy"

#: The dialect of an administrator's entry that applies to every engine.
EVERY_DIALECT = "*"
_CACHE_LIMIT = 4096
_PATTERN = re.compile(r"^[a-z0-9_*?\[\]!$]+$")
_DIALECT = re.compile(r"^(\*|[a-z][a-z0-9_]*)$")

#: Entries for every engine: sequences advance whatever the transaction's mode says.
COMMON: dict[str, str] = {
    "nextval": SIDE_EFFECT,
    "setval": SIDE_EFFECT,
    "next_value_for": SIDE_EFFECT,
    "to_file": FILE_ACCESS,
}


class NamePatterns:
    """``fnmatch`` patterns on normalised names, each with its reason: the relations and
    the settings an engine may not read (functions have :class:`FunctionPolicy`). A
    relation pattern with a dot matches ``schema.name``, one without matches the name in
    any schema."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = table
        self._cache: dict[str, str | None] = {}

    def reason(self, *names: str) -> str | None:
        """Why one of ``names`` (already normalised) may not be read, or None."""
        for name in names:
            if name in self._cache:
                found = self._cache[name]
            else:
                found = next((r for p, r in self.table.items() if fnmatchcase(name, p)), None)
                if len(self._cache) < _CACHE_LIMIT:
                    self._cache[name] = found
            if found is not None:
                return found
        return None


def normalise(name: str) -> str:
    """A function name as the policy compares it: trimmed, unquoted, lower case, without
    schema qualification."""
    return name.strip().strip('"`[]').rsplit(".", 1)[-1].strip('"`[]').lower()


def parse_entries(entries: Iterable[str]) -> dict[str, dict[str, str]]:
    """Admin entries ``dialect:pattern`` as tables by dialect; raises ``ValueError`` with
    the entry at fault. Whether an installed driver uses the dialect is checked when the
    Workbench opens (:func:`unknown_dialects`)."""
    tables: dict[str, dict[str, str]] = {}
    for entry in entries:
        dialect, sep, pattern = entry.strip().partition(":")
        dialect, pattern = dialect.strip().lower(), pattern.strip().lower()
        if not sep or not _DIALECT.match(dialect) or not _PATTERN.match(pattern):
            raise ValueError(
                f"{entry!r} is not a function policy entry: write dialect:pattern with a "
                "driver's dialect (or * for every one) and a pattern of letters, digits, "
                "_ and the wildcards * ? [ ]"
            )
        tables.setdefault(dialect, {})[pattern] = ADMIN
    return tables


def unknown_dialects(entries: Iterable[str], dialects: Iterable[str]) -> list[str]:
    """The admin entries whose dialect no installed driver uses (typos, mostly)."""
    known = {EVERY_DIALECT, *dialects}
    return [
        entry.strip()
        for entry in entries
        if entry.strip().partition(":")[0].strip().lower() not in known
    ]


class FunctionPolicy:
    """One engine's table, the common entries and an administrator's additions for that
    engine's dialect (and for every dialect)."""

    def __init__(
        self,
        engine_table: Mapping[str, str],
        *,
        dialect: str = "",
        extra: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.tables: list[Mapping[str, str]] = [COMMON, engine_table]
        for key in (EVERY_DIALECT, dialect):
            added = (extra or {}).get(key, {})
            if added:
                self.tables.append(
                    {p: r for p, r in added.items() if p not in engine_table and p not in COMMON}
                )
        self._cache: dict[str, str | None] = {}

    def reason(self, name: str) -> str | None:
        """Why ``name`` may not be called, or None when it may."""
        if name in self._cache:
            return self._cache[name]
        reason = self._lookup(normalise(name))
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[name] = reason
        return reason

    def _lookup(self, normalised: str) -> str | None:
        for table in self.tables:
            for pattern, reason in table.items():
                if fnmatchcase(normalised, pattern):
                    return reason
        return None


POLICY_DOC_HEADER = """# Function policy

The guard refuses a statement that calls one of these functions (see
[runs.md](runs.md#the-guard)). Names are compared after normalisation — lower case, quotes
and schema qualification removed, comments between the name and `(` ignored — against
`fnmatch` patterns (`*` any run of characters, `?` one character). A `FILE_ACCESS_DENIED`
answer (HTTP 403) means the function reads or writes files; every other entry answers
`SQL_FORBIDDEN_FUNCTION` (HTTP 422).

Each engine's table is declared by its driver (`forbidden_functions` in
`src/querydeck/drivers/<engine>/policy.py`); a driver that declares none cannot be loaded.
An administrator adds entries with `QUERYDECK_FORBIDDEN_FUNCTIONS` (comma-separated
`dialect:pattern`, the dialect any installed driver's, `*` for all; see
[configuration.md](configuration.md)); entries can only be added, never removed. This page
is generated from the drivers (`python -m querydeck.reference`, run by `make docs`) and
checked by a test.
"""


POLICY_DOC_FAMILIES = """
The reasons name the families, and why each is denied:

- *has side effects outside the query*: sequences, backends, replication slots, WAL,
  notifications, statistics resets, catalog state — a read-only transaction does not stop
  them, or they act outside it.
- *writes to an index (index maintenance)*: PostgreSQL's BRIN summaries and GIN pending
  lists are written by a function call, inside a `READ ONLY` transaction too.
- *reads or writes files on the server*, *opens network connections*, *runs SQL given as
  a string* (its tables are read without the guard or the audit seeing them), *changes
  configuration*, *reveals stored credentials*: as they say.
- *sleeps or takes locks*, *waits for the server's replication*: hold a session (and a run
  slot) for as long as the caller likes, or block other sessions.
- *shows the server's file paths, commands or configuration files*, *shows the engine's
  settings*: where the data directory, sockets, keys and logs live, and the commands the
  server runs — what an attacker needs next, never a query's answer.

Besides functions, an engine may deny **relations** (views over such functions, such as
PostgreSQL's `pg_settings`; a pattern with a dot matches `schema.name`, one without the
name in any schema) and **settings** read by name (MySQL's `@@datadir`, PostgreSQL's
`current_setting('data_directory')`; a setting named by anything but a string literal is
refused, since its name is not known before the run). These answer
`SQL_FORBIDDEN_FUNCTION` too, and are listed under their engine.
"""


def policy_markdown(
    engines: Iterable[tuple[str, Mapping[str, str]]],
    extras: Mapping[str, Iterable[tuple[str, Mapping[str, str]]]] | None = None,
) -> str:
    """``docs/function-policy.md``: the common table, then one per engine (title, table),
    each followed by its ``extras`` (a kind of name such as "Relations", and its table)."""
    parts = [POLICY_DOC_HEADER, POLICY_DOC_FAMILIES]
    for title, table in (("Every engine", COMMON), *engines):
        parts.append(f"\n## {title}\n\n| pattern | why |\n|---|---|\n")
        parts.extend(f"| `{pattern}` | {reason} |\n" for pattern, reason in table.items())
        for kind, names in (extras or {}).get(title, ()):
            if names:
                parts.append(f"\n{kind}:\n\n| pattern | why |\n|---|---|\n")
                parts.extend(f"| `{pattern}` | {reason} |\n" for pattern, reason in names.items())
    return "".join(parts)
