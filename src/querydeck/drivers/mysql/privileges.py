"""What a MySQL/MariaDB login can do beyond reading, from ``SHOW GRANTS``.

An allow-list: every privilege other than the read-only ones below is a reason (FILE,
SUPER, ALL PRIVILEGES, INSERT, UPDATE, DELETE, CREATE, DROP, GRANT OPTION, PROXY…).
Privileges granted to a role that is not active in the session do not appear in
``SHOW GRANTS`` and are not seen.
"""

from __future__ import annotations

import re

#: Privileges that cannot change data or reach the server's files.
READ_ONLY = frozenset(
    {
        "SELECT",
        "SHOW VIEW",
        "USAGE",
        "SHOW DATABASES",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "EXECUTE",
        "PROCESS",
        "REPLICATION CLIENT",
        "BINLOG MONITOR",
        "SLAVE MONITOR",
        "REPLICA MONITOR",
        "SHOW CREATE ROUTINE",
    }
)
_GRANT = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<target>.+?)\s+TO\s", re.I | re.S)
_PARENS = re.compile(r"\([^)]*\)")


def reasons(grants: list[str]) -> list[str]:
    """Reasons from the lines of ``SHOW GRANTS`` (empty: read-only)."""
    found: list[str] = []
    for line in grants:
        match = _GRANT.match(line.strip())
        if match is None:
            continue  # a role grant ("GRANT role TO user"): its privileges are listed too
        target = match.group("target").strip()
        privileges = _PARENS.sub("", match.group("privs"))
        with_grant = "WITH GRANT OPTION" in line.upper()[match.end() :]
        for raw in privileges.split(","):
            name = " ".join(raw.split()).upper()
            if name and name not in READ_ONLY:
                found.append(f"{name} on {target}")
        if with_grant:
            found.append(f"GRANT OPTION on {target}")
    return list(dict.fromkeys(found))
