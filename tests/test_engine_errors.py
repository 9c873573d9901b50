"""The engine's own help reaches people: PostgreSQL's message, hint, detail and error
position go through the run's history, the API's error body and the CLI (with a caret)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.cli import app as cli_app
from querydeck.runs.models import RunRequest, RunStatus
from tests.apiauth import api_client
from tests.security.harness import workbench
from tests.services import postgres_database, postgres_reader

TYPO = "SELECT c.id,\n       c.nme\n  FROM customers c"


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    with postgres_database() as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        with postgres_reader(admin_url) as url:
            bench = workbench(tmp_path_factory.mktemp("engine-errors"), raw=False)
            try:
                bench.connections.create("pg", url=url)
                yield bench
            finally:
                bench.close()


def test_history_keeps_the_hint_and_the_position(wb: Workbench) -> None:
    info = wb.runs.run(RunRequest(connection="pg", sql=TYPO))
    assert info.status is RunStatus.failed
    assert info.error_code == "QUERY_FAILED"
    assert info.error_message == "column c.nme does not exist"
    detail = info.error_detail or {}
    assert detail["hint"] == 'Perhaps you meant to reference the column "c.name".'
    assert detail["sqlstate"] == "42703"
    assert detail["position"] == TYPO.index("c.nme") + 1
    assert (detail["line"], detail["column"]) == (2, 8)


def test_api_error_body_carries_them(wb: Workbench) -> None:
    with api_client(wb, username="ana", role=Role.admin) as client:
        response = client.post("/api/v1/runs", json={"connection": "pg", "sql": TYPO})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "QUERY_FAILED"
    assert error["detail"]["hint"].startswith("Perhaps you meant to reference the column")
    assert (error["detail"]["line"], error["detail"]["column"]) == (2, 8)


def test_cli_shows_a_caret_and_the_hint(
    wb: Workbench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in [k for k in os.environ if k.startswith("QUERYDECK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(wb.settings.data_dir))
    result = CliRunner().invoke(cli_app, ["query", "pg", TYPO])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error [QUERY_FAILED]: column c.nme does not exist",
        "  at line 2, column 8",
        "  2 |        c.nme",
        "    |        ^",
        '  hint: Perhaps you meant to reference the column "c.name".',
    ]
