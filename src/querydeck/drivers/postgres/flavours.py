"""Databases that speak PostgreSQL's protocol, reached through the PostgreSQL driver with
its ``flavour`` option, and where each differs from PostgreSQL in what querydeck relies on
(docs/connections.md has the table):

- ``opengauss`` and ``gaussdb`` (built on openGauss): ``pg_roles`` has attributes of its own
  (``rolsystemadmin``…) and lacks PostgreSQL's newer ones (see
  :mod:`~querydeck.drivers.postgres.flavour_privileges`); many system schemas (``dbe_*``,
  ``pkg_*``, ``db4ai``, ``snapshot``…); no documented ``UNLISTEN`` or advisory-lock reset,
  so a pooled session is replaced by a new one; session and audit functions of its own.
- ``kingbasees``: PostgreSQL 12 underneath, but its system functions are also spelled
  ``sys_…`` (``sys_read_file``, ``sys_ls_dir``, ``sys_sleep``…), each refused as its
  ``pg_…`` twin is; system schemas ``sys_catalog``, ``sys``, ``sysaudit``, ``sysmac``…
- ``redshift``: ``DECLARE … CURSOR`` without ``NO SCROLL``; no ``IntervalStyle`` setting;
  no ``ARRAY()`` subqueries or ``format()`` on the leader node (its own privilege probe);
  no ``DISCARD``/``UNLISTEN``/advisory locks (a pooled session is replaced by a new one);
  internal schemas ``pg_internal``, ``pg_automv``…
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from querydeck.drivers.postgres import flavour_privileges
from querydeck.drivers.postgres import privileges as postgres_privileges
from querydeck.drivers.postgres.policy import FORBIDDEN_FUNCTIONS
from querydeck.sql.policy import SECRETS, SIDE_EFFECT

Probe = Callable[[psycopg.Connection[Any]], list[str]]


@dataclass(frozen=True)
class PostgresFlavour:
    name: str
    title: str
    #: Its functions to refuse, in addition to PostgreSQL's.
    forbidden_functions: Mapping[str, str] = field(default_factory=dict)
    #: Schemas of its own the catalog leaves out: exact names and name prefixes.
    system_schemas: tuple[str, ...] = ()
    system_schema_prefixes: tuple[str, ...] = ()
    #: Options of ``DECLARE … CURSOR`` (PostgreSQL: ``NO SCROLL``).
    declare_options: bytes = b"NO SCROLL "
    #: Settings made in each read-only transaction after its time limit.
    transaction_settings: tuple[bytes, ...] = (b"SET LOCAL IntervalStyle = 'postgres'",)
    #: The server knows PostgreSQL's limits that end a transaction on their own when
    #: querydeck is gone (``idle_in_transaction_session_timeout`` from 9.6,
    #: ``client_connection_check_interval`` from 14): each run sets those its version has.
    session_limits: bool = True
    #: PostgreSQL's one-round-trip session reset works (else a new session is opened).
    discard: bool = True
    #: Query rows may be read with ``COPY (query) TO STDOUT (FORMAT binary)`` in
    #: PostgreSQL's binary layout (else they are fetched from the cursor).
    binary_copy: bool = True
    probe: Probe = postgres_privileges.probe


_GAUSS_FUNCTIONS = {
    "pg_terminate_session": SIDE_EFFECT,
    "pg_cancel_session": SIDE_EFFECT,
    "pg_cancel_invalid_query": SIDE_EFFECT,
    "pg_delete_audit": SIDE_EFFECT,
    "pg_query_audit": SECRETS,
    "gs_roach_*": SIDE_EFFECT,
    "gs_switch_relfilenode": SIDE_EFFECT,
}
_GAUSS_SCHEMAS = (
    "blockchain",
    "cstore",
    "db4ai",
    "snapshot",
    "sqladvisor",
    "dbe_perf",
    "dbe_pldebugger",
    "dbe_pldeveloper",
    "dbe_sql_util",
    "pkg_service",
    "pkg_util",
)

FLAVOURS: dict[str, PostgresFlavour] = {
    "opengauss": PostgresFlavour(
        "opengauss",
        "openGauss",
        forbidden_functions=_GAUSS_FUNCTIONS,
        system_schemas=_GAUSS_SCHEMAS,
        system_schema_prefixes=("dbe_", "pkg_"),
        session_limits=False,
        discard=False,
        binary_copy=False,
        probe=flavour_privileges.role_probe,
    ),
    "gaussdb": PostgresFlavour(
        "gaussdb",
        "GaussDB",
        forbidden_functions=_GAUSS_FUNCTIONS,
        system_schemas=_GAUSS_SCHEMAS,
        system_schema_prefixes=("dbe_", "pkg_"),
        session_limits=False,
        discard=False,
        binary_copy=False,
        probe=flavour_privileges.role_probe,
    ),
    "kingbasees": PostgresFlavour(
        "kingbasees",
        "KingbaseES",
        # Each pg_… entry's sys_… spelling.
        forbidden_functions={
            "sys_" + pattern[3:]: reason
            for pattern, reason in FORBIDDEN_FUNCTIONS.items()
            if pattern.startswith("pg_")
        },
        system_schemas=("sys_catalog", "sys", "sysaudit", "sysmac", "anon", "src_restrict"),
        system_schema_prefixes=("sys_", "dbms_", "xlog_"),
        probe=flavour_privileges.role_probe,
    ),
    "redshift": PostgresFlavour(
        "redshift",
        "Amazon Redshift",
        system_schemas=("catalog_history",),
        system_schema_prefixes=("pg_",),
        declare_options=b"",
        transaction_settings=(),
        session_limits=False,
        discard=False,
        binary_copy=False,
        probe=flavour_privileges.redshift_probe,
    ),
}
#: Plain PostgreSQL.
BASE = PostgresFlavour("", "PostgreSQL")


def flavour(name: str | None) -> PostgresFlavour:
    return FLAVOURS[name] if name else BASE


def hidden(kind: PostgresFlavour, schema: str) -> bool:
    """Whether the catalog leaves ``schema`` out for this flavour."""
    return schema in kind.system_schemas or schema.startswith(kind.system_schema_prefixes)
