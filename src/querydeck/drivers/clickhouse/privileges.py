"""What a ClickHouse login can do beyond reading.

A settings profile with ``readonly`` 1 or 2 makes every statement of the login read-only
on the server, whatever it was granted: nothing to report. Otherwise querydeck's own
``readonly=1`` per query is the only server-side barrier, and the login's grants say what a
statement sent without it could do: ``SHOW GRANTS`` on servers with access control (20.5
and later), where every privilege but the reading ones below is a reason. Servers without
access control (users in ``users.xml`` only) cannot list grants: a login whose profile is
not read-only can write there, which is the reason given.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Privileges that only read data or metadata.
READ_ONLY = frozenset(
    {
        "SELECT",
        "SHOW",
        "SHOW DATABASES",
        "SHOW TABLES",
        "SHOW COLUMNS",
        "SHOW DICTIONARIES",
        "DICTGET",
        "USAGE",
        "NONE",
    }
)
_GRANT = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<target>\S+)\s+TO\s", re.I | re.S)
_PARENS = re.compile(r"\([^)]*\)")

Query = Callable[[str], list[tuple[object, ...]]]


def reasons_from_grants(lines: list[str]) -> list[str]:
    """Reasons from the lines of ``SHOW GRANTS`` (empty: read-only)."""
    found: list[str] = []
    for line in lines:
        match = _GRANT.match(line.strip())
        if match is None:
            continue  # a role granted: its own privileges are listed by SHOW GRANTS too
        target = match.group("target")
        for raw in _PARENS.sub("", match.group("privs")).split(","):
            name = " ".join(raw.split()).upper()
            if name and name not in READ_ONLY:
                found.append(f"{name} on {target}")
        if "WITH GRANT OPTION" in line.upper()[match.end() :]:
            found.append(f"GRANT OPTION on {target}")
    return list(dict.fromkeys(found))


def probe(profile_readonly: int, grants: Callable[[], list[str] | None]) -> list[str]:
    """The reasons a login can do more than read; ``grants`` gives the lines of
    ``SHOW GRANTS``, or None when the server has no access control."""
    if profile_readonly:
        return []
    lines = grants()
    if lines is None:
        return ["the login's settings profile is not read-only (readonly = 0)"]
    return reasons_from_grants(lines)
