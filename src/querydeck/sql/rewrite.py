"""Rewrites applied to a guarded statement before it runs.

The auto-LIMIT keeps the user's text byte for byte and appends ``LIMIT cap+1`` when the
statement has no LIMIT/FETCH of its own (the extra row tells the runner the result was
truncated). The rewritten text is guarded again: what runs is what was checked.
"""

from __future__ import annotations

from sqlglot import exp

from querydeck.sql.guard import DEFAULT_MAX_TOKENS, GuardedStatement, guard
from querydeck.sql.policy import FunctionPolicy
from querydeck.sql.rules import EngineRules


def with_row_cap(
    statement: GuardedStatement,
    *,
    max_rows: int,
    rules: EngineRules,
    max_bytes: int,
    policy: FunctionPolicy | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> GuardedStatement:
    """The statement to execute for a run capped at ``max_rows`` rows."""
    if statement.explain or statement.has_limit or isinstance(statement.tree, exp.Values):
        return statement
    capped = f"{statement.sql}\nLIMIT {max_rows + 1}"
    return guard(
        capped, rules=rules, max_bytes=max_bytes + 32, policy=policy, max_tokens=max_tokens + 4
    )
