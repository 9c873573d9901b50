"""History filters, cursor pages, re-runs and saved queries through the API and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal, Role
from querydeck.cli import app as cli_app
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RunRequest, SavedQueryChanges, SavedQueryInput
from tests.apiauth import api_client


@pytest.fixture
def wb(demo_workbench: Workbench) -> Workbench:
    return demo_workbench


@pytest.fixture
def client(wb: Workbench) -> Iterator[TestClient]:
    with api_client(wb) as test_client:
        yield test_client


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_history_filters(client: TestClient, wb: Workbench) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for sql, connection in [
        ("SELECT 1 AS one", "demo"),
        ("SELECT count(*) FROM Track", "chinook"),
        ("SELECT 'x' AS \"100%_sure\"", "chinook"),
        ("DROP TABLE Track", "chinook"),
    ]:
        client.post("/api/v1/runs", json={"connection": connection, "sql": sql})
    runs = "/api/v1/runs"

    def sqls(**params: Any) -> list[str]:
        return [r["sql"] for r in client.get(runs, params=params).json()["items"]]

    assert sqls(connection="demo") == ["SELECT 1 AS one"]
    assert sqls(q="track") == ["DROP TABLE Track", "SELECT count(*) FROM Track"]
    assert sqls(q="100%_") == ["SELECT 'x' AS \"100%_sure\""]  # % and _ are literal
    assert sqls(q="%") == ["SELECT 'x' AS \"100%_sure\""]
    assert sqls(status="rejected", connection="chinook") == ["DROP TABLE Track"]
    assert len(sqls(since=before.isoformat())) == 4
    assert sqls(until=before.isoformat()) == []
    assert sqls(since=(datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")) == []
    assert code(client.get(runs, params={"since": "yesterday"}))[0] == 422
    assert code(client.get(runs, params={"cursor": "bm90IGEgY3Vyc29y"})) == (422, "INVALID_CURSOR")


def test_cursor_pages_have_no_gaps_or_repeats(wb: Workbench) -> None:
    for i in range(7):
        wb.runs.run(RunRequest(connection="chinook", sql=f"SELECT {i} AS i"))
    seen: list[str] = []
    page = wb.runs.listing(limit=3)
    while True:
        seen += [r.sql for r in page.items]
        # new runs arriving between pages must not shift the next page
        wb.runs.run(RunRequest(connection="demo", sql="SELECT 'new' AS arrival"))
        if page.next_cursor is None:
            break
        page = wb.runs.listing(limit=3, cursor=page.next_cursor, connection="chinook")
    assert seen == [f"SELECT {i} AS i" for i in reversed(range(7))]


def test_rerun_through_the_api_and_cli(
    client: TestClient, wb: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.post("/api/v1/runs", json={"connection": "chinook", "sql": "SELECT 7 AS n"})
    run_id = first.json()["run"]["id"]
    again = client.post(f"/api/v1/runs/{run_id}/rerun")
    assert again.status_code == 200
    body = again.json()
    assert body["run"]["id"] != run_id
    assert body["page"]["rows"] == [[7]]
    assert code(client.post("/api/v1/runs/unknown/rerun")) == (404, "RUN_NOT_FOUND")
    wb.connections.rename("chinook", "music")
    renamed = client.post(f"/api/v1/runs/{run_id}/rerun").json()
    assert renamed["run"]["connection"] == "music"
    wb.connections.delete("music")
    assert code(client.post(f"/api/v1/runs/{run_id}/rerun")) == (404, "CONNECTION_NOT_FOUND")
    wb.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    runner = CliRunner()
    demo_run = wb.history.listing(limit=100, offset=0, connection="demo").items
    assert demo_run == []
    result = runner.invoke(cli_app, ["query", "demo", "SELECT 3 AS n", "-f", "csv"])
    new_id = orjson.loads(runner.invoke(cli_app, ["history", "-f", "json"]).stdout)["items"][0]
    rerun = runner.invoke(cli_app, ["runs", "rerun", new_id["id"], "--info", "-f", "json"])
    assert rerun.exit_code == 0, result.output + rerun.output
    assert orjson.loads(rerun.stdout)["status"] == "succeeded"
    listed = runner.invoke(cli_app, ["history", "--sql", "select 3", "--limit", "1"])
    assert "next page: --cursor" in listed.stderr
    cursor = listed.stderr.split("--cursor ")[1].split()[0]
    more = runner.invoke(
        cli_app, ["history", "--sql", "select 3", "--cursor", cursor, "-f", "json"]
    )
    assert [r["sql"] for r in orjson.loads(more.stdout)["items"]] == ["SELECT 3 AS n"]


def test_saved_queries_crud_and_run(client: TestClient, wb: Workbench) -> None:
    base = "/api/v1/saved-queries"
    made = client.post(
        base,
        json={
            "name": "Top tracks",
            "sql": "SELECT Name FROM Track ORDER BY TrackId LIMIT 2",
            "connection": "chinook",
            "description": "the first two",
            "tags": ["music", "demo", "music"],
        },
    )
    assert made.status_code == 201, made.text
    saved = made.json()
    assert (saved["owner"], saved["tags"], saved["favourite"]) == (
        "admin",  # the API client's user
        ["music", "demo"],
        False,
    )
    assert code(client.post(base, json={"name": "top TRACKS", "sql": "SELECT 1"})) == (
        409,
        "SAVED_QUERY_NAME_TAKEN",
    )
    assert code(client.post(base, json={"name": "x", "sql": "SELECT 1", "connection": "nope"}))[
        1
    ] == ("CONNECTION_NOT_FOUND")
    assert code(client.post(base, json={"name": "x", "sql": "SELECT 1", "tags": ["a b"]})) == (
        422,
        "SAVED_QUERY_TAG_INVALID",
    )
    assert code(client.post(base, json={"name": " ", "sql": "SELECT 1"}))[0] == 422
    assert code(client.post(base, json={"name": "x", "sql": "SELECT 1", "owner": "eve"}))[0] == 422
    other = client.post(base, json={"name": "Counts", "sql": "SELECT 1 AS one", "favourite": True})
    assert [q["name"] for q in client.get(base).json()["items"]] == ["Counts", "Top tracks"]
    assert [q["name"] for q in client.get(base, params={"tag": "music"}).json()["items"]] == [
        "Top tracks"
    ]
    assert client.get(base, params={"favourite": True}).json()["total"] == 1
    assert client.get(base, params={"q": "FIRST TWO"}).json()["items"][0]["id"] == saved["id"]
    by_name = client.get(f"{base}/top tracks").json()
    assert by_name["id"] == saved["id"]

    ran = client.post(f"{base}/{saved['id']}/run")
    assert ran.status_code == 200, ran.text
    assert ran.json()["page"]["rows"] == [
        ["For Those About To Rock (We Salute You)"],
        ["Balls to the Wall"],
    ]
    assert code(client.post(f"{base}/{other.json()['id']}/run")) == (422, "CONNECTION_REQUIRED")
    on_demo = client.post(f"{base}/Counts/run", json={"connection": "demo"})
    assert on_demo.json()["page"]["rows"] == [[1]]

    changed = client.patch(
        f"{base}/{saved['id']}", json={"favourite": True, "connection": None, "tags": []}
    ).json()
    assert (changed["favourite"], changed["connection"], changed["tags"]) == (True, None, [])
    assert code(client.patch(f"{base}/{saved['id']}", json={"name": "counts"})) == (
        409,
        "SAVED_QUERY_NAME_TAKEN",
    )
    assert client.delete(f"{base}/{saved['id']}").status_code == 204
    assert code(client.get(f"{base}/{saved['id']}")) == (404, "SAVED_QUERY_NOT_FOUND")
    # another owner's query is invisible (404, never 403)
    bob, alice = Principal("bob", Role.analyst), Principal("alice", Role.analyst)
    hidden = wb.saved.create(SavedQueryInput(name="mine", sql="SELECT 1"), actor=bob)
    for attempt in (
        lambda: wb.saved.get(hidden.id, actor=alice),
        lambda: wb.saved.delete(hidden.id, actor=alice),
        lambda: wb.saved.update(hidden.id, SavedQueryChanges(sql="x"), actor=alice),
    ):
        with pytest.raises(QueryDeckError) as info:
            attempt()
        assert info.value.code == "SAVED_QUERY_NOT_FOUND"
    assert wb.saved.update(hidden.id, SavedQueryChanges(sql="SELECT 2"), actor=bob).sql == (
        "SELECT 2"
    )
    # administrators see every user's saved queries
    assert client.get(f"{base}/{hidden.id}").json()["owner"] == "bob"


def test_saved_queries_cli(wb: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wb.close()
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def cli(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(cli_app, list(args), input=stdin)

    added = cli(
        "saved",
        "add",
        "artists",
        "-",
        "-c",
        "chinook",
        "-t",
        "music",
        stdin="SELECT count(*) AS n FROM Artist",
    )
    assert added.exit_code == 0, added.output
    assert cli("saved", "add", "artists", "SELECT 1").exit_code == 1
    assert "SAVED_QUERY_NAME_TAKEN" in cli("saved", "add", "Artists", "SELECT 1").stderr
    assert "Error [INVALID_INPUT]" in cli("saved", "add", "", "SELECT 1").stderr
    listed = cli("saved", "list")
    assert "artists" in listed.stdout
    assert orjson.loads(cli("saved", "show", "artists", "-f", "json").stdout)["tags"] == ["music"]
    assert "SELECT count(*)" in cli("saved", "show", "artists").stdout
    ran = cli("saved", "run", "artists", "-f", "csv")
    assert ran.exit_code == 0, ran.output
    assert ran.stdout_bytes == b"n\r\n275\r\n"
    assert cli("saved", "edit", "artists", "--favourite", "--sql", "SELECT 2 AS n").exit_code == 0
    assert cli("saved", "run", "artists", "-f", "json").stdout == '[{"n":2}]\n'
    assert cli("saved", "edit", "artists", "--no-connection").exit_code == 0
    assert "CONNECTION_REQUIRED" in cli("saved", "run", "artists").stderr
    failing = cli("saved", "run", "artists", "-c", "demo", "--max-rows", "1", "-f", "csv")
    assert failing.stdout_bytes == b"n\r\n2\r\n"
    assert cli("saved", "edit", "artists", "--sql", "SELECT nope").exit_code == 0
    assert "QUERY_FAILED" in cli("saved", "run", "artists", "-c", "demo").stderr
    assert cli("saved", "delete", "artists").exit_code == 0
    assert "SAVED_QUERY_NOT_FOUND" in cli("saved", "show", "artists").stderr
    assert "no saved queries" in cli("saved", "list", "-f", "table").stderr
