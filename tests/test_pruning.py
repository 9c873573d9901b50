"""Retention of the audit log (``audit_retention_days``) and of the run history
(``history_retention_days``): off by default; old rows deleted in batches, newer ones (and
runs in flight) kept, and every prune recorded as an audit entry of its own."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from querydeck.app.workbench import Workbench
from querydeck.audit import pruning
from querydeck.audit.log import AuditLog
from querydeck.audit.retention import audit_pruner
from querydeck.errors import ConfigError, NotFound
from querydeck.runs.history_retention import history_pruner
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import Settings, load_settings
from querydeck.store.database import AppDatabase
from querydeck.store.tables import AuditRow, RunRow, utcnow


def _add(db: AppDatabase, count: int, at: dt.datetime, action: str) -> None:
    def work(session: object) -> None:
        for _ in range(count):
            entry = AuditLog.entry(action, actor="someone", detail={"n": 1})
            entry["at"] = at
            AuditLog.add(session, entry)  # type: ignore[arg-type]

    db.write(work)


def _actions(db: AppDatabase) -> dict[str, int]:
    with db.read() as tx:
        rows = tx.execute(select(AuditRow.action, func.count()).group_by(AuditRow.action)).all()
    return {str(action): int(count) for action, count in rows}


def test_old_entries_go_in_batches_newer_stay_and_the_prune_is_recorded(
    db: AppDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pruning, "BATCH", 7)  # several batches, the last one partial
    now = utcnow()
    _add(db, 23, now - dt.timedelta(days=40), "test.old")
    _add(db, 5, now - dt.timedelta(days=10), "test.new")
    audit = AuditLog(db)
    pruner = audit_pruner(db, audit, 30)
    assert pruner.prune() == 23
    assert _actions(db) == {"test.new": 5, "audit.prune": 1}
    with db.read() as tx:
        entry = tx.scalars(select(AuditRow).where(AuditRow.action == "audit.prune")).one()
    assert entry.detail["deleted"] == 23
    assert entry.detail["retention_days"] == 30
    assert entry.actor is None
    assert pruner.prune() == 0  # nothing left to cut: nothing written either
    assert _actions(db) == {"test.new": 5, "audit.prune": 1}


def test_off_by_default_and_at_least_a_day(settings: Settings) -> None:
    assert settings.audit_retention_days is None
    assert settings.history_retention_days is None
    with pytest.raises(ConfigError, match="audit_retention_days"):
        load_settings(data_dir=settings.data_dir, audit_retention_days=0.5)
    with pytest.raises(ConfigError, match="history_retention_days"):
        load_settings(data_dir=settings.data_dir, history_retention_days=0)


def test_a_workbench_keeps_every_entry_without_the_setting(demo_workbench: Workbench) -> None:
    _add(demo_workbench.db, 3, utcnow() - dt.timedelta(days=3650), "test.ancient")
    run = demo_workbench.runs.run(RunRequest(connection="demo", sql="SELECT 1 AS n"))
    far = utcnow() + dt.timedelta(days=3650)
    assert [pruner.prune(now=far) for pruner in demo_workbench.pruners] == [0, 0]
    assert _actions(demo_workbench.db)["test.ancient"] == 3
    assert demo_workbench.runs.get(run.id).status is RunStatus.succeeded


def test_a_starting_workbench_prunes_in_the_background(settings: Settings) -> None:
    with Workbench(settings) as wb:  # the database, before any retention is set
        _add(wb.db, 4, utcnow() - dt.timedelta(days=100), "test.old")
        _add(wb.db, 2, utcnow(), "test.new")
    pruning = settings.model_copy(update={"audit_retention_days": 90})
    with Workbench(pruning) as wb:
        deadline = time.monotonic() + 10
        while "audit.prune" not in _actions(wb.db) and time.monotonic() < deadline:
            time.sleep(0.05)
        actions = _actions(wb.db)
    assert "test.old" not in actions
    assert actions["test.new"] == 2
    assert actions["audit.prune"] == 1


def test_old_ended_runs_go_with_their_results_runs_in_flight_stay(
    demo_workbench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pruning, "BATCH", 1)
    old_a, old_b, in_flight, new = (
        demo_workbench.runs.run(RunRequest(connection="demo", sql=f"SELECT {n} AS n"))
        for n in range(4)
    )
    long_ago = utcnow() - dt.timedelta(days=40)

    def age(tx: Session) -> None:
        for run in (old_a, old_b, in_flight):
            tx.execute(update(RunRow).where(RunRow.id == run.id).values(created_at=long_ago))
        tx.execute(update(RunRow).where(RunRow.id == in_flight.id).values(status="running"))

    demo_workbench.db.write(age)
    pruner = history_pruner(demo_workbench.db, demo_workbench.audit, demo_workbench.results, 30)
    assert pruner.prune() == 2
    for gone in (old_a, old_b):
        with pytest.raises(NotFound):
            demo_workbench.runs.get(gone.id)
        assert not demo_workbench.results.exists(gone.id)
    assert demo_workbench.runs.get(in_flight.id).status is RunStatus.running
    assert demo_workbench.results.exists(in_flight.id)
    assert demo_workbench.runs.rows(new.id).rows == [[3]]
    assert _actions(demo_workbench.db)["history.prune"] == 1
    assert pruner.prune() == 0
