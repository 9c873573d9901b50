"""Databases that speak MySQL's protocol, reached through the MySQL driver with its
``flavour`` option, and where each differs from MySQL/MariaDB in what querydeck relies on
(docs/connections.md has the table):

- ``tidb``: MySQL's time limit (``max_execution_time``) and read-only transactions; its
  own system schema ``metrics_schema``; no documented ``COM_RESET_CONNECTION`` relied on (a
  reset opens a new session).
- ``oceanbase`` (MySQL mode): the time limit is ``ob_query_timeout``, in microseconds;
  system schemas ``oceanbase`` and ``__recyclebin``.
- ``doris``: the time limit is ``query_timeout`` (whole seconds); reads are not
  transactional (no read-only transaction: the guard, the privilege probe and the driver's
  own check that only queries and EXPLAIN are sent, without INTO OUTFILE, are the read
  layers); ``SHOW GRANTS`` is a table of ``…_priv`` columns; table functions that read
  object stores, HDFS, a backend's local files, HTTP, or run SQL on another catalog.
- ``starrocks``: ``query_timeout`` too, no read-only transaction; ``SHOW GRANTS`` rows end
  with the GRANT statements; the ``files()`` table function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from querydeck.drivers.mysql import privileges as mysql_privileges
from querydeck.sql.policy import FILE_ACCESS, NETWORK, SECRETS, SQL_IN_STRING

Rows = Sequence[Sequence[Any]]


def _mysql_grants(rows: Rows, names: Sequence[str]) -> list[str]:
    return mysql_privileges.reasons([str(row[0]) for row in rows])


def _last_column_grants(rows: Rows, names: Sequence[str]) -> list[str]:
    """StarRocks 3: ``(UserIdentity, Catalog, Grants)``, the grants as GRANT statements."""
    return mysql_privileges.reasons([str(row[-1]) for row in rows if row and row[-1]])


#: Doris privileges that only read (``Usage_priv`` is the use of a resource).
_DORIS_READ = frozenset({"select_priv", "show_view_priv", "usage_priv"})
_DORIS_COLUMNS = ("GlobalPrivs", "CatalogPrivs", "DatabasePrivs", "TablePrivs", "ColPrivs")


def _doris_grants(rows: Rows, names: Sequence[str]) -> list[str]:
    """Doris: one row per user, a column per level, ``target: Priv_a,Priv_b; target: …``
    (global privileges without a target)."""
    found: list[str] = []
    for row in rows:
        values = dict(zip(names, row, strict=False))
        for column in _DORIS_COLUMNS:
            text = values.get(column)
            if not text or str(text).strip() in ("", "\\N", "NULL"):
                continue
            for entry in str(text).split(";"):
                target, sep, privs = entry.strip().rpartition(": ")
                target = target if sep else "*"
                for priv in re.split(r"[,\s]+", privs.strip()):
                    if priv and priv.lower() not in _DORIS_READ:
                        found.append(f"{priv} on {target or '*'}")
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class MySQLFlavour:
    name: str
    title: str
    #: Its functions to refuse, in addition to MySQL's.
    forbidden_functions: Mapping[str, str] = field(default_factory=dict)
    #: Schemas of its own that the catalog leaves out.
    system_schemas: tuple[str, ...] = ()
    #: The statement that limits the next statements' time (None: MySQL's or MariaDB's
    #: own, by what the server says it is).
    timeout: Callable[[float], str] | None = None
    #: ``START TRANSACTION READ ONLY`` (and the session default) is honoured.
    read_only_transaction: bool = True
    #: ``COM_RESET_CONNECTION`` is documented; otherwise a reset opens a new session.
    reset_command: bool = False
    #: Reasons a login can do more than read, from ``SHOW GRANTS`` rows and column names.
    grants: Callable[[Rows, Sequence[str]], list[str]] = _mysql_grants


FLAVOURS: dict[str, MySQLFlavour] = {
    "tidb": MySQLFlavour(
        "tidb",
        "TiDB",
        forbidden_functions={
            # other sessions' statements, with their literals
            "tidb_decode_sql_digests": SECRETS,
        },
        system_schemas=("metrics_schema",),
    ),
    "oceanbase": MySQLFlavour(
        "oceanbase",
        "OceanBase (MySQL mode)",
        system_schemas=("oceanbase", "__recyclebin"),
        timeout=lambda s: f"SET SESSION ob_query_timeout = {max(1, math.ceil(s * 1_000_000))}",
    ),
    "doris": MySQLFlavour(
        "doris",
        "Apache Doris",
        forbidden_functions={
            "s3": NETWORK,
            "hdfs": NETWORK,
            "http": NETWORK,
            "local": FILE_ACCESS,
            "file": FILE_ACCESS,
            "query": SQL_IN_STRING,
            "iceberg_meta": NETWORK,
            "hudi_meta": NETWORK,
        },
        system_schemas=("__internal_schema",),
        timeout=lambda s: f"SET query_timeout = {max(1, math.ceil(s))}",
        read_only_transaction=False,
        grants=_doris_grants,
    ),
    "starrocks": MySQLFlavour(
        "starrocks",
        "StarRocks",
        forbidden_functions={"files": FILE_ACCESS},
        system_schemas=("_statistics_",),
        timeout=lambda s: f"SET query_timeout = {max(1, math.ceil(s))}",
        read_only_transaction=False,
        grants=_last_column_grants,
    ),
}
#: Plain MySQL/MariaDB.
BASE = MySQLFlavour("", "MySQL / MariaDB", reset_command=True)


def flavour(name: str | None) -> MySQLFlavour:
    return FLAVOURS[name] if name else BASE
