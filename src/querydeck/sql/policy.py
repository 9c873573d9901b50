"""Function policy: which functions a read-only statement may not call, per dialect.

The policy is data. Each entry is an ``fnmatch`` pattern on the function's normalised name
(lower case, without schema qualification or quoting) and the reason shown to the user.
Patterns under ``"*"`` apply to every dialect. An administrator adds entries with the
``forbidden_functions`` setting (``QUERYDECK_FORBIDDEN_FUNCTIONS``, entries
``dialect:pattern``); they can only add to the tables, never remove from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

FILE_ACCESS = "reads or writes files on the server"
SIDE_EFFECT = "has side effects outside the query"
SQL_IN_STRING = "runs SQL given as a string"
SLEEP_LOCK = "sleeps or takes locks"
CONFIG = "changes configuration"
NETWORK = "opens network connections"
SECRETS = "reveals stored credentials"
ADMIN = "is forbidden by the administrator's policy"

#: Dialect names accepted in an admin entry (``*`` means every dialect).
KNOWN_DIALECTS = ("*", "postgres", "mysql", "sqlite", "duckdb")
_CACHE_LIMIT = 4096
_PATTERN = re.compile(r"^[a-z0-9_*?\[\]!$]+$")

FORBIDDEN_FUNCTIONS: dict[str, dict[str, str]] = {
    "*": {
        "nextval": SIDE_EFFECT,
        "setval": SIDE_EFFECT,
        "next_value_for": SIDE_EFFECT,
        "to_file": FILE_ACCESS,
    },
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
        "wait_until_sql_thread_after_gtids": SLEEP_LOCK,
        "lastval": SIDE_EFFECT,
    },
    "sqlite": {
        "load_extension": FILE_ACCESS,
        "readfile": FILE_ACCESS,
        "writefile": FILE_ACCESS,
        "edit": SIDE_EFFECT,
        "fts3_tokenizer": SIDE_EFFECT,
        "fsdir": FILE_ACCESS,
        "zipfile": FILE_ACCESS,
        "sqlar_*": FILE_ACCESS,
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
    },
}


def normalise(name: str) -> str:
    """A function name as the policy compares it: trimmed, unquoted, lower case, without
    schema qualification."""
    return name.strip().strip('"`[]').rsplit(".", 1)[-1].strip('"`[]').lower()


def parse_entries(entries: Iterable[str]) -> dict[str, dict[str, str]]:
    """Admin entries ``dialect:pattern`` as policy tables; raises ``ValueError`` with the
    entry at fault."""
    tables: dict[str, dict[str, str]] = {}
    for entry in entries:
        dialect, sep, pattern = entry.strip().partition(":")
        dialect, pattern = dialect.strip().lower(), pattern.strip().lower()
        if not sep or dialect not in KNOWN_DIALECTS or not _PATTERN.match(pattern):
            raise ValueError(
                f"{entry!r} is not a function policy entry: write dialect:pattern with a "
                f"dialect among {', '.join(KNOWN_DIALECTS)} and a pattern of letters, digits, "
                "_ and the wildcards * ? [ ]"
            )
        tables.setdefault(dialect, {})[pattern] = ADMIN
    return tables


class FunctionPolicy:
    """The built-in tables plus an administrator's additions."""

    def __init__(self, extra: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.tables: dict[str, dict[str, str]] = {
            dialect: dict(table) for dialect, table in FORBIDDEN_FUNCTIONS.items()
        }
        for dialect, table in (extra or {}).items():
            self.tables.setdefault(dialect, {}).update(
                {
                    pattern: reason
                    for pattern, reason in table.items()
                    if pattern not in self.tables.get(dialect, {})
                }
            )
        self._cache: dict[tuple[str, str], str | None] = {}

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> FunctionPolicy:
        return cls(parse_entries(entries))

    def reason(self, dialect: str, name: str) -> str | None:
        """Why ``name`` may not be called in ``dialect``, or None when it may."""
        key = (dialect, name)
        if key in self._cache:
            return self._cache[key]
        reason = self._lookup(dialect, normalise(name))
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[key] = reason
        return reason

    def _lookup(self, dialect: str, normalised: str) -> str | None:
        for table in (self.tables.get("*", {}), self.tables.get(dialect, {})):
            for pattern, reason in table.items():
                if fnmatchcase(normalised, pattern):
                    return reason
        return None


#: The built-in policy, without administrator additions.
DEFAULT_POLICY = FunctionPolicy()


def forbidden_reason(dialect: str, name: str) -> str | None:
    """Why ``name`` may not be called in ``dialect`` under the built-in policy."""
    return DEFAULT_POLICY.reason(dialect, name)


POLICY_DOC_HEADER = """# Function policy

The guard refuses a statement that calls one of these functions (see
[runs.md](runs.md#the-guard)). Names are compared after normalisation — lower case, quotes
and schema qualification removed, comments between the name and `(` ignored — against
`fnmatch` patterns (`*` any run of characters, `?` one character). A `FILE_ACCESS_DENIED`
answer (HTTP 403) means the function reads or writes files; every other entry answers
`SQL_FORBIDDEN_FUNCTION` (HTTP 422).

An administrator adds entries with `QUERYDECK_FORBIDDEN_FUNCTIONS` (comma-separated
`dialect:pattern`, dialect `*` for all; see [configuration.md](configuration.md)); entries
can only be added, never removed. This page is generated from
`src/querydeck/sql/policy.py` (`python -m querydeck.reference`, run by `make docs`) and
checked by a test.
"""


def policy_markdown() -> str:
    """``docs/function-policy.md``: one table per dialect, generated from the data."""
    parts = [POLICY_DOC_HEADER]
    titles = {"*": "Every dialect"}
    for dialect, table in FORBIDDEN_FUNCTIONS.items():
        parts.append(f"\n## {titles.get(dialect, dialect)}\n\n| pattern | why |\n|---|---|\n")
        parts.extend(f"| `{pattern}` | {reason} |\n" for pattern, reason in table.items())
    return "".join(parts)
