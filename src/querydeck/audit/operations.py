"""Auditing an operation whatever its ending: ``with AuditedOperation(...) as op:``.

The entry is written when the block ends: ``ok`` when it completed, else ``denied`` (a
rule refused it) or ``error`` with the error's code. The exception always propagates: the
audit log never changes what the caller sees.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.auth.principal import Principal
from querydeck.errors import (
    ConnectionParamForbidden,
    ConnectionPrivileged,
    ConnectionTargetForbidden,
    Forbidden,
    QueryDeckError,
    QueryRejected,
    RateLimited,
    Unauthenticated,
)

#: Errors that mean a rule refused the operation (outcome ``denied``).
DENIALS: tuple[type[QueryDeckError], ...] = (
    ConnectionParamForbidden,
    ConnectionPrivileged,
    ConnectionTargetForbidden,
    Forbidden,
    QueryRejected,
    RateLimited,
    Unauthenticated,
)


def outcome_of(exc: BaseException) -> tuple[str, str]:
    """``(outcome, error code)`` of an operation that raised ``exc``."""
    if isinstance(exc, QueryDeckError):
        return ("denied" if isinstance(exc, DENIALS) else "error"), exc.code
    return "error", QueryDeckError.code


class AuditedOperation:
    """One audited operation on a target (a connection, a user...).

    ``lookup`` finds the target's id from ``name`` when :meth:`done` did not give it (an
    operation that failed on an existing target); it may raise, and is then ignored.
    """

    def __init__(
        self,
        audit: AuditLog,
        action: str,
        actor: Principal | None,
        detail: dict[str, Any],
        *,
        target_type: str,
        name: str | None = None,
        lookup: Callable[[str], str] | None = None,
        connection_target: bool = True,
    ) -> None:
        self._audit = audit
        self._action = action
        self._actor = actor
        self._detail = dict(detail)
        self._target_type = target_type
        self._name = name
        self._lookup = lookup
        self._connection_target = connection_target
        self._target_id: str | None = None

    def done(self, target_id: str | None = None, **detail: Any) -> None:
        """The operation completed on ``target_id``; ``detail`` adds facts to the entry."""
        self._target_id = target_id or self._target_id
        self._detail.update(detail)

    def __enter__(self) -> AuditedOperation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        outcome = "ok"
        if exc is not None:
            outcome, self._detail["error_code"] = outcome_of(exc)
        target_id = self._target_id
        if target_id is None and self._name is not None and self._lookup is not None:
            try:
                target_id = self._lookup(self._name)
            except Exception:  # no such target (yet): the entry names it in detail
                target_id = None
        self._audit.record(
            self._action,
            actor=self._actor,
            outcome=outcome,
            target_type=self._target_type,
            target_id=target_id,
            connection_id=target_id if self._connection_target else None,
            detail=self._detail,
        )
