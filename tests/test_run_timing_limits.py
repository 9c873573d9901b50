"""A run's answer says which limits the server lowered and why (API, CLI, history), a
timeout says which limit stopped it and how far it can be raised, and the time queued and
the time executing are reported apart and agree with the run's timestamps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import load_settings
from tests.apiauth import api_client

LONG_QUERY = "SELECT count(*) FROM range(100000000) a, range(1000) b"


@pytest.fixture
def wb(demo_workbench: Workbench) -> Workbench:
    return demo_workbench


def test_lowered_limits_are_reported_with_the_reason(wb: Workbench) -> None:
    run = wb.runs.run(
        RunRequest(connection="chinook", sql="SELECT 1", max_rows=99_999_999_999, timeout_s=1e5)
    )
    assert (run.max_rows, run.timeout_s) == (1_000_000, 600)
    notes = {n.limit: n for n in run.limits_applied}
    assert notes["max_rows"].requested == 99_999_999_999
    assert notes["max_rows"].applied == 1_000_000
    assert notes["max_rows"].setting == "QUERYDECK_MAX_ROWS_LIMIT"
    assert "1,000,000 rows" in notes["max_rows"].reason
    assert (notes["timeout_s"].requested, notes["timeout_s"].applied) == (1e5, 600)
    assert "QUERYDECK_MAX_TIMEOUT_S" in notes["timeout_s"].reason
    assert wb.runs.get(run.id).limits_applied == run.limits_applied  # kept in the history

    within = wb.runs.run(RunRequest(connection="chinook", sql="SELECT 1", max_rows=5))
    assert within.limits_applied == []


def test_the_api_answer_carries_the_applied_limits(wb: Workbench) -> None:
    with api_client(wb) as client:
        body = {"connection": "chinook", "sql": "SELECT 1", "max_rows": 99_999_999_999}
        answer = client.post("/api/v1/runs", json=body).json()
    run = answer["run"]
    assert run["max_rows"] == 1_000_000
    assert [n["limit"] for n in run["limits_applied"]] == ["max_rows"]
    assert run["limits_applied"][0]["requested"] == 99_999_999_999


def test_the_cli_says_which_limits_were_lowered(
    wb: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(
        cli_app,
        ["query", "chinook", "SELECT 1 AS n", "--max-rows", "99999999999", "-f", "csv"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["n", "1"]
    assert "max_rows 99,999,999,999 rows lowered to 1,000,000" in result.stderr
    assert "QUERYDECK_MAX_ROWS_LIMIT" in result.stderr


def test_a_timeout_says_which_limit_and_how_far_it_goes(wb: Workbench) -> None:
    run = wb.runs.run(RunRequest(connection="demo", sql=LONG_QUERY, timeout_s=0.5))
    assert run.status is RunStatus.timed_out
    assert run.error_code == "QUERY_TIMEOUT"
    message = run.error_message or ""
    assert "timeout of 0.5 s" in message
    assert "--timeout" in message
    assert "up to 600 s" in message
    assert "QUERYDECK_MAX_TIMEOUT_S" in message
    assert run.error_detail == {"limit": "timeout_s", "timeout_s": 0.5, "max_timeout_s": 600.0}


def test_a_timeout_at_the_ceiling_says_so(data_dir: Path, demo_files: Path) -> None:
    import shutil

    shutil.copytree(demo_files, data_dir / "demo")
    settings = load_settings(data_dir=data_dir, max_timeout_s=0.5, default_timeout_s=0.5)
    with Workbench(settings) as wb:
        wb.admin.create_demo()
        run = wb.runs.run(RunRequest(connection="demo", sql=LONG_QUERY, timeout_s=30))
    assert run.status is RunStatus.timed_out
    assert [n.limit for n in run.limits_applied] == ["timeout_s"]
    assert "this server's longest timeout" in (run.error_message or "")


def test_queue_and_execution_times_agree_with_the_timestamps(
    data_dir: Path, demo_files: Path
) -> None:
    """One worker: the second run waits for the first, and says so."""
    import shutil

    shutil.copytree(demo_files, data_dir / "demo")
    with Workbench(load_settings(data_dir=data_dir, run_workers=1)) as wb:
        wb.admin.create_demo()
        slow = RunRequest(connection="demo", sql=LONG_QUERY, timeout_s=1)
        first = wb.runs.start(slow)
        second = wb.runs.start(RunRequest(connection="chinook", sql="SELECT 1"))
        done = threading.Event()
        threading.Thread(target=lambda: (wb.runs.wait(first, None), done.set())).start()
        ended = wb.runs.wait(second, None)
        assert done.wait(30)
        for run in (wb.runs.get(first), ended, wb.runs.get(second)):
            assert run.started_at is not None
            assert run.finished_at is not None
            assert run.queue_ms is not None
            assert run.execution_ms is not None
            executing = (run.finished_at - run.started_at).total_seconds() * 1000
            assert abs(executing - (run.duration_ms or 0)) < 1.5, run
            assert abs(run.execution_ms - (run.duration_ms or 0)) < 1.5, run
            queued = (run.started_at - run.created_at).total_seconds() * 1000
            assert abs(queued - run.queue_ms) < 1.5
        waited = wb.runs.get(second)
        assert waited.queue_ms is not None
        assert waited.queue_ms >= 500
        assert (waited.execution_ms or 0) < waited.queue_ms
