"""Functions a read-only statement may not call on MySQL and MariaDB: ``fnmatch`` patterns on
the normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown
to the user. The driver declares this table; the guard and the engine's own parser's
second opinion apply it, with the entries common to every engine and an administrator's
additions."""

from __future__ import annotations

from querydeck.sql.policy import (
    FILE_ACCESS,
    REPLICATION_WAIT,
    SERVER_PATHS,
    SIDE_EFFECT,
    SLEEP_LOCK,
)

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "sleep": SLEEP_LOCK,
    "benchmark": SLEEP_LOCK,
    "get_lock": SLEEP_LOCK,
    "release_lock": SLEEP_LOCK,
    "release_all_locks": SLEEP_LOCK,
    "load_file": FILE_ACCESS,
    "sys_exec": SIDE_EFFECT,
    "sys_eval": SIDE_EFFECT,
    "lastval": SIDE_EFFECT,
    # Waits for replication events (MariaDB, MySQL, Galera): held as long as they like.
    "*_pos_wait": REPLICATION_WAIT,
    "*_gtid_wait": REPLICATION_WAIT,
    "wait_for_executed_gtid_set": REPLICATION_WAIT,
    "wait_until_sql_thread_after_gtids": REPLICATION_WAIT,
    "wsrep_sync_wait_*": REPLICATION_WAIT,
}

#: System tables that show every variable (``@@datadir`` and the rest below) or the
#: server's data files by path.
FORBIDDEN_RELATIONS: dict[str, str] = {
    "information_schema.global_variables": SERVER_PATHS,
    "information_schema.session_variables": SERVER_PATHS,
    "information_schema.system_variables": SERVER_PATHS,
    "information_schema.files": SERVER_PATHS,
    "information_schema.innodb_sys_datafiles": SERVER_PATHS,
    "information_schema.innodb_sys_tablespaces": SERVER_PATHS,
    "information_schema.innodb_datafiles": SERVER_PATHS,
    "performance_schema.*variables*": SERVER_PATHS,
    "performance_schema.file_*": SERVER_PATHS,
    "sys.*file*": SERVER_PATHS,
    "sys.x$*file*": SERVER_PATHS,
}

#: System variables (``@@name``, ``@@global.name``) holding a path, a socket, a key or a
#: log file.
FORBIDDEN_SETTINGS: dict[str, str] = {
    "*dir": SERVER_PATHS,
    "*_dir_*": SERVER_PATHS,
    "*directory": SERVER_PATHS,
    "*_file": SERVER_PATHS,
    "*_path": SERVER_PATHS,
    "*_basename": SERVER_PATHS,
    "*_index": SERVER_PATHS,
    "log_error": SERVER_PATHS,
    "socket": SERVER_PATHS,
    "secure_file_priv": SERVER_PATHS,
    "relay_log": SERVER_PATHS,
    "ssl_*": SERVER_PATHS,
    "init_*": SERVER_PATHS,
    "wsrep_provider*": SERVER_PATHS,
}
