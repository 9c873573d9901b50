"""Runs left behind: ``queued`` or ``running`` in the history, but their process is gone.

A process that is killed, crashes or loses its machine cannot end its runs. Left alone they
would stay ``running`` for ever: in the history, to ``GET /runs/{id}``, and to retention,
which must not remove the result of a run in flight. :func:`recover` finds them and ends
them ``failed`` with ``RUN_INTERRUPTED`` (their partial results are removed) and writes the
``run.finish`` audit entry their process could not write, in the same transaction (pages of
a run can be read while it runs, so such a run may have handed out rows); it runs when a
Workbench starts and before every retention sweep. A run is left behind when

- its owner (:mod:`querydeck.runs.owner`) is a process of this machine that is gone, or
- its owner cannot be checked (another machine, or a run recorded before owners were) and
  it is past any time it could still be running: its time limit plus ``GRACE_S`` after it
  started, or ``QUEUED_LIMIT_S`` after it was queued.

Everything else still unfinished is in flight somewhere, and retention keeps its result.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from querydeck.audit.log import AuditLog
from querydeck.drivers import registry
from querydeck.errors import QueryDeckError, RunInterrupted
from querydeck.runs import owner
from querydeck.runs.active import finish_entry_fields
from querydeck.runs.models import RunStatus
from querydeck.runs.results.store import ResultStore
from querydeck.store.database import AppDatabase

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from querydeck.store.tables import RunRow

log = logging.getLogger("querydeck.runs")

#: After its time limit, how long a run of an unknown process may still be ending.
GRACE_S = 600.0
#: How long a run of an unknown process may wait for a worker.
QUEUED_LIMIT_S = 86_400.0
INTERRUPTED = RunInterrupted.code
MESSAGE = "The run was interrupted: the querydeck process running it stopped. Run it again."
_UNFINISHED = (RunStatus.queued.value, RunStatus.running.value)


def recover(
    db: AppDatabase,
    results: ResultStore,
    *,
    mine: Collection[str] = (),
    now: datetime | None = None,
) -> tuple[list[str], set[str]]:
    """End the runs left behind; returns their ids, and the ids of the unfinished runs that
    are still in flight (``mine``, this process's, always are)."""
    now = now or datetime.now(UTC)
    with db.read_plain() as cursor:  # every process starts so: no ORM
        found = db.plain.rows(
            cursor,
            "qd_runs",
            "SELECT id, owner, status, created_at, started_at, timeout_s FROM qd_runs "
            f"WHERE status IN ({db.plain.marks(len(_UNFINISHED))})",
            _UNFINISHED,
        )
    gone: list[str] = []
    live: set[str] = set()
    for row in found:
        run_id, run_owner, status = row["id"], row["owner"], row["status"]
        created_at, started_at, timeout_s = row["created_at"], row["started_at"], row["timeout_s"]
        if run_id in mine:
            live.add(run_id)
            continue
        running = owner.alive(run_owner)
        if running is None:  # cannot be asked: is it past any time it could still run?
            if status == RunStatus.running.value:
                limit = (started_at or created_at) + timedelta(seconds=timeout_s + GRACE_S)
            else:
                limit = created_at + timedelta(seconds=QUEUED_LIMIT_S)
            running = now <= limit
        if running:
            live.add(run_id)
        else:
            gone.append(run_id)
    if gone:
        _end(db, gone, now)
        for run_id in gone:
            results.delete(run_id)
        log.warning("ended %d run(s) whose process had stopped", len(gone))
    return gone, live


def _end(db: AppDatabase, run_ids: list[str], now: datetime) -> None:
    from sqlalchemy import select

    from querydeck.store.tables import RunRow

    def change(tx: Session) -> None:
        ended = tx.scalars(
            select(RunRow).where(RunRow.id.in_(run_ids), RunRow.status.in_(_UNFINISHED))
        ).all()
        for row in ended:
            row.status = RunStatus.failed.value
            row.error_code, row.error_message, row.error_status = INTERRUPTED, MESSAGE, 500
            row.error_detail, row.finished_at = None, now
            row.result_state, row.result_file = None, None
            AuditLog.add(tx, _entry(row))

    db.write(change)


def _entry(row: RunRow) -> dict[str, Any]:
    """The ``run.finish`` entry of an interrupted run, as the runner writes one."""
    values = {"status": row.status, "error_code": INTERRUPTED}
    return AuditLog.entry(
        **finish_entry_fields(
            run_id=row.id,
            actor=row.user_name,
            connection_id=row.connection_id,
            connection_name=row.connection_name,
            driver=row.driver,
            sql=row.sql,
            dialect=_dialect(row.driver),
            request_id=None,
            values=values,
        )
    )


def _dialect(driver: str | None) -> str:
    try:
        return str(registry.load(driver).dialect) if driver else ""
    except QueryDeckError:  # a driver no longer installed: parse in sqlglot's own dialect
        return ""
