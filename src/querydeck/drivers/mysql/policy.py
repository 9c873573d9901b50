"""Functions a read-only statement may not call on MySQL and MariaDB: ``fnmatch`` patterns on
the normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown
to the user. The driver declares this table; the guard and the engine's own parser's
second opinion apply it, with the entries common to every engine and an administrator's
additions."""

from __future__ import annotations

from querydeck.sql.policy import FILE_ACCESS, SIDE_EFFECT, SLEEP_LOCK

FORBIDDEN_FUNCTIONS: dict[str, str] = {
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
    "wait_until_sql_thread_after_gtids": SLEEP_LOCK,
    "lastval": SIDE_EFFECT,
}
