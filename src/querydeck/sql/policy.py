"""Function policy: which functions a read-only statement may not call, per dialect.

The policy is data. Each entry is an ``fnmatch`` pattern on the function's normalised name
(lower case, without schema qualification or quoting) and the reason shown to the user.
Patterns under ``"*"`` apply to every dialect.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

FILE_ACCESS = "reads or writes files on the server"
SIDE_EFFECT = "has side effects outside the query"
SQL_IN_STRING = "runs SQL given as a string"
SLEEP_LOCK = "sleeps or takes locks"
CONFIG = "changes configuration"
NETWORK = "opens network connections"

FORBIDDEN_FUNCTIONS: dict[str, dict[str, str]] = {
    "*": {},
    "postgres": {
        "pg_sleep*": SLEEP_LOCK,
        "pg_advisory_*": SLEEP_LOCK,
        "pg_try_advisory_*": SLEEP_LOCK,
        "pg_read_file": FILE_ACCESS,
        "pg_read_binary_file": FILE_ACCESS,
        "pg_ls_*": FILE_ACCESS,
        "pg_stat_file": FILE_ACCESS,
        "pg_file_*": FILE_ACCESS,
        "lo_*": FILE_ACCESS,
        "set_config": CONFIG,
        "pg_reload_conf": CONFIG,
        "dblink*": NETWORK,
        "query_to_xml*": SQL_IN_STRING,
        "cursor_to_xml*": SQL_IN_STRING,
        "pg_terminate_backend": SIDE_EFFECT,
        "pg_cancel_backend": SIDE_EFFECT,
        "pg_rotate_logfile": SIDE_EFFECT,
        "pg_switch_wal": SIDE_EFFECT,
        "pg_notify": SIDE_EFFECT,
        "pg_create_*": SIDE_EFFECT,
        "pg_drop_*": SIDE_EFFECT,
        "pg_logical_*": SIDE_EFFECT,
        "pg_replication_*": SIDE_EFFECT,
        "pg_promote": SIDE_EFFECT,
        "nextval": SIDE_EFFECT,
        "setval": SIDE_EFFECT,
    },
    "mysql": {
        "sleep": SLEEP_LOCK,
        "benchmark": SLEEP_LOCK,
        "get_lock": SLEEP_LOCK,
        "release_lock": SLEEP_LOCK,
        "release_all_locks": SLEEP_LOCK,
        "master_pos_wait": SLEEP_LOCK,
        "source_pos_wait": SLEEP_LOCK,
        "wait_for_executed_gtid_set": SLEEP_LOCK,
        "load_file": FILE_ACCESS,
        "sys_exec": SIDE_EFFECT,
        "sys_eval": SIDE_EFFECT,
    },
    "sqlite": {
        "load_extension": FILE_ACCESS,
        "readfile": FILE_ACCESS,
        "writefile": FILE_ACCESS,
        "edit": SIDE_EFFECT,
        "fts3_tokenizer": SIDE_EFFECT,
    },
    "duckdb": {
        "read_*": FILE_ACCESS,
        "parquet_*": FILE_ACCESS,
        "*_scan": FILE_ACCESS,
        "glob": FILE_ACCESS,
        "sniff_csv": FILE_ACCESS,
        "query": SQL_IN_STRING,
        "query_table": SQL_IN_STRING,
        "getenv": SIDE_EFFECT,
        "current_setting": CONFIG,
    },
}


def forbidden_reason(dialect: str, name: str) -> str | None:
    """Why ``name`` may not be called in ``dialect``, or None when it may."""
    normalised = name.strip().strip('"`[]').lower()
    for table in (FORBIDDEN_FUNCTIONS["*"], FORBIDDEN_FUNCTIONS.get(dialect, {})):
        for pattern, reason in table.items():
            if fnmatchcase(normalised, pattern):
                return reason
    return None
