"""The privilege probes of PostgreSQL's compatible databases (see
:mod:`querydeck.drivers.postgres.flavours`), where ``pg_roles`` differs from PostgreSQL's.

- openGauss, GaussDB and KingbaseES: the login's ``pg_roles`` row is read whole (as JSON),
  so that attributes of their own — openGauss's ``rolsystemadmin`` (sysadmin, which can do
  nearly what a superuser can), ``rolauditadmin``, ``rolmonitoradmin``,
  ``roloperatoradmin``, ``rolpolicyadmin`` — are flagged where they exist and attributes
  they lack (``rolbypassrls``) are not asked for; CREATE and the write privileges on tables
  are asked as on PostgreSQL.
- Redshift: ``pg_user`` (``usesuper``, ``usecreatedb``) and one privilege function per
  table and schema, without ``ARRAY()`` subqueries or ``format()``, which Redshift's leader
  node does not run.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from querydeck.drivers.postgres.privileges import CREATE_AND_WRITE, names_text

#: Role attributes that let a login do more than read, by their ``pg_roles`` column.
ROLE_FLAGS = {
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
    "rolauditadmin": "AUDITADMIN",
    "rolmonitoradmin": "MONITORADMIN",
    "roloperatoradmin": "OPRADMIN",
    "rolpolicyadmin": "POLADMIN",
}

ROLE_PROBE = f"""
SELECT row_to_json(r)::text,{CREATE_AND_WRITE}
FROM pg_roles r WHERE r.rolname = current_user
"""


def role_probe(conn: psycopg.Connection[Any]) -> list[str]:
    """openGauss, GaussDB, KingbaseES (see the module docstring)."""
    row = conn.execute(ROLE_PROBE).fetchone()
    if row is None:
        return ["the login's role cannot be found in pg_roles"]
    role, db_create, schemas, tables = row
    flags: dict[str, Any] = json.loads(role)
    if flags.get("rolsuper"):
        return ["superuser"]
    if flags.get("rolsystemadmin"):
        return ["role attribute SYSADMIN"]
    reasons = [f"role attribute {name}" for key, name in ROLE_FLAGS.items() if flags.get(key)]
    if db_create:
        reasons.append("CREATE on the database")
    if schemas:
        reasons.append(f"CREATE on schema {names_text(list(schemas))}")
    if tables:
        reasons.append(f"INSERT/UPDATE/DELETE/TRUNCATE on {names_text(list(tables))}")
    return reasons


REDSHIFT_USER = "SELECT usesuper, usecreatedb FROM pg_user WHERE usename = current_user"
REDSHIFT_DATABASE = "SELECT has_database_privilege(current_database(), 'CREATE')"
REDSHIFT_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE has_schema_privilege(nspname, 'CREATE') AND nspname NOT LIKE 'pg\\_%'
  AND nspname <> 'information_schema'
ORDER BY 1
"""
REDSHIFT_TABLES = """
SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema'
  AND (has_table_privilege(quote_ident(schemaname) || '.' || quote_ident(tablename), 'INSERT')
    OR has_table_privilege(quote_ident(schemaname) || '.' || quote_ident(tablename), 'UPDATE')
    OR has_table_privilege(quote_ident(schemaname) || '.' || quote_ident(tablename), 'DELETE'))
ORDER BY 1 LIMIT 1000
"""


def redshift_probe(conn: psycopg.Connection[Any]) -> list[str]:
    """Redshift (see the module docstring)."""
    user = conn.execute(REDSHIFT_USER).fetchone()
    if user is None:
        return ["the login cannot be found in pg_user"]
    superuser, createdb = user
    if superuser:
        return ["superuser"]
    reasons = ["role attribute CREATEDB"] if createdb else []
    database = conn.execute(REDSHIFT_DATABASE).fetchone()
    if database and database[0]:
        reasons.append("CREATE on the database")
    schemas = [str(r[0]) for r in conn.execute(REDSHIFT_SCHEMAS).fetchall()]
    if schemas:
        reasons.append(f"CREATE on schema {names_text(schemas)}")
    tables = [str(r[0]) for r in conn.execute(REDSHIFT_TABLES).fetchall()]
    if tables:
        reasons.append(f"INSERT/UPDATE/DELETE on {names_text(tables)}")
    return reasons
