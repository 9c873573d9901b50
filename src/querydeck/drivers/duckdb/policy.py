"""Functions a read-only statement may not call on DuckDB: ``fnmatch`` patterns on
the normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown
to the user. The driver declares this table; the guard and the engine's own parser's
second opinion apply it, with the entries common to every engine and an administrator's
additions."""

from __future__ import annotations

from querydeck.sql.policy import (
    FILE_ACCESS,
    NETWORK,
    SECRETS,
    SERVER_PATHS,
    SETTINGS,
    SIDE_EFFECT,
    SQL_IN_STRING,
)

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "read_*": FILE_ACCESS,
    "parquet_*": FILE_ACCESS,
    "*_scan": FILE_ACCESS,
    "glob": FILE_ACCESS,
    "sniff_csv": FILE_ACCESS,
    "query": SQL_IN_STRING,
    "query_table": SQL_IN_STRING,
    "getenv": SIDE_EFFECT,
    "iceberg_*": FILE_ACCESS,
    "delta_*": FILE_ACCESS,
    "*_attach": FILE_ACCESS,
    "*_query": SQL_IN_STRING,
    "*_execute": SQL_IN_STRING,
    "http_*": NETWORK,
    "duckdb_secrets": SECRETS,
    "which_secret": SECRETS,
    "load_aws_credentials": SECRETS,
    "current_setting": SECRETS,
    # What current_setting is denied for, by other names; and the files behind the engine.
    "duckdb_settings": SETTINGS,
    "duckdb_databases": SERVER_PATHS,
    "duckdb_extensions": SERVER_PATHS,
    "duckdb_temporary_files": SERVER_PATHS,
    "pragma_database_list": SERVER_PATHS,
}

#: DuckDB's views over those functions.
FORBIDDEN_RELATIONS: dict[str, str] = {
    "duckdb_settings": SETTINGS,
    "duckdb_databases": SERVER_PATHS,
    "pragma_database_list": SERVER_PATHS,
}
