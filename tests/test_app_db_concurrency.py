"""SECURITY_TESTS K1-K2 with real processes: eight processes writing history at once to the
SQLite app database lose nothing; while another process holds the database locked, the API
answers 503 APP_DB_BUSY with Retry-After and writes nothing half-way."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from querydeck.app.workbench import Workbench
from querydeck.runs.models import SavedQueryInput
from querydeck.settings import load_settings
from querydeck.store.database import AppDatabase
from querydeck.store.tables import RunRow, SavedQueryRow, utcnow
from tests.apiauth import api_client

PROCESSES, WRITES = 8, 200


def _writer(url: str, start: multiprocessing.synchronize.Event) -> None:
    db = AppDatabase(url)
    start.wait(30)
    for i in range(WRITES):
        row = RunRow(
            id=str(uuid.uuid4()),
            user_name=f"p{i % 7}",
            sql="SELECT 1",
            status="succeeded",
            max_rows=10,
            timeout_s=1.0,
            truncated=False,
            created_at=utcnow(),
        )
        db.write(lambda s, row=row: s.add(row))
    db.dispose()


def test_k1_eight_processes_write_history_and_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db = AppDatabase(url)
    db.migrate()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_writer, args=(url, start)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    with db.read() as tx:
        assert tx.scalar(select(func.count()).select_from(RunRow)) == PROCESSES * WRITES
    db.dispose()


LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
"""


def test_k2_locked_by_another_process_gives_503_and_no_half_rows(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, app_db_retries=0)
    with Workbench(settings) as wb, api_client(wb) as client:
        assert client.get("/api/v1/saved-queries").status_code == 200  # token touched
        body = SavedQueryInput(name="q", sql="SELECT 1").model_dump()
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(data_dir / "querydeck.db")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert locker.stdout is not None
            assert locker.stdout.readline().strip() == "locked"
            started = time.monotonic()
            response = client.post("/api/v1/saved-queries", json=body)
            waited = time.monotonic() - started
        finally:
            locker.kill()
            locker.wait()
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "APP_DB_BUSY"
        assert int(response.headers["Retry-After"]) >= 1
        assert waited < 25  # answered well before the lock is let go
        with wb.db.read() as tx:
            assert tx.scalar(select(func.count()).select_from(SavedQueryRow)) == 0
        assert client.post("/api/v1/saved-queries", json=body).status_code == 201
