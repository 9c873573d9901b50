"""What the runner does to a statement before it runs: the guard, then the auto-LIMIT.

:class:`StatementChecker` is the one used in production. The :class:`Checker` protocol
exists so that tests can hand the Workbench a checker that lets everything through and
prove that the engine layers (read-only sessions, single-statement protocols, sandboxes,
timeouts) hold on their own; nothing else replaces it.
"""

from __future__ import annotations

import functools
import threading
from typing import Protocol

from querydeck.sql.guard import DEFAULT_MAX_TOKENS, guard
from querydeck.sql.policy import FunctionPolicy, parse_entries
from querydeck.sql.rewrite import with_row_cap
from querydeck.sql.rules import EngineRules

#: Statements up to this many characters that pass are remembered, this many of them.
CACHED_SQL_CHARS = 8192
CACHED_STATEMENTS = 1024


class Checker(Protocol):
    def __call__(self, sql: str, *, rules: EngineRules, max_rows: int) -> str:
        """The text to execute for ``sql`` on the engine of ``rules``, or raise
        :class:`~querydeck.errors.QueryRejected`."""
        ...


class StatementChecker:
    """The guard with each engine's policy plus the administrator's additions, then the
    row cap (re-guarded)."""

    def __init__(
        self,
        *,
        max_bytes: int,
        forbidden_functions: list[str] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_tokens = max_tokens
        self._extra = parse_entries(forbidden_functions or [])
        self._policies: dict[int, tuple[EngineRules, FunctionPolicy]] = {}
        self._lock = threading.Lock()
        # A pure function of its arguments and this checker's settings: statements that
        # pass are remembered (a refusal is worked out again, with its own details).
        self._remembered = functools.lru_cache(maxsize=CACHED_STATEMENTS)(self._check)

    def policy(self, rules: EngineRules) -> FunctionPolicy:
        """The engine's policy with the administrator's additions (one per engine)."""
        known = self._policies.get(id(rules))
        if known is not None:
            return known[1]
        with self._lock:
            policy = FunctionPolicy(
                rules.forbidden_functions, dialect=rules.dialect, extra=self._extra
            )
            # The rules are kept with their policy so that their id is never reused.
            self._policies[id(rules)] = (rules, policy)
            return policy

    def __call__(self, sql: str, *, rules: EngineRules, max_rows: int) -> str:
        if len(sql) > CACHED_SQL_CHARS:
            return self._check(sql, rules, max_rows)
        return self._remembered(sql, rules, max_rows)

    def _check(self, sql: str, rules: EngineRules, max_rows: int) -> str:
        policy = self.policy(rules)
        statement = guard(
            sql, rules=rules, max_bytes=self.max_bytes, policy=policy, max_tokens=self.max_tokens
        )
        capped = with_row_cap(
            statement,
            max_rows=max_rows,
            rules=rules,
            max_bytes=self.max_bytes,
            policy=policy,
            max_tokens=self.max_tokens,
        )
        return capped.sql
