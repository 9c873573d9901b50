"""Retention of the audit log: entries older than ``audit_retention_days`` are deleted.

Off unless the setting is given (the log is then append-only, as without it). The deleting
is :class:`querydeck.store.pruning.Pruner`'s: oldest first, in batches, in the background,
each prune recorded as an ``audit.prune`` entry.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from querydeck.audit.log import AuditLog
from querydeck.store.database import AppDatabase
from querydeck.store.pruning import Pruner
from querydeck.store.tables import AuditRow

_AUDIT = cast(Table, AuditRow.__table__)


def audit_pruner(db: AppDatabase, audit: AuditLog, max_age_days: float | None) -> Pruner:
    return Pruner(
        db, audit, action="audit.prune", max_age_days=max_age_days, delete_batch=_delete_batch
    )


def _delete_batch(session: Session, before: dt.datetime, size: int) -> tuple[list[int], int]:
    oldest = select(AuditRow.id).where(AuditRow.at < before).order_by(AuditRow.id).limit(size)
    ids = list(session.scalars(oldest))
    if not ids:
        return [], 0
    result = session.execute(delete(_AUDIT).where(_AUDIT.c.id.in_(ids)))
    return ids, int(getattr(result, "rowcount", len(ids)))
