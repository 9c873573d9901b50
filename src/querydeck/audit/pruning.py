"""Deleting old rows of a table that only grows (the audit log, the run history), when a
retention setting asks for it.

A prune deletes in batches of ``BATCH`` rows, oldest first, each batch its own short
transaction, so that writers meanwhile wait for one batch at most. A prune that deleted
anything is recorded as an audit entry of its own (how many, and the cut-off), so the log
always says what was cut and where. Prunes run in a background thread: at start, then at
most every ``INTERVAL_S`` when :meth:`Pruner.prune_soon` is called (as runs end). Finding
nothing to delete is one indexed read and writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from querydeck.audit.log import AuditLog
from querydeck.store.database import AppDatabase
from querydeck.store.plain import Cursor, utcnow

log = logging.getLogger("querydeck.store")

#: Rows deleted per transaction.
BATCH = 5000
#: Seconds between two prunes of one process.
INTERVAL_S = 3600.0


@dataclasses.dataclass(frozen=True)
class PruneTarget:
    """What a :class:`Pruner` deletes from: rows of the table ``table`` whose timestamp
    column ``age`` is older than the retention, and that match ``where`` (SQL with ``?``
    marks for ``params``); the column ``key`` names a row (with ``age``, the order of
    deletion: an index on both keeps it cheap)."""

    table: str
    key: str
    age: str
    where: str = ""
    params: tuple[Any, ...] = ()


class Pruner:
    """Deletes the rows of its :class:`PruneTarget` older than ``max_age_days`` (None:
    never), with plain SQL (a prune that finds nothing, as most do, loads no SQLAlchemy).
    ``after`` gets the keys of each deleted batch once its transaction has committed
    (files to remove with the rows)."""

    def __init__(
        self,
        db: AppDatabase,
        audit: AuditLog,
        *,
        action: str,
        max_age_days: float | None,
        target: PruneTarget,
        after: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self._db = db
        self._audit = audit
        self.action = action
        self.max_age_days = max_age_days
        self._target = target
        self._after = after
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune(self, now: dt.datetime | None = None) -> int:
        """Delete the rows older than the retention; returns how many. 0 when retention is
        off, another prune of this pruner is running, or the process is closing."""
        if self.max_age_days is None or not self._lock.acquire(blocking=False):
            return 0
        try:
            self._last = time.monotonic()
            before = (now or utcnow()) - dt.timedelta(days=self.max_age_days)
            deleted = 0
            while not self._stop.is_set():
                keys, gone = self._db.write_raw(lambda cursor: self._delete_batch(cursor, before))
                deleted += gone
                if keys and self._after is not None:
                    self._after(keys)
                if len(keys) < BATCH:
                    break
            if deleted:
                self._audit.record(
                    self.action,
                    actor=None,
                    target_type=self.action.split(".", 1)[0],
                    detail={
                        "deleted": deleted,
                        "before": before.isoformat(),
                        "retention_days": self.max_age_days,
                    },
                )
                log.info("%s: deleted %d rows older than %s", self.action, deleted, before)
            return deleted
        finally:
            self._lock.release()

    def _delete_batch(self, cursor: Cursor, before: dt.datetime) -> tuple[list[Any], int]:
        """Delete up to ``BATCH`` of the oldest rows before ``before``: the keys of those
        found, and how many this transaction deleted (another process pruning too may have
        taken some)."""
        plain, target = self._db.plain, self._target
        where = f"{target.age} < ?" + (f" AND {target.where}" if target.where else "")
        keys = plain.scalars(
            cursor,
            f"SELECT {target.key} FROM {target.table} WHERE {where} "
            f"ORDER BY {target.age}, {target.key} LIMIT ?",
            [plain.time(before), *target.params, BATCH],
        )
        if not keys:
            return [], 0
        cursor.execute(
            plain.sql(
                f"DELETE FROM {target.table} WHERE {target.key} IN ({plain.marks(len(keys))})"
                + (f" AND {target.where}" if target.where else "")
            ),
            (*keys, *target.params),
        )
        return keys, int(cursor.rowcount)

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
        self._thread = threading.Thread(target=self._background, name="qd-prune", daemon=True)
        self._thread.start()

    def _background(self) -> None:
        try:
            self.prune()
        except Exception:  # a failing prune must not kill anything; it is tried again later
            log.exception("%s failed", self.action)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the batch in hand and wait for it (a process that ends)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
