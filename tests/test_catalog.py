"""The catalog through the Workbench, the API and the CLI: cache, refresh and diffs,
faults that keep the last good snapshot, search, table detail, background refresh."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.catalog import paths
from querydeck.catalog.models import CatalogSettings
from querydeck.catalog.search import SearchIndex, fold
from querydeck.cli import app
from querydeck.errors import CatalogPathInvalid, CatalogTimeout, UpstreamUnavailable
from querydeck.settings import load_settings
from tests import chinook
from tests.apiauth import api_client
from tests.services import postgres_database, unique_name


def register_postgres(workbench: Workbench, name: str, url: str) -> None:
    """The one place these tests register a server connection. The test login is a
    superuser (it runs the DDL these tests need), so the admin override is given."""
    workbench.connections.create(name, url=url, allow_privileged=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chinook_wb(workbench: Workbench, tmp_path: Path) -> Workbench:
    path = chinook.sqlite_copy(tmp_path / "files")
    workbench.connections.create("chinook", driver="sqlite", options={"path": str(path)})
    return workbench


@pytest.fixture
def client(chinook_wb: Workbench) -> Iterator[TestClient]:
    with api_client(chinook_wb) as test_client:
        yield test_client


def test_paths_round_trip_and_refuse_bad_text() -> None:
    for parts in (["a"], ["my.schema", "with space", 'q"d'], ["名前", " x "]):
        assert paths.parse_path(paths.format_path(*parts)) == parts
    for bad in ("a..b", "a.", '"open', 'a"b', "a.b.c.d", "x\x00", "a" * 50_000, '"a"b'):
        with pytest.raises(CatalogPathInvalid):
            paths.parse_path(bad)


def test_search_ranks_and_folds_unicode() -> None:
    import orjson

    def table(name: str, columns: list[str], comment: str | None = None) -> bytes:
        cols = [{"name": c, "native_type": "int", "comment": None} for c in columns]
        return orjson.dumps({"name": name, "kind": "table", "comment": comment, "columns": cols})

    index = SearchIndex(
        [
            ("c1", "s", table("customer", ["customer_id", "name"])),
            ("c1", "s", table("customers_archive", ["id"], comment="old Customer rows")),
            ("c1", "s", table("名前", ["ｎａｍｅ", "Café"])),
            ("c1", "s", table("other", ["costumer"])),
        ]
    )
    hits, total = index.search("Customer", limit=10, offset=0)
    assert [(h.entry.name, h.match) for h in hits] == [
        ("customer", "exact"),
        ("customer_id", "prefix"),
        ("customers_archive", "prefix"),
        ("costumer", "fuzzy"),
    ]
    assert total == 4
    page, _ = index.search("customer", limit=2, offset=1)
    assert [h.entry.name for h in page] == ["customer_id", "customers_archive"]
    assert {h.entry.name for h in index.search("NAME", limit=10, offset=0)[0]} == {
        "ｎａｍｅ",
        "name",
    }
    assert index.search("cafe\u0301", limit=5, offset=0)[0][0].entry.name == "Café"
    assert index.search("名", limit=5, offset=0)[0][0].match == "prefix"
    assert index.search("old customer", limit=5, offset=0)[0][0].match == "comment"
    assert fold("ＡＢＣ") == "abc"


def test_levels_detail_search_and_preview(chinook_wb: Workbench) -> None:
    schemas = chinook_wb.catalog.level("chinook")  # the first look reads the catalog
    assert [n.name for n in schemas.items] == ["main"]
    assert schemas.items[0].children == 11
    tables = chinook_wb.catalog.level("chinook", "main", limit=5, offset=5)
    assert tables.total == 11
    assert len(tables.items) == 5
    columns = chinook_wb.catalog.level("chinook", "main.Track")
    assert columns.items[0].name == "TrackId"
    assert columns.items[0].primary_key
    assert chinook_wb.catalog.level("chinook", "main.Track.Name").items[0].native_type == (
        "NVARCHAR(200)"
    )
    detail = chinook_wb.catalog.table_detail("chinook", "main", "Track", preview_rows=3)
    assert detail.ddl.startswith('CREATE TABLE "Track"')
    assert 'REFERENCES "Album" ("AlbumId")' in detail.ddl
    assert detail.preview is not None
    assert len(detail.preview.rows) == 3
    assert chinook_wb.runs.listing().items[0].sql.startswith('SELECT * FROM "main"."Track"')
    hits = chinook_wb.catalog.search("albumid")
    assert hits.items[0].match == "exact"
    assert hits.items[0].connection == "chinook"
    assert {h.path for h in hits.items} >= {"main.Album.AlbumId", "main.Track.AlbumId"}


def test_refresh_diff_and_failures_keep_the_snapshot(chinook_wb: Workbench, tmp_path: Path) -> None:
    path = Path(chinook_wb.connections.get("chinook").options["path"])
    chinook_wb.catalog.refresh("chinook")
    with sqlite3.connect(path) as ddl:
        ddl.execute("CREATE TABLE Fresh (id INTEGER PRIMARY KEY)")
        ddl.execute("DROP TABLE PlaylistTrack")
        ddl.execute("ALTER TABLE Genre ADD COLUMN Mood TEXT")
        ddl.execute("ALTER TABLE Artist DROP COLUMN Name")
    report = chinook_wb.catalog.refresh("chinook")
    diff = report.schemas[0].diff
    assert diff.added_tables == ["Fresh"]
    assert diff.removed_tables == ["PlaylistTrack"]
    changes = {c.table: [(x.column, x.change) for x in c.columns] for c in diff.changed_tables}
    assert changes == {"Artist": [("Name", "removed")], "Genre": [("Mood", "added")]}
    # A timeout: the error is recorded, the snapshot stays.
    chinook_wb.catalog.set_settings("chinook", CatalogSettings(timeout_s=0.000001))
    with pytest.raises(CatalogTimeout):
        chinook_wb.catalog.refresh("chinook", "main")
    level = chinook_wb.catalog.level("chinook", "main")
    assert level.total == 11
    assert level.error is not None
    assert level.error.code == "CATALOG_TIMEOUT"
    # The file is gone: the connection cannot be opened, the cache still answers.
    chinook_wb.catalog.set_settings("chinook", CatalogSettings())
    path.unlink()
    with pytest.raises(Exception) as failed:
        chinook_wb.catalog.refresh("chinook")
    assert getattr(failed.value, "code", "") == "FILE_NOT_FOUND"
    top = chinook_wb.catalog.level("chinook")
    assert top.error is not None
    assert top.error.code == "FILE_NOT_FOUND"
    assert chinook_wb.catalog.level("chinook", "main").total == 11


def test_schema_patterns_and_postgres_faults(workbench: Workbench) -> None:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE SCHEMA keep; CREATE SCHEMA skip_me; CREATE SCHEMA diffs")
            admin.execute("CREATE TABLE keep.t (id int PRIMARY KEY, v text)")
            admin.execute("CREATE TABLE diffs.d (id int, v text)")
            admin.execute('CREATE TABLE diffs."名前" ("列" int)')
        register_postgres(workbench, "pg", url)
        workbench.catalog.set_settings("pg", CatalogSettings(exclude=["skip_*", "public"]))
        report = workbench.catalog.refresh("pg")
        assert {s.schema_name for s in report.schemas} == {"keep", "diffs"}
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("ALTER TABLE diffs.d ALTER COLUMN id TYPE bigint")
            admin.execute("ALTER TABLE diffs.d DROP COLUMN v")
            admin.execute("CREATE TABLE diffs.added (x int)")
        diff = workbench.catalog.refresh("pg", "diffs").schemas[0].diff
        assert diff.added_tables == ["added"]
        assert [
            (c.column, c.change, c.old_type, c.new_type) for c in diff.changed_tables[0].columns
        ] == [
            ("id", "type_changed", "integer", "bigint"),
            ("v", "removed", "text", None),
        ]
        assert workbench.catalog.search("名前").items[0].path == "diffs.名前"
        # The server goes away (a closed port): recorded, the snapshot stays.
        workbench.connections.update("pg", {"port": free_port()})
        with pytest.raises(UpstreamUnavailable):
            workbench.catalog.refresh("pg")
        assert workbench.catalog.level("pg", "keep").total == 1


def test_postgres_backend_terminated_during_refresh(workbench: Workbench) -> None:
    from querydeck.drivers.postgres.driver import PostgresSession

    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE SCHEMA a; CREATE TABLE a.t (id int); CREATE SCHEMA b")
        register_postgres(workbench, "pg", url)
        workbench.catalog.refresh("pg")
        original = PostgresSession.describe_schema

        def terminated(self: PostgresSession, schema: str, *, timeout_s: float) -> Any:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (self.native.info.backend_pid,))
            return original(self, schema, timeout_s=timeout_s)

        PostgresSession.describe_schema = terminated  # type: ignore[method-assign]
        try:
            report = workbench.catalog.refresh("pg")
        finally:
            PostgresSession.describe_schema = original  # type: ignore[method-assign]
        assert report.status == "failed"
        assert {s.error.code for s in report.schemas if s.error} == {"UPSTREAM_UNAVAILABLE"}
        assert workbench.catalog.level("pg", "a").total == 1


def test_schema_the_login_cannot_use_is_partial(workbench: Workbench) -> None:
    role = unique_name("qd_role")
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute("CREATE SCHEMA secret; CREATE TABLE secret.t (id int)")
        try:
            limited = url.replace("postgres@", f"{role}@", 1)
            register_postgres(workbench, "limited", limited)
            report = workbench.catalog.refresh("limited")
            secret = next(s for s in report.schemas if s.schema_name == "secret")
            assert secret.status == "partial"
            assert "USAGE" in secret.problems[0]
            assert report.status == "partial"
            assert workbench.catalog.level("limited", "secret").partial
        finally:
            workbench.connections.delete("limited")
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_api_catalog_routes(client: TestClient) -> None:
    level = client.get("/api/v1/connections/chinook/catalog", params={"path": "main"}).json()
    assert level["total"] == 11
    assert level["items"][0]["path"] == "main.Album"
    detail = client.get("/api/v1/connections/chinook/tables/main/Track?preview=2").json()
    assert detail["primary_key"] == ["TrackId"]
    assert len(detail["preview"]["rows"]) == 2
    refreshed = client.post("/api/v1/connections/chinook/catalog/refresh", json={})
    assert refreshed.status_code == 200
    assert refreshed.json()["status"] == "ok"
    one = client.post(
        "/api/v1/connections/chinook/catalog/refresh", json={"schema_name": "main"}
    ).json()
    assert [s["schema_name"] for s in one["schemas"]] == ["main"]
    found = client.get("/api/v1/search", params={"q": "genre", "limit": 2}).json()
    assert found["total"] >= 3
    assert len(found["items"]) == 2
    settings = client.put(
        "/api/v1/connections/chinook/catalog/settings", json={"include": ["ma*"]}
    ).json()
    assert settings["include"] == ["ma*"]
    assert client.get("/api/v1/connections/chinook/catalog/settings").json() == settings
    long_name = "x" * 10_000
    cases = [
        ("get", f"/api/v1/connections/chinook/tables/main/{long_name}", 404, "CATALOG_NOT_FOUND"),
        ("get", '/api/v1/connections/chinook/tables/名前/"a.b"', 404, "CATALOG_NOT_FOUND"),
        ("get", "/api/v1/connections/chinook/catalog?path=a..b", 422, "CATALOG_PATH_INVALID"),
        ("get", "/api/v1/connections/nope/catalog", 404, "CONNECTION_NOT_FOUND"),
        ("get", "/api/v1/search?q=%20", 422, "CATALOG_SEARCH_INVALID"),
        ("post", "/api/v1/connections/chinook/catalog/refresh", 404, "CATALOG_NOT_FOUND"),
    ]
    for method, url, status, code in cases:
        body = {"json": {"schema_name": "nope"}} if method == "post" else {}
        response = getattr(client, method)(url, **body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), url
    bad = client.put("/api/v1/connections/chinook/catalog/settings", json={"include": [""]})
    assert bad.status_code == 422


def test_cli_schema_refresh_and_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("QUERYDECK_FILE_ROOTS", str(tmp_path / "files"))
    path = chinook.sqlite_copy(tmp_path / "files")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert (
        run("connections", "add", "chinook", "--driver", "sqlite", "-o", f"path={path}").exit_code
        == 0
    )
    tree = run("schema", "chinook")
    assert tree.exit_code == 0
    assert "main" in tree.stdout
    assert "InvoiceLine" in run("schema", "chinook", "main").stdout
    detail = run("schema", "chinook", "main.Genre", "--preview", "2")
    assert 'CREATE TABLE "Genre"' in detail.stdout
    assert "Rock" in detail.stdout
    assert run("schema", "refresh", "chinook").exit_code == 0
    assert (
        '"include": [\n    "main"'
        in run("schema", "settings", "chinook", "--include", "main").stdout
    )
    found = run("search", "playlist", "--format", "json")
    assert found.exit_code == 0
    assert '"match": "exact"' in found.stdout
    missing = run("schema", "chinook", "main.Nope")
    assert missing.exit_code == 1
    assert "Error [CATALOG_NOT_FOUND]" in missing.stderr


def test_background_refresh_runs_and_stops(data_dir: Path, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=data_dir, catalog_refresh_interval_s=0.05, file_roots=[tmp_path / "files"]
    )
    path = chinook.sqlite_copy(tmp_path / "files")
    with Workbench(settings) as wb:
        wb.connections.create("chinook", driver="sqlite", options={"path": str(path)})
        wb.connections.create(
            "broken", driver="sqlite", options={"path": str(tmp_path / "files" / "no.db")}
        )
        assert wb.catalog.start_background_refresh()
        deadline = time.monotonic() + 20
        while wb.refresher.passes < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert wb.catalog.level("chinook").items[0].refreshed_at is not None
        assert wb.catalog.level("broken").error is not None
    assert not wb.refresher.running
    with Workbench(load_settings(data_dir=data_dir, catalog_refresh_interval_s=0)) as idle:
        assert not idle.catalog.start_background_refresh()
    assert os.environ.get("QUERYDECK_CATALOG_REFRESH_INTERVAL_S") is None


def test_collector_pause_nests_and_restores() -> None:
    import gc

    from querydeck.catalog.gcpause import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
