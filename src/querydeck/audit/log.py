"""The audit log: an append-only table of who did what, to what, with which outcome.

:meth:`AuditLog.record` writes one entry in its own transaction and never raises into the
caller's operation: a failure is logged at ERROR (``audit_write_failed``) and counted
(``querydeck_audit_write_failures_total``). That is the right trade for events whose
operation has already happened or reads nothing (a login, a connection change, an export
whose rows were audited when they were read). Reading data fails closed instead: the run
runner writes a run's entry with :meth:`AuditLog.insert` in the same transaction as the run's
final status, so a run whose entry cannot be written ends failed (``AUDIT_UNAVAILABLE``)
and its rows are never handed out. See docs/audit.md.

There is no update or delete path; retention is not implemented (yet).
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from querydeck import logs
from querydeck.audit.models import AuditEntry, AuditPage, Outcome
from querydeck.audit.redact import sanitise
from querydeck.auth.principal import Principal
from querydeck.errors import CursorInvalid, InvalidInput
from querydeck.store.database import AppDatabase
from querydeck.store.plain import Cursor, utcnow

if TYPE_CHECKING:
    from prometheus_client import Counter
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from querydeck.store.tables import AuditRow

log = logs.get("querydeck.audit")
MAX_PAGE = 1000
_CURSOR_PREFIX = "audit:"


@functools.cache
def write_failures() -> Counter:
    """The counter of audit entries that could not be written, registered with the first
    one (prometheus_client loads with it; the API's ``/metrics`` loads it anyway)."""
    from prometheus_client import Counter

    return Counter(
        "querydeck_audit_write_failures_total",
        "Audit entries that could not be written, by action.",
        ["action"],
    )


def _cut(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


def current_request_id() -> str | None:
    """The request id the API bound to this context (None outside a request)."""
    return logs.request_id() or None


def encode_cursor(entry_id: int) -> str:
    raw = f"{_CURSOR_PREFIX}{entry_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError("not an audit cursor")
        return int(raw.removeprefix(_CURSOR_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorInvalid("The cursor is not one this server handed out.") from None


def entry_of(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        actor_role=row.actor_role,
        via=row.via,
        address=row.address,
        request_id=row.request_id,
        action=row.action,
        outcome=Outcome(row.outcome),
        target_type=row.target_type,
        target_id=row.target_id,
        connection_id=row.connection_id,
        detail=row.detail or {},
    )


class AuditLog:
    """Appends entries to ``qd_audit`` and reads them back for administrators."""

    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    # --- writing ----------------------------------------------------------------------

    @staticmethod
    def entry(
        action: str,
        *,
        actor: Principal | str | None,
        outcome: str = "ok",
        target_type: str | None = None,
        target_id: str | None = None,
        connection_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        address: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The column values of a new, sanitised entry (not written; the database numbers
        it). ``actor`` is a principal, or a bare user name when only that is known; the
        request id defaults to the one of the current API request."""
        name, role, via = None, None, None
        if isinstance(actor, Principal):
            name, role, via = actor.username, actor.role.value, actor.via
            address = address or actor.address
        elif isinstance(actor, str):
            name = actor
        known = outcome if outcome in Outcome.__members__ else Outcome.error.value
        return {
            "at": utcnow(),
            "actor": _cut(name, 200),
            "actor_role": role,
            "via": _cut(via, 16),
            "address": _cut(address, 64),
            "request_id": _cut(request_id or current_request_id(), 64),
            "action": action[:64],
            "outcome": known,
            "target_type": _cut(target_type, 32),
            "target_id": _cut(target_id, 200),
            "connection_id": _cut(connection_id, 36),
            "detail": sanitise(detail),
        }

    @staticmethod
    def add(tx: Session, entry: dict[str, Any]) -> None:
        """Append ``entry`` in the caller's transaction (it commits or fails with it). Each
        call adds a new instance, so a retried transaction never reuses one a rolled-back
        session has seen."""
        from querydeck.store.tables import AuditRow

        tx.add(AuditRow(**entry))

    @staticmethod
    def insert(db: AppDatabase, cursor: Cursor, entry: dict[str, Any]) -> None:
        """:meth:`add` for a transaction of :meth:`AppDatabase.write_raw`."""
        db.fast("qd_audit").insert(cursor, entry)

    def record(
        self,
        action: str,
        *,
        actor: Principal | str | None,
        outcome: str = "ok",
        target_type: str | None = None,
        target_id: str | None = None,
        connection_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        address: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Append one entry in its own transaction. Never raises: a failure is logged at
        ERROR and counted, and the caller's operation goes on (see the module docstring
        for where querydeck fails closed instead)."""
        try:
            row = self.entry(
                action,
                actor=actor,
                outcome=outcome,
                target_type=target_type,
                target_id=target_id,
                connection_id=connection_id,
                detail=detail,
                address=address,
                request_id=request_id,
            )
            self._db.write_raw(lambda cursor: self.insert(self._db, cursor, row))
        except Exception as exc:  # the audited operation must not fail because of its log
            self.failed(action, exc)

    @staticmethod
    def failed(action: str, exc: BaseException) -> None:
        """Log and count an entry that could not be written."""
        write_failures().labels(action=action[:64]).inc()
        log.error("audit_write_failed", action=action[:64], error_type=type(exc).__name__)

    # --- reading ----------------------------------------------------------------------

    def listing(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        actor: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        connection_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
    ) -> AuditPage:
        """Entries newest first. ``action`` is a name (``run.finish``) or a family
        (``connection.*``); ``since``/``until`` bound the time (inclusive, exclusive).
        With ``cursor`` (the previous page's ``next_cursor``) the page starts right after
        that entry and ``offset`` is ignored."""
        from sqlalchemy import func, select

        from querydeck.store.tables import AuditRow

        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE} and offset at least 0.")
        for moment in (since, until):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput("since and until must carry a time zone (UTC).")
        query = self._filtered(
            actor, action, outcome, target_type, target_id, connection_id, since, until
        )
        page_query = query
        if cursor is not None:
            page_query = query.where(AuditRow.id < decode_cursor(cursor))
            offset = 0
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = tx.scalars(
                page_query.order_by(AuditRow.id.desc()).limit(limit).offset(offset)
            ).all()
            items = [entry_of(r) for r in rows]
        next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
        return AuditPage(
            items=items, total=total, limit=limit, offset=offset, next_cursor=next_cursor
        )

    @staticmethod
    def _filtered(
        actor: str | None,
        action: str | None,
        outcome: str | None,
        target_type: str | None,
        target_id: str | None,
        connection_id: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> Select[AuditRow]:
        from sqlalchemy import select

        from querydeck.store.tables import AuditRow

        query = select(AuditRow)
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if action is not None and action.endswith(".*"):
            family = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AuditRow.action.like(f"{family}%", escape="\\"))
        elif action is not None:
            query = query.where(AuditRow.action == action)
        if outcome is not None:
            query = query.where(AuditRow.outcome == outcome)
        if target_type is not None:
            query = query.where(AuditRow.target_type == target_type)
        if target_id is not None:
            query = query.where(AuditRow.target_id == target_id)
        if connection_id is not None:
            query = query.where(AuditRow.connection_id == connection_id)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if until is not None:
            query = query.where(AuditRow.at < until)
        return query
