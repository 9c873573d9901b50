"""Run ids by unique prefix (as git: CLI and API), an ambiguous prefix with its own code
and candidates; ``runs rerun`` writes the new run's rows; the history's user column,
``--user`` filter, and the refusal of another user's history for non-administrators."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.cli import app as cli_app
from querydeck.errors import QueryDeckError
from querydeck.runs import runner
from querydeck.runs.models import RunRequest
from tests.apiauth import api_client, ensure_user

Invoke = Callable[..., Result]


@pytest.fixture
def wb(demo_workbench: Workbench) -> Workbench:
    return demo_workbench


@pytest.fixture
def cli(wb: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """The CLI on the demo Workbench's data directory (closed first: one process at a
    time writes it here)."""
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args))

    return invoke


def run(wb: Workbench, sql: str, actor: Any = None) -> str:
    request = RunRequest(connection="chinook", sql=sql)
    if actor is None:
        return wb.runs.run(request).id
    return wb.runs.run(request, actor=actor).id


def run_as(
    wb: Workbench, new_id: str, sql: str, monkeypatch: pytest.MonkeyPatch, actor: Any = None
) -> str:
    """Run ``sql`` as a run with the id ``new_id`` (to make two ids share a prefix): the
    runner's own reference to ``uuid`` hands out that id once."""
    monkeypatch.setattr(runner, "uuid", SimpleNamespace(uuid4=lambda: uuid.UUID(new_id)))
    try:
        assert run(wb, sql, actor) == new_id
    finally:
        monkeypatch.setattr(runner, "uuid", uuid)
    return new_id


def test_a_unique_prefix_finds_the_run(wb: Workbench) -> None:
    run_id = run(wb, "SELECT 1 AS one")
    assert wb.runs.get(run_id[:8]).id == run_id
    assert wb.runs.get(run_id[:4].upper()).id == run_id
    with pytest.raises(QueryDeckError) as info:
        wb.runs.get("ffff-not-a-prefix")
    assert info.value.code == "RUN_NOT_FOUND"
    with pytest.raises(QueryDeckError) as info:  # shorter than 4 characters: not a prefix
        wb.runs.get(run_id[:3])
    assert info.value.code == "RUN_NOT_FOUND"


def test_an_ambiguous_prefix_lists_candidates(
    wb: Workbench, cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = run_as(wb, "abcd1111-0000-4000-8000-000000000001", "SELECT 1 AS one", monkeypatch)
    two = run_as(wb, "abcd2222-0000-4000-8000-000000000002", "SELECT 2 AS two", monkeypatch)
    with pytest.raises(QueryDeckError) as info:
        wb.runs.get("abcd")
    assert info.value.code == "RUN_ID_AMBIGUOUS"
    assert info.value.http_status == 400
    assert info.value.detail["candidates"] == [one, two]
    assert one in info.value.message
    assert two in info.value.message
    assert wb.runs.get("abcd2").id == two

    with api_client(wb) as client:
        answer = client.get("/api/v1/runs/abcd")
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "RUN_ID_AMBIGUOUS"
        shown = client.get("/api/v1/runs/abcd1")
        assert shown.status_code == 200, shown.text
        assert shown.json()["run"]["id"] == one
        rows = client.get("/api/v1/runs/abcd1/rows").json()
        assert rows["run_id"] == one
        assert rows["rows"] == [[1]]
        exported = client.get("/api/v1/runs/abcd2/export", params={"format": "csv"})
        assert exported.status_code == 200, exported.text
        assert exported.text.splitlines() == ["two", "2"]
    wb.close()

    ambiguous = cli("runs", "show", "abcd")
    assert ambiguous.exit_code == 1
    assert "Error [RUN_ID_AMBIGUOUS]" in ambiguous.stderr
    assert one in ambiguous.stderr
    shown = orjson.loads(cli("runs", "show", "abcd2", "-f", "json").stdout)
    assert shown["id"] == two
    exported = cli("export", "abcd1", "-f", "csv")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines() == ["one", "1"]


def test_prefixes_match_only_the_users_own_runs(
    wb: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = ensure_user(wb, "bob", Role.admin)
    theirs = run_as(wb, "beef1111-0000-4000-8000-000000000001", "SELECT 1", monkeypatch, bob)
    analyst = ensure_user(wb, "ann", Role.analyst)
    with pytest.raises(QueryDeckError) as info:
        wb.runs.get("beef", actor=analyst)
    assert info.value.code == "RUN_NOT_FOUND"
    assert theirs not in info.value.message


def test_rerun_writes_the_new_runs_rows(wb: Workbench, cli: Invoke) -> None:
    run_id = run(wb, "SELECT 7 AS seven UNION ALL SELECT 8")
    wb.close()
    result = cli("runs", "rerun", run_id[:8], "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["seven", "7", "8"]
    assert "new run " in result.stderr
    assert "2 rows in" in result.stderr
    table = cli("runs", "rerun", run_id, "-f", "table")
    assert "seven" in table.stdout
    assert "8" in table.stdout
    info = orjson.loads(cli("runs", "rerun", run_id, "--info", "-f", "json").stdout)
    assert info["status"] == "succeeded"
    assert info["id"] != run_id


def test_history_shows_and_filters_users(wb: Workbench, cli: Invoke) -> None:
    bob = ensure_user(wb, "bob", Role.admin)
    run(wb, "SELECT 'mine' AS who")
    run(wb, "SELECT 'bobs' AS who", bob)
    wb.close()
    table = cli("history")
    assert table.exit_code == 0, table.output
    header = table.stdout.splitlines()[0].split()
    assert header[:4] == ["id", "created", "user", "connection"]
    assert "bob" in table.stdout
    assert "local" in table.stdout
    page = orjson.loads(cli("history", "--user", "bob", "-f", "json").stdout)
    assert [r["sql"] for r in page["items"]] == ["SELECT 'bobs' AS who"]
    assert {r["user"] for r in page["items"]} == {"bob"}


def test_a_non_admin_asking_for_another_users_history_is_refused(wb: Workbench) -> None:
    ensure_user(wb, "ann", Role.analyst)
    with api_client(wb, username="ann", role=Role.analyst) as client:
        mine = client.get("/api/v1/runs", params={"user": "ann"})
        assert mine.status_code == 200, mine.text
        refused = client.get("/api/v1/runs", params={"user": "admin"})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "HISTORY_USER_FORBIDDEN"
        assert "administrators" in error["message"].lower()
    with api_client(wb) as admin:
        assert admin.get("/api/v1/runs", params={"user": "ann"}).status_code == 200
