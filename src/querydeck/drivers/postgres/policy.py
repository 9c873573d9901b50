"""Functions a read-only statement may not call on PostgreSQL: ``fnmatch`` patterns on
the normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown
to the user. The driver declares this table; the guard and the engine's own parser's
second opinion apply it, with the entries common to every engine and an administrator's
additions."""

from __future__ import annotations

from querydeck.sql.policy import (
    CONFIG,
    FILE_ACCESS,
    INDEX_WRITE,
    NETWORK,
    SERVER_PATHS,
    SIDE_EFFECT,
    SLEEP_LOCK,
    SQL_IN_STRING,
    WHOLE_OBJECTS,
)

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "pg_sleep*": SLEEP_LOCK,
    "pg_advisory_*": SLEEP_LOCK,
    "pg_try_advisory_*": SLEEP_LOCK,
    "pg_read_file": FILE_ACCESS,
    "pg_read_binary_file": FILE_ACCESS,
    "pg_ls_*": FILE_ACCESS,
    "pg_stat_file": FILE_ACCESS,
    "pg_file_*": FILE_ACCESS,
    "lo_*": FILE_ACCESS,
    "loread": FILE_ACCESS,
    "lowrite": FILE_ACCESS,
    "set_config": CONFIG,
    "pg_reload_conf": CONFIG,
    "dblink*": NETWORK,
    "query_to_xml*": SQL_IN_STRING,
    "cursor_to_xml*": SQL_IN_STRING,
    # The rest of the SQL/XML export family: one cell holding every row of a table, a
    # schema or the database (tables read without appearing in the audit's tables read).
    "table_to_xml*": WHOLE_OBJECTS,
    "schema_to_xml*": WHOLE_OBJECTS,
    "database_to_xml*": WHOLE_OBJECTS,
    "pg_terminate_backend": SIDE_EFFECT,
    "pg_cancel_backend": SIDE_EFFECT,
    "pg_rotate_logfile*": SIDE_EFFECT,
    "pg_switch_wal": SIDE_EFFECT,
    "pg_notify": SIDE_EFFECT,
    "pg_create_*": SIDE_EFFECT,
    "pg_drop_*": SIDE_EFFECT,
    "pg_logical_*": SIDE_EFFECT,
    "pg_replication_*": SIDE_EFFECT,
    "pg_promote": SIDE_EFFECT,
    "ts_stat": SQL_IN_STRING,
    "pg_stat_reset*": SIDE_EFFECT,
    "pg_stat_statements_reset": SIDE_EFFECT,
    "pg_backup_*": SIDE_EFFECT,
    "pg_start_backup": SIDE_EFFECT,
    "pg_stop_backup": SIDE_EFFECT,
    "pg_wal_replay_*": SIDE_EFFECT,
    "pg_import_system_collations": SIDE_EFFECT,
    "pg_log_backend_memory_contexts": SIDE_EFFECT,
    "pg_current_logfile": FILE_ACCESS,
    "pg_logdir_ls": FILE_ACCESS,
    "txid_current": SIDE_EFFECT,
    "pg_current_xact_id": SIDE_EFFECT,
    # Index maintenance: these write to the index, inside a READ ONLY transaction too.
    "brin_summarize_new_values": INDEX_WRITE,
    "brin_summarize_range": INDEX_WRITE,
    "brin_desummarize_range": INDEX_WRITE,
    "gin_clean_pending_list": INDEX_WRITE,
    # The rest of pg_proc's volatile functions that change state (PostgreSQL 15-17).
    "pg_copy_*_replication_slot": SIDE_EFFECT,
    "pg_export_snapshot": SIDE_EFFECT,
    "pg_extension_config_dump": SIDE_EFFECT,
    "pg_nextoid": SIDE_EFFECT,
    "pg_stop_making_pinned_objects": SIDE_EFFECT,
    "pg_sync_replication_slots": SIDE_EFFECT,
    "pg_log_standby_snapshot": SIDE_EFFECT,
    "binary_upgrade_*": SIDE_EFFECT,
    "setseed": CONFIG,
    # Server file paths, commands and configuration files.
    "pg_show_all_settings": SERVER_PATHS,
    "pg_show_all_file_settings": SERVER_PATHS,
    "pg_hba_file_rules": SERVER_PATHS,
    "pg_ident_file_mappings": SERVER_PATHS,
    "pg_config": SERVER_PATHS,
    "pg_tablespace_location": SERVER_PATHS,
    "pg_relation_filepath": SERVER_PATHS,
}

#: Views over the functions above: they would show the same through a relation.
FORBIDDEN_RELATIONS: dict[str, str] = {
    "pg_settings": SERVER_PATHS,
    "pg_file_settings": SERVER_PATHS,
    "pg_hba_file_rules": SERVER_PATHS,
    "pg_ident_file_mappings": SERVER_PATHS,
    "pg_config": SERVER_PATHS,
}

#: Settings that hold a path, a command, a library or a connection string (with its
#: password), read with ``current_setting('…')`` (``SHOW`` is refused as a statement).
FORBIDDEN_SETTINGS: dict[str, str] = {
    "data_directory": SERVER_PATHS,
    "*_file": SERVER_PATHS,
    "*_dir": SERVER_PATHS,
    "*_directory": SERVER_PATHS,
    "*_directories": SERVER_PATHS,
    "*_destdir": SERVER_PATHS,
    "log_filename": SERVER_PATHS,
    "dynamic_library_path": SERVER_PATHS,
    "*_command": SERVER_PATHS,
    "*_keyfile": SERVER_PATHS,
    "*_library": SERVER_PATHS,
    "*_libraries": SERVER_PATHS,
    "primary_conninfo": SERVER_PATHS,
    "primary_slot_name": SERVER_PATHS,
}

SETTING_FUNCTIONS = frozenset({"current_setting"})
