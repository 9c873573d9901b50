"""Retention of the audit log: entries older than ``audit_retention_days`` are deleted.

Off unless the setting is given (the log is then append-only, as without it). The deleting
is :class:`querydeck.audit.pruning.Pruner`'s: oldest first, in batches, in the background,
each prune recorded as an ``audit.prune`` entry.
"""

from __future__ import annotations

from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner, PruneTarget
from querydeck.store.database import AppDatabase


def audit_pruner(db: AppDatabase, audit: AuditLog, max_age_days: float | None) -> Pruner:
    return Pruner(
        db,
        audit,
        action="audit.prune",
        max_age_days=max_age_days,
        target=PruneTarget(table="qd_audit", key="id", age="at"),
    )
