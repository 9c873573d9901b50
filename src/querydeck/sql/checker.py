"""What the runner does to a statement before it runs: the guard, then the auto-LIMIT.

:class:`StatementChecker` is the one used in production. The :class:`Checker` protocol
exists so that tests can hand the Workbench a checker that lets everything through and
prove that the engine layers (read-only sessions, single-statement protocols, sandboxes,
timeouts) hold on their own; nothing else replaces it.
"""

from __future__ import annotations

import functools
from typing import Protocol

from querydeck.sql.guard import guard
from querydeck.sql.policy import FunctionPolicy
from querydeck.sql.rewrite import with_row_cap

#: Statements up to this many characters that pass are remembered, this many of them.
CACHED_SQL_CHARS = 8192
CACHED_STATEMENTS = 1024


class Checker(Protocol):
    def __call__(self, sql: str, *, dialect: str, max_rows: int) -> str:
        """The text to execute for ``sql``, or raise
        :class:`~querydeck.errors.QueryRejected`."""
        ...


class StatementChecker:
    """The guard with the configured function policy, then the row cap (re-guarded)."""

    def __init__(self, *, max_bytes: int, forbidden_functions: list[str] | None = None) -> None:
        self.max_bytes = max_bytes
        self.policy = FunctionPolicy.from_entries(forbidden_functions or [])
        # A pure function of its arguments and this checker's settings: statements that
        # pass are remembered (a refusal is worked out again, with its own details).
        self._remembered = functools.lru_cache(maxsize=CACHED_STATEMENTS)(self._check)

    def __call__(self, sql: str, *, dialect: str, max_rows: int) -> str:
        if len(sql) > CACHED_SQL_CHARS:
            return self._check(sql, dialect, max_rows)
        return self._remembered(sql, dialect, max_rows)

    def _check(self, sql: str, dialect: str, max_rows: int) -> str:
        statement = guard(sql, dialect=dialect, max_bytes=self.max_bytes, policy=self.policy)
        capped = with_row_cap(
            statement,
            max_rows=max_rows,
            dialect=dialect,
            max_bytes=self.max_bytes,
            policy=self.policy,
        )
        return capped.sql
