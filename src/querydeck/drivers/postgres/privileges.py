"""What a PostgreSQL login can do beyond reading: one catalog query.

Flags a superuser; CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS; membership in the
roles that reach the server's programs and files (``pg_execute_server_program``,
``pg_read_server_files``, ``pg_write_server_files``) or write everywhere
(``pg_write_all_data``); INSERT/UPDATE/DELETE/TRUNCATE on any table, view or foreign table;
CREATE on the database or on a schema. TEMP (granted to PUBLIC by default) is not flagged:
temporary tables vanish with the session.
"""

from __future__ import annotations

from typing import Any

import psycopg

#: How many table or schema names a reason lists before "and N more".
SHOWN_NAMES = 5

#: CREATE on the database, the schemas the login may create in, and the tables, views and
#: foreign tables it may write (at most 1,000): the part of the probe every flavour of
#: PostgreSQL answers alike (see :mod:`querydeck.drivers.postgres.flavour_privileges`).
CREATE_AND_WRITE = """
  has_database_privilege(current_database(), 'CREATE'),
  ARRAY(
    SELECT n.nspname::text FROM pg_namespace n
    WHERE has_schema_privilege(n.oid, 'CREATE')
      AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
    ORDER BY 1),
  ARRAY(
    SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_temp\\_%'
      AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
    ORDER BY 1 LIMIT 1000)"""

PROBE = f"""
SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
  ARRAY(
    SELECT g.rolname::text FROM pg_roles g
    WHERE g.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                        'pg_write_server_files', 'pg_write_all_data')
      AND pg_has_role(current_user, g.oid, 'MEMBER')
    ORDER BY 1),{CREATE_AND_WRITE}
FROM pg_roles r WHERE r.rolname = current_user
"""


def names_text(names: list[str]) -> str:
    """The first names of a list, and how many more."""
    shown = ", ".join(names[:SHOWN_NAMES])
    extra = len(names) - SHOWN_NAMES
    return shown + (f" and {extra} more" if extra > 0 else "")


def probe(conn: psycopg.Connection[Any]) -> list[str]:
    """The reasons this session's login can do more than read (empty: read-only)."""
    row = conn.execute(PROBE).fetchone()
    if row is None:
        return ["the login's role cannot be found in pg_roles"]
    superuser, createrole, createdb, replication, bypassrls, roles, db_create, schemas, tables = row
    reasons = []
    if superuser:
        return ["superuser"]
    reasons += [f"member of {role}" for role in roles]
    for flag, name in (
        (createrole, "CREATEROLE"),
        (createdb, "CREATEDB"),
        (replication, "REPLICATION"),
        (bypassrls, "BYPASSRLS"),
    ):
        if flag:
            reasons.append(f"role attribute {name}")
    if db_create:
        reasons.append("CREATE on the database")
    if schemas:
        reasons.append(f"CREATE on schema {names_text(list(schemas))}")
    if tables:
        reasons.append(f"INSERT/UPDATE/DELETE/TRUNCATE on {names_text(list(tables))}")
    return reasons
