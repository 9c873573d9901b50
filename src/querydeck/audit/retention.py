"""Retention of the audit log: entries older than ``audit_retention_days`` are deleted.

Off unless the setting is given (the log is then append-only, as without this module). A
prune deletes in batches of ``BATCH`` entries, oldest first, each batch its own short
transaction, so that runs recording their entries meanwhile wait for one batch at most. A
prune that deleted anything records it as an entry of its own (``audit.prune``: how many,
and the cut-off), so the log always says that it was cut and where.

Prunes run in a background thread: at start, then at most every ``INTERVAL_S`` when runs
end or entries are recorded. Finding nothing to delete is one indexed read and writes
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from querydeck.audit.log import AuditLog
from querydeck.store.database import AppDatabase
from querydeck.store.tables import AuditRow, utcnow

log = logging.getLogger("querydeck.audit")
_AUDIT = cast(Table, AuditRow.__table__)

#: Entries deleted per transaction.
BATCH = 5000
#: Seconds between two prunes of one process.
INTERVAL_S = 3600.0


class AuditRetention:
    """Deletes audit entries older than ``max_age_days`` (None: never)."""

    def __init__(self, db: AppDatabase, audit: AuditLog, max_age_days: float | None) -> None:
        self._db = db
        self._audit = audit
        self.max_age_days = max_age_days
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune(self, now: dt.datetime | None = None) -> int:
        """Delete the entries older than the retention (oldest first, in batches); returns
        how many. 0 when retention is off, another prune is running, or the process is
        closing."""
        if self.max_age_days is None or not self._lock.acquire(blocking=False):
            return 0
        try:
            self._last = time.monotonic()
            before = (now or utcnow()) - dt.timedelta(days=self.max_age_days)
            deleted = 0
            while not self._stop.is_set():
                found, gone = self._db.write(lambda session: _delete_batch(session, before))
                deleted += gone  # another process pruning too may have taken some
                if found < BATCH:
                    break
            if deleted:
                self._audit.record(
                    "audit.prune",
                    actor=None,
                    target_type="audit",
                    detail={
                        "deleted": deleted,
                        "before": before.isoformat(),
                        "retention_days": self.max_age_days,
                    },
                )
                log.info("pruned %d audit entries older than %s", deleted, before.isoformat())
            return deleted
        finally:
            self._lock.release()

    def prune_soon(self) -> None:
        """Start a prune in a background thread when one is due (at most every
        ``INTERVAL_S``; never while one runs)."""
        if (
            self.max_age_days is None
            or self._stop.is_set()
            or time.monotonic() - self._last < INTERVAL_S
            or self._lock.locked()
        ):
            return
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._background, name="qd-audit-prune", daemon=True)
        self._thread.start()

    def _background(self) -> None:
        try:
            self.prune()
        except Exception:  # a failing prune must not kill anything; it is tried again later
            log.exception("audit retention prune failed")

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the batch in hand and wait for it (a process that ends)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)


def _delete_batch(session: Session, before: dt.datetime) -> tuple[int, int]:
    """Delete up to ``BATCH`` of the oldest entries recorded before ``before``: how many
    were found, and how many this transaction deleted."""
    oldest = select(AuditRow.id).where(AuditRow.at < before).order_by(AuditRow.id).limit(BATCH)
    ids = list(session.scalars(oldest))
    if not ids:
        return 0, 0
    result = session.execute(delete(_AUDIT).where(_AUDIT.c.id.in_(ids)))
    return len(ids), int(getattr(result, "rowcount", len(ids)))
