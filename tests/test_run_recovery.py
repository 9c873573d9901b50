"""Runs left ``queued``/``running`` by a process that is gone are ended ``RUN_INTERRUPTED``
(and their partial results removed) when a Workbench starts and before retention sweeps;
runs still in flight elsewhere are left alone and keep their results."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from querydeck.app.workbench import Workbench
from querydeck.runs import owner, recovery
from querydeck.runs.models import RunStatus
from querydeck.settings import Settings
from querydeck.store.tables import AuditRow, RunRow
from tests.test_result_store import SCHEMA, batch


def gone_process() -> str:
    """The owner string of a process of this machine that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        recorded = f"{socket_host()}:{child.pid}:{owner._start_ticks(child.pid)}"
    finally:
        child.kill()
        child.wait()
    return recorded


def socket_host() -> str:
    return owner.this_process().rsplit(":", 2)[0]


def add_run(
    wb: Workbench,
    run_owner: str | None,
    status: RunStatus = RunStatus.running,
    age: timedelta = timedelta(0),
    timeout_s: float = 60.0,
) -> str:
    run_id = str(uuid.uuid4())
    at = datetime.now(UTC) - age
    row = RunRow(
        id=run_id,
        user_name="local",
        sql="SELECT 1",
        status=status.value,
        max_rows=10,
        timeout_s=timeout_s,
        truncated=False,
        created_at=at,
        started_at=at if status is RunStatus.running else None,
        owner=run_owner,
        result_state="writing" if status is RunStatus.running else None,
    )
    wb.db.write(lambda tx: tx.add(row))
    return run_id


def partial_result(wb: Workbench, run_id: str) -> Path:
    writer = wb.results.writer(run_id, SCHEMA)
    writer.write(batch(0, 10))  # not committed: a run that stopped mid-stream
    writer.flush()  # (a streaming run's first rows are on disk: readers may read them)
    return wb.results.path(run_id)


def test_owner_strings() -> None:
    mine = owner.this_process()
    assert owner.alive(mine) is True
    assert owner.alive(gone_process()) is False
    host, pid, start = mine.rsplit(":", 2)
    assert owner.alive(f"{host}:{pid}:{int(start) + 1}") is False  # a reused process id
    assert owner.alive(f"another-host.example:{pid}:{start}") is None
    name, *identity = host.split("/")
    if identity:  # same name, another boot or another PID namespace: cannot be asked
        assert owner.alive(f"{name}/00000000/{identity[1]}:{pid}:{start}") is None
        assert owner.alive(f"{name}/{identity[0]}/1:{pid}:{start}") is None
    for unknown in (None, "", "nonsense", f"{host}:x:1"):
        assert owner.alive(unknown) is None


def test_a_starting_workbench_ends_the_runs_of_stopped_processes(settings: Settings) -> None:
    with Workbench(settings) as wb:
        dead = add_run(wb, gone_process())
        dead_file = partial_result(wb, dead)
        queued_dead = add_run(wb, gone_process(), status=RunStatus.queued)
        mine = add_run(wb, owner.this_process())
        elsewhere = add_run(wb, "another-host.example:7:99", age=timedelta(minutes=5))
        overdue = add_run(wb, "another-host.example:7:99", age=timedelta(hours=2))
        legacy_queued = add_run(wb, None, status=RunStatus.queued, age=timedelta(days=2))
        legacy_recent = add_run(wb, None, status=RunStatus.queued)
        assert dead_file.exists()
    with Workbench(settings) as wb:
        ended = {
            run_id
            for run_id in (
                dead,
                queued_dead,
                mine,
                elsewhere,
                overdue,
                legacy_queued,
                legacy_recent,
            )
            if wb.runs.get(run_id).status is RunStatus.failed
        }
        assert ended == {dead, queued_dead, overdue, legacy_queued}
        run = wb.runs.get(dead)
        assert run.error_code == "RUN_INTERRUPTED"
        assert "stopped" in (run.error_message or "")
        assert run.finished_at is not None
        assert run.result_state is None
        assert not dead_file.exists()
        assert not wb.results.index_path(dead).exists()
        with wb.db.read() as tx:
            entries = tx.scalars(
                select(AuditRow).where(AuditRow.action == "run.finish").order_by(AuditRow.id)
            ).all()
        assert {e.target_id for e in entries} == ended  # the entry its process never wrote
        entry = next(e for e in entries if e.target_id == dead)
        assert (entry.actor, entry.outcome, entry.target_type) == ("local", "error", "run")
        assert entry.detail["error_code"] == "RUN_INTERRUPTED"
        assert entry.detail["status"] == "failed"
        assert entry.detail["fingerprint"]
        assert "SELECT 1" not in str(entry.detail)  # the statement's text is never kept
        for live in (mine, elsewhere, legacy_recent):
            assert wb.runs.get(live).status in (RunStatus.running, RunStatus.queued)


def test_retention_keeps_the_results_of_runs_in_flight_elsewhere(settings: Settings) -> None:
    with Workbench(settings) as wb:
        elsewhere = add_run(wb, "another-host.example:7:99")
        path = partial_result(wb, elsewhere)
        gone, live = recovery.recover(wb.db, wb.results)
        assert gone == []
        assert elsewhere in live
        wb.retention.max_bytes = 0  # everything is over the limit now
        wb.results.rescan_s = 0  # the next sweep reads the directory: it sees the file
        wb.retention.sweep()
        assert path.exists()
        assert wb.runs.get(elsewhere).status is RunStatus.running


@pytest.mark.parametrize("status", [RunStatus.succeeded, RunStatus.failed])
def test_finished_runs_are_never_touched(settings: Settings, status: RunStatus) -> None:
    with Workbench(settings) as wb:
        run_id = add_run(wb, gone_process(), status=status)
        assert recovery.recover(wb.db, wb.results) == ([], set())
        assert wb.runs.get(run_id).status is status
