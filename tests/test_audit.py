"""The audit log: run, export and connection entries on real DuckDB and SQLite files, the
fail-closed run, fingerprints and tables, filters and cursor pages, secrets never written,
the admin-only API and the CLI."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import orjson
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from typer.testing import CliRunner

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.audit import AuditEntry, fingerprint, sanitise, tables_read
from querydeck.audit.sql import MAX_TABLES
from querydeck.auth.principal import LOCAL, Principal, Role
from querydeck.cli import app as cli_app
from querydeck.errors import QueryDeckError, QueryRejected
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import Settings, load_settings
from querydeck.store.tables import AuditRow
from tests.apiauth import api_client, bearer_token, ensure_user
from tests.services import postgres_database

SENTINEL = "Audit-S3ntinel-9f41"
LONG_DUCKDB = "SELECT count(*) FROM range(100000000) a, range(100000) b"
JOIN = (
    "SELECT c.name, sum(o.amount) AS total FROM orders o JOIN customers c ON c.id = o.customer "
    "WHERE o.amount > 5 GROUP BY c.name ORDER BY c.name"
)
ADMIN = Principal(username="ada", role=Role.admin, via="session", address="192.0.2.7")
ANALYST = Principal(username="ann", role=Role.analyst, via="token")


def _shop(execute: Callable[[str], object]) -> None:
    execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER)")
    execute("INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy')")
    execute("INSERT INTO orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 3), (4, 3, 30), (5, 2, 40)")


@pytest.fixture
def wb(workbench: Workbench, files_dir: Path) -> Workbench:
    """A Workbench with ``duck`` (DuckDB file) and ``lite`` (SQLite file) connections."""
    with duckdb.connect(str(files_dir / "shop.duckdb")) as conn:
        _shop(conn.execute)
    with sqlite3.connect(files_dir / "shop.sqlite") as lite:
        _shop(lite.execute)
    workbench.connections.create(
        "duck", driver="duckdb", options={"path": str(files_dir / "shop.duckdb")}
    )
    workbench.connections.create(
        "lite", driver="sqlite", options={"path": str(files_dir / "shop.sqlite")}
    )
    return workbench


def entries(wb: Workbench, **filters: Any) -> list[AuditEntry]:
    return wb.admin.audit_log(LOCAL, limit=1000, **filters).items


def run_entry(wb: Workbench, run_id: str) -> AuditEntry:
    [entry] = entries(wb, action="run.finish", target_id=run_id)
    return entry


def failures(action: str) -> float:
    value = REGISTRY.get_sample_value("querydeck_audit_write_failures_total", {"action": action})
    return value or 0.0


# --- what a statement's entry keeps -------------------------------------------------------


def test_fingerprint_ignores_literals_layout_comments_and_case() -> None:
    same = [
        "SELECT name FROM orders WHERE amount > 5 AND tag = 'a' AND id IN (1, 2, 3) LIMIT 10",
        "select NAME\n  from Orders -- a comment\n where amount > 500 and tag = 'zz'"
        " and id in (7) limit 99",
        "SELECT /* c */ name FROM orders WHERE amount > -1 AND tag = 'b' AND id IN (-4, 5) LIMIT 1",
    ]
    prints = {fingerprint(sql, "duckdb") for sql in same}
    assert len(prints) == 1
    value = prints.pop()
    assert len(value) == 16
    assert int(value, 16) >= 0
    different = [
        "SELECT name FROM orders WHERE amount < 5 AND tag = 'a' AND id IN (1, 2, 3) LIMIT 10",
        "SELECT name FROM customers WHERE amount > 5 AND tag = 'a' AND id IN (1) LIMIT 10",
        "SELECT \"NAME\" FROM orders WHERE amount > 5 AND tag = 'a' AND id IN (1) LIMIT 10",
    ]
    assert value not in {fingerprint(sql, "duckdb") for sql in different}
    assert len({fingerprint(sql, "duckdb") for sql in different}) == 3
    # Unparsable text: whitespace-normalised, stable, never an exception.
    broken = fingerprint("SELECT (((  FROM", "postgres")
    assert broken == fingerprint("SELECT   (((\nFROM", "postgres")
    assert broken != fingerprint("SELECT ((( FROM x", "postgres")
    assert len(fingerprint("SELECT " + "(" * 5000 + "1" + ")" * 5000, "postgres")) == 16
    assert fingerprint("SELECT 1", "no-such-dialect") == fingerprint(" SELECT  1 ", "nope")


def test_tables_read_joins_ctes_subqueries_and_functions() -> None:
    assert tables_read(JOIN, "duckdb") == ["customers", "orders"]
    sql = """
        WITH recent AS (SELECT * FROM sales.orders WHERE day > '2024-01-01'),
             top AS (SELECT customer FROM recent GROUP BY customer)
        SELECT * FROM top
        JOIN crm.Customers c ON c.id = top.customer
        WHERE EXISTS (SELECT 1 FROM "Audit Log" a WHERE a.c = c.id)
          AND c.region IN (SELECT region FROM (SELECT region FROM regions) r)
    """
    assert tables_read(sql, "postgres") == [
        '"Audit Log"',
        "crm.customers",
        "regions",
        "sales.orders",
    ]
    assert tables_read("SELECT * FROM db1.t1 JOIN `T 2` USING (id)", "mysql") == [
        "`T 2`",
        "db1.t1",
    ]
    assert tables_read(
        "SELECT * FROM read_parquet('s3://b/k?X-Amz-Signature=abc') p JOIN orders o USING (id)",
        "duckdb",
    ) == ["orders", "read_parquet()"]
    assert tables_read("SELECT 1", "sqlite") == []
    assert tables_read("SELECT * FROM (((", "sqlite") == []
    many = " UNION ALL ".join(f"SELECT 1 FROM t{i:03d}" for i in range(MAX_TABLES + 20))
    listed = tables_read(many, "duckdb")
    assert len(listed) == MAX_TABLES
    assert listed == sorted(listed)


# --- runs ---------------------------------------------------------------------------------


def test_every_run_status_has_an_entry(wb: Workbench) -> None:
    ok = wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    lite = wb.runs.run(RunRequest(connection="lite", sql=JOIN.replace("> 5", "> 7")))
    failed = wb.runs.run(RunRequest(connection="duck", sql="SELECT nope FROM orders"))
    with pytest.raises(QueryRejected) as rejected:
        wb.runs.run(RunRequest(connection="lite", sql="DELETE FROM orders WHERE id = 1"))
    long_id = wb.runs.start(RunRequest(connection="duck", sql=LONG_DUCKDB))
    time.sleep(0.2)
    cancelled = wb.runs.cancel(long_id)
    assert (ok.status, lite.status, failed.status, cancelled.status) == (
        RunStatus.succeeded,
        RunStatus.succeeded,
        RunStatus.failed,
        RunStatus.cancelled,
    )
    duck_id = wb.connections.get("duck").id

    entry = run_entry(wb, ok.id)
    assert (entry.actor, entry.outcome, entry.target_type, entry.connection_id) == (
        "local",
        "ok",
        "run",
        duck_id,
    )
    detail = entry.detail
    assert detail["status"] == "succeeded"
    assert detail["rows"] == 3
    assert not detail["truncated"]
    assert detail["tables"] == ["customers", "orders"]
    assert detail["connection"] == "duck"
    assert detail["driver"] == "duckdb"
    assert detail["fingerprint"] == fingerprint(JOIN, "duckdb")
    assert detail["error_code"] is None
    assert detail["duration_ms"] >= 0
    assert "amount" not in orjson.dumps(detail).decode()  # never the SQL text

    assert run_entry(wb, lite.id).detail["fingerprint"] == fingerprint(JOIN, "sqlite")
    bad = run_entry(wb, failed.id)
    assert (bad.outcome, bad.detail["status"], bad.detail["error_code"]) == (
        "error",
        "failed",
        "QUERY_FAILED",
    )
    refused = run_entry(wb, rejected.value.detail["run_id"])
    assert (refused.outcome, refused.detail["status"], refused.detail["error_code"]) == (
        "denied",
        "rejected",
        "SQL_NOT_READ_ONLY",
    )
    assert refused.detail["tables"] == ["orders"]
    stopped = run_entry(wb, long_id)
    assert (stopped.outcome, stopped.detail["status"], stopped.detail["error_code"]) == (
        "aborted",
        "cancelled",
        "QUERY_CANCELLED",
    )
    assert {e.target_id for e in entries(wb, action="run.finish")} == {
        ok.id,
        lite.id,
        failed.id,
        rejected.value.detail["run_id"],
        long_id,
    }


def test_a_run_fails_closed_when_its_entry_cannot_be_written(wb: Workbench) -> None:
    """Reading data is never unaccounted for: the run ends AUDIT_UNAVAILABLE and its rows
    are deleted. Other entries fail open: the operation goes on and the failure counts."""
    with wb.db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER qd_audit_off BEFORE INSERT ON qd_audit "
                "BEGIN SELECT RAISE(ABORT, 'audit log disabled'); END"
            )
        )
    before = failures("run.finish"), failures("connection.test")
    run = wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    assert (run.status, run.error_code, run.error_status) == (
        RunStatus.failed,
        "AUDIT_UNAVAILABLE",
        503,
    )
    assert run.result_state is None
    assert not wb.results.exists(run.id)
    with pytest.raises(QueryDeckError) as info:
        wb.runs.rows(run.id)
    assert info.value.code == "RESULT_UNAVAILABLE"
    with pytest.raises(QueryDeckError):
        wb.runs.export(run.id, ExportFormat.csv)
    with pytest.raises(QueryRejected):  # a rejection is still reported as itself
        wb.runs.run(RunRequest(connection="duck", sql="DROP TABLE orders"))
    assert wb.connections.test("duck").ok  # fails open
    assert failures("run.finish") == before[0] + 2
    assert failures("connection.test") == before[1] + 1
    assert entries(wb)
    assert not any(e.target_id == run.id for e in entries(wb))

    with wb.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER qd_audit_off"))
    again = wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    assert again.status is RunStatus.succeeded
    assert run_entry(wb, again.id).outcome == "ok"


# --- exports ------------------------------------------------------------------------------


@pytest.fixture
def client(wb: Workbench) -> Iterator[TestClient]:
    """The administrator ``ada`` with a real API token."""
    with api_client(wb, username="ada", role=Role.admin) as http:
        yield http


def test_http_exports_record_the_hash_of_the_bytes_received(
    client: TestClient, wb: Workbench
) -> None:
    http = client
    sql = "SELECT i, 'row ' || i AS label FROM range(30000) t(i)"
    response = http.post(
        "/api/v1/runs",
        json={"connection": "duck", "sql": sql, "max_rows": 50_000},
        headers={"X-Request-ID": "req-export-1"},
    )
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run_entry(wb, run["id"]).request_id == "req-export-1"
    received = {}
    for fmt in ("csv", "parquet", "ndjson"):
        got = http.get(f"/api/v1/runs/{run['id']}/export", params={"format": fmt})
        assert got.status_code == 200
        received[fmt] = got.content
    exported = entries(wb, action="export.finish")
    assert [e.detail["format"] for e in exported] == ["ndjson", "parquet", "csv"]
    for entry in exported:
        body = received[entry.detail["format"]]
        assert entry.outcome == "ok"
        assert entry.detail["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry.detail["bytes"] == len(body)
        assert entry.detail["rows"] == 30_000
        assert (entry.target_type, entry.target_id) == ("run", run["id"])
        assert entry.connection_id == wb.connections.get("duck").id
        assert (entry.actor, entry.actor_role, entry.via) == ("ada", "admin", "token")

    failed = wb.runs.run(RunRequest(connection="duck", sql="SELECT nope"))
    refused = http.get(f"/api/v1/runs/{failed.id}/export")
    assert refused.status_code == 409
    [entry] = entries(wb, action="export.finish", outcome="error")
    assert (entry.target_id, entry.detail["error_code"]) == (failed.id, "EXPORT_UNAVAILABLE")


def test_an_export_stopped_early_is_recorded_aborted(wb: Workbench) -> None:
    ensure_user(wb, "ann", Role.analyst)
    wb.grants.grant("duck", "user", "ann", ["query", "export"])
    sql = "SELECT i, repeat('x', 60) AS pad FROM range(200000) t(i)"
    run = wb.runs.run(RunRequest(connection="duck", sql=sql, max_rows=200_000), actor=ANALYST)
    assert run_entry(wb, run.id).actor == "ann"
    export = wb.runs.export(run.id, ExportFormat.csv, actor=ANALYST)
    chunks = export.chunks()
    first = next(chunks)
    chunks.close()  # what a disconnected client leaves behind
    [entry] = entries(wb, action="export.finish")
    assert (entry.outcome, entry.actor, entry.actor_role, entry.via) == (
        "aborted",
        "ann",
        "analyst",
        "token",
    )
    assert entry.detail["bytes"] == len(first) < 200_000 * 60
    assert entry.detail["sha256"] == hashlib.sha256(first).hexdigest()
    assert 0 < entry.detail["rows"] < 200_000


def test_a_client_that_disconnects_mid_export_is_recorded_aborted(wb: Workbench) -> None:
    """A real server and a client that hangs up after the first bytes."""
    sql = "SELECT i, repeat('x', 60) AS pad FROM range(400000) t(i)"
    run = wb.runs.run(RunRequest(connection="duck", sql=sql, max_rows=400_000))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    token = bearer_token(wb, username="ada")
    server = uvicorn.Server(uvicorn.Config(create_app(wb), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        with socket.create_connection(listener.getsockname()) as conn:
            conn.sendall(
                f"GET /api/v1/runs/{run.id}/export?format=csv HTTP/1.1\r\nHost: t\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            assert conn.recv(1024).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 5
        while not (found := entries(wb, action="export.finish")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(5)
    [entry] = found
    assert entry.outcome == "aborted"
    assert 0 < entry.detail["bytes"] < 400_000 * 60
    assert 0 < entry.detail["rows"] < 400_000


def test_refused_runs_exports_and_changes_are_audited(wb: Workbench) -> None:
    """SECURITY_TESTS H6: another user's run, a connection without a grant, a change
    without ``manage``: 404/403 to the caller, and an entry for the administrators."""
    theirs = wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    viewer = Principal(username="vi", role=Role.viewer)
    with pytest.raises(QueryDeckError) as no_grant:
        wb.runs.run(RunRequest(connection="duck", sql=JOIN), actor=ANALYST)
    with pytest.raises(QueryDeckError) as no_sql:
        wb.runs.run(RunRequest(connection="duck", sql=JOIN), actor=viewer)
    with pytest.raises(QueryDeckError) as not_mine:
        wb.runs.export(theirs.id, ExportFormat.csv, actor=ANALYST)
    with pytest.raises(QueryDeckError) as no_manage:
        wb.connections.update("duck", {"path": "x"}, actor=ANALYST)
    codes = (no_grant.value.code, no_sql.value.code, not_mine.value.code, no_manage.value.code)
    assert codes == (
        "CONNECTION_NOT_FOUND",
        "ROLE_FORBIDDEN",
        "RUN_NOT_FOUND",
        "CONNECTION_NOT_FOUND",
    )
    refused = [
        (e.action, e.actor, e.outcome, e.detail["error_code"])
        for e in reversed(entries(wb))
        if e.actor in ("ann", "vi")
    ]
    assert refused == [
        ("run.start", "ann", "error", "CONNECTION_NOT_FOUND"),
        ("run.start", "vi", "denied", "ROLE_FORBIDDEN"),
        ("export.finish", "ann", "error", "RUN_NOT_FOUND"),
        ("connection.update", "ann", "error", "CONNECTION_NOT_FOUND"),
    ]
    [update] = entries(wb, action="connection.update")
    assert update.connection_id == wb.connections.get("duck").id  # the admins see which
    # an administrator's run on a connection that does not exist is recorded the same way
    with pytest.raises(QueryDeckError):
        wb.runs.run(RunRequest(connection="nope", sql="SELECT 1"))
    missing = entries(wb, action="run.start")[0]
    assert (missing.actor, missing.detail) == (
        "local",
        {"connection": "nope", "error_code": "CONNECTION_NOT_FOUND"},
    )


def test_cli_export_records_the_hash_of_the_file(
    wb: Workbench, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = wb.runs.run(RunRequest(connection="lite", sql="SELECT * FROM orders ORDER BY id"))
    _cli_env(monkeypatch, settings)
    out = tmp_path / "orders.json"
    result = CliRunner().invoke(cli_app, ["export", run.id, "--output", str(out)])
    assert result.exit_code == 0, result.output
    [entry] = entries(wb, action="export.finish")
    assert entry.detail["format"] == "json"
    assert entry.detail["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (entry.detail["bytes"], entry.detail["rows"]) == (out.stat().st_size, 5)


# --- connections --------------------------------------------------------------------------


def test_connection_events_successes_and_failures(wb: Workbench, files_dir: Path) -> None:
    path = str(files_dir / "shop.sqlite")
    made = wb.connections.create("c1", driver="sqlite", options={"path": path}, actor=ADMIN)
    with pytest.raises(QueryDeckError):
        wb.connections.create("c2", driver="sqlite", options={"path": "/etc/passwd"}, actor=ADMIN)
    with pytest.raises(QueryDeckError):
        wb.connections.create("c1", driver="sqlite", options={"path": path}, actor=ADMIN)
    wb.connections.update("c1", {"path": path}, actor=ADMIN)
    with pytest.raises(QueryDeckError):
        wb.connections.update("c1", {"nope": 1}, actor=ADMIN)
    wb.connections.rename("c1", "c1b", actor=ADMIN)
    wb.connections.test("c1b", actor=ADMIN)
    gone = files_dir / "gone.sqlite"
    wb.connections.create("g", driver="sqlite", options={"path": str(gone)}, actor=ADMIN)
    with pytest.raises(QueryDeckError):
        wb.connections.test("g", actor=ADMIN)
    wb.connections.delete("c1b", actor=ADMIN)
    with pytest.raises(QueryDeckError):
        wb.connections.delete("c1b", actor=ADMIN)

    mine = list(reversed(entries(wb, user="ada")))
    assert [(e.action, e.outcome, e.detail.get("error_code")) for e in mine] == [
        ("connection.create", "ok", None),
        ("connection.create", "denied", "CONNECTION_TARGET_FORBIDDEN"),
        ("connection.create", "error", "CONNECTION_NAME_TAKEN"),
        ("connection.update", "ok", None),
        ("connection.update", "denied", "CONNECTION_OPTION_UNKNOWN"),
        ("connection.rename", "ok", None),
        ("connection.test", "ok", None),
        ("connection.create", "ok", None),
        ("connection.test", "error", "FILE_NOT_FOUND"),
        ("connection.delete", "ok", None),
        ("connection.delete", "error", "CONNECTION_NOT_FOUND"),
    ]
    assert all((e.actor_role, e.via, e.address) == ("admin", "session", "192.0.2.7") for e in mine)
    assert mine[0].detail == {
        "name": "c1",
        "driver": "sqlite",
        "from_url": False,
        "options": ["path"],
        "allow_privileged": False,
        "test": False,
    }
    assert mine[3].detail["options"] == ["path"]
    # A create that failed names the connection it attempted, never "connection:None".
    assert (mine[1].target_id, mine[1].target_label()) == (None, "connection 'c2'")
    assert mine[2].target_label() == "connection 'c1'"
    assert mine[0].target_label() == f"connection:{made.id}"
    assert mine[4].connection_id == made.id  # a failed change still names its connection
    assert mine[5].detail["new_name"] == "c1b"
    assert mine[6].detail["latency_ms"] >= 0
    # The deleted connection's entries are still found by its id.
    by_id = entries(wb, connection_id=made.id)
    assert len(by_id) == 6
    assert all(e.target_id == made.id for e in by_id)
    assert len(entries(wb, action="connection.*", user="ada")) == 11
    assert len(entries(wb, action="connection.test")) == 2


# --- reading the log ----------------------------------------------------------------------


def test_filters_and_cursor_pages_without_gaps_or_repeats(wb: Workbench) -> None:
    for i in range(23):
        wb.audit.record(
            f"thing.{'a' if i % 2 else 'b'}",
            actor=ADMIN if i % 3 else ANALYST,
            outcome="ok" if i % 4 else "error",
            target_type="thing",
            target_id=f"t{i}",
            detail={"i": i},
        )
    everything = entries(wb, action="thing.*")
    assert len(everything) == 23
    assert [e.detail["i"] for e in everything] == list(range(22, -1, -1))  # newest first
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)

    seen: list[int] = []
    page = wb.admin.audit_log(ADMIN, action="thing.*", limit=7)
    while True:
        seen += [e.detail["i"] for e in page.items]
        wb.audit.record("thing.a", actor=ADMIN, detail={"i": 100 + len(seen)})  # arrives
        if page.next_cursor is None:
            break
        page = wb.admin.audit_log(ADMIN, action="thing.*", limit=7, cursor=page.next_cursor)
    assert seen == list(range(22, -1, -1))

    assert {e.actor for e in entries(wb, user="ann")} == {"ann"}
    assert len(entries(wb, user="ann", action="thing.*")) == 8
    assert len(entries(wb, action="thing.b")) == 12
    assert {e.outcome for e in entries(wb, outcome="error")} == {"error"}
    assert len(entries(wb, outcome="error", action="thing.*")) == 6
    assert [e.target_id for e in entries(wb, target_type="thing", target_id="t5")] == ["t5"]
    assert entries(wb, action="thing") == []  # a family needs its ".*"
    now = datetime.now(UTC)
    assert entries(wb, since=now + timedelta(minutes=1)) == []
    assert len(entries(wb, until=now + timedelta(minutes=1), action="thing.*")) > 23
    assert entries(wb, until=now - timedelta(minutes=1)) == []

    wb.audit.record("thing.c", actor="bob", outcome="unheard-of")  # a bare user name
    [bob] = entries(wb, action="thing.c")
    assert (bob.actor, bob.actor_role, bob.via, bob.outcome) == ("bob", None, None, "error")

    with pytest.raises(QueryDeckError) as info:
        wb.admin.audit_log(ADMIN, cursor="bm90LWEtY3Vyc29y")
    assert info.value.code == "INVALID_CURSOR"
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"since": now.replace(tzinfo=None)}):
        with pytest.raises(QueryDeckError) as info:
            wb.admin.audit_log(ADMIN, **bad)  # type: ignore[arg-type]
        assert info.value.code == "INVALID_INPUT"
    with pytest.raises(QueryDeckError) as info:
        wb.admin.audit_log(ANALYST)
    assert (info.value.code, info.value.http_status) == ("ADMIN_REQUIRED", 403)


def test_postgres_app_database(data_dir: Path, files_dir: Path) -> None:
    """The same log on a PostgreSQL app database (BIGINT ids, JSON detail)."""
    with postgres_database() as url:
        settings = load_settings(data_dir=data_dir, file_roots=[files_dir], database_url=url)
        with duckdb.connect(str(files_dir / "pg.duckdb")) as conn:
            _shop(conn.execute)
        with Workbench(settings) as pg_wb:
            pg_wb.connections.create(
                "duck", driver="duckdb", options={"path": str(files_dir / "pg.duckdb")}
            )
            run = pg_wb.runs.run(RunRequest(connection="duck", sql=JOIN))
            page = pg_wb.admin.audit_log(ADMIN, limit=1)
            assert [e.action for e in page.items] == ["run.finish"]
            assert page.items[0].detail["tables"] == ["customers", "orders"]
            assert page.items[0].target_id == run.id
            rest = pg_wb.admin.audit_log(ADMIN, limit=5, cursor=page.next_cursor)
            assert [e.action for e in rest.items] == ["connection.create"]
            assert rest.items[0].id < page.items[0].id


# --- secrets ------------------------------------------------------------------------------


def test_sanitise_drops_secret_keys_and_masks_urls() -> None:
    clean = sanitise(
        {
            "password": SENTINEL,
            "Api_Token": SENTINEL,
            "nested": {"client_secret": SENTINEL, "ok": 1, "deep": {"private_key": SENTINEL}},
            "list": [{"sslkey": SENTINEL, "name": "x"}, f"mysql://root:{SENTINEL}@db/x"],
            "url": f"postgresql://u:{SENTINEL}@h:5432/db?sslmode=require",
            "when": datetime(2024, 1, 2, tzinfo=UTC),
            "object": object(),
            "long": "y" * 5000,
            "status": RunStatus.failed,
            "deep": {"a": {"b": {"c": {"d": {"e": 1}}, "l": [[[[1]]]]}}},
            "many": {f"k{i}": i for i in range(150)},
            "tags": {"b", "a"},
        }
    )
    dumped = orjson.dumps(clean).decode()
    assert SENTINEL not in dumped
    assert clean["url"] == "postgresql://***@h:5432/db?sslmode=require"
    assert clean["nested"] == {"ok": 1, "deep": {}}
    assert clean["list"][0] == {"name": "x"}
    assert clean["when"] == "2024-01-02T00:00:00+00:00"
    assert clean["object"] == "object"
    assert len(clean["long"]) == 1000
    assert clean["status"] == "failed"
    assert clean["deep"] == {"a": {"b": {"c": {"d": "…"}, "l": ["…"]}}}  # depth 4
    assert len(clean["many"]) == 101
    assert clean["many"]["…"] == "more items left out"
    assert clean["tags"] == ["a", "b"]


def test_sentinel_password_never_reaches_the_log(
    wb: Workbench, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with postgres_database() as url:
        parts = urlsplit(url)
        superuser = urlunsplit(parts._replace(netloc=f"postgres:{SENTINEL}@{parts.netloc}"))
        wb.connections.create("pg", url=superuser, allow_privileged=True, actor=ADMIN)
        run = wb.runs.run(RunRequest(connection="pg", sql="SELECT 1 AS one, 'two' AS two"))
        assert run.status is RunStatus.succeeded
        b"".join(wb.runs.export(run.id, ExportFormat.csv, actor=ADMIN).chunks())
        wb.connections.update("pg", {"password": SENTINEL + "-new"}, actor=ADMIN)
        wb.connections.test("pg", actor=ADMIN)
        with pytest.raises(QueryDeckError):
            wb.connections.create("pg", url=superuser, actor=ADMIN)
        wb.audit.record(
            "user.create", actor=ADMIN, detail={"password": SENTINEL, "name": "x", "url": url}
        )
        wb.connections.delete("pg", actor=ADMIN)
    with wb.db.read() as tx:
        rows = tx.scalars(select(AuditRow)).all()
        dumped = orjson.dumps(
            [{c.key: getattr(r, c.key) for c in AuditRow.__table__.columns} for r in rows]
        ).decode()
    assert len(rows) >= 9
    assert SENTINEL not in dumped
    pg_entries = entries(wb, action="connection.*", user="ada")
    assert pg_entries[-1].detail["from_url"] is True
    assert [e.detail["options"] for e in pg_entries if e.action == "connection.update"] == [
        ["password"]
    ]
    _cli_env(monkeypatch, settings)
    shown = CliRunner().invoke(cli_app, ["audit", "--format", "json", "--limit", "1000"])
    assert shown.exit_code == 0
    assert SENTINEL not in shown.output


# --- API and CLI --------------------------------------------------------------------------


def test_api_is_for_administrators(client: TestClient, wb: Workbench) -> None:
    wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    response = TestClient(create_app(wb)).get("/api/v1/audit")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    for name, role in (("ann", Role.analyst), ("vi", Role.viewer)):
        with api_client(wb, username=name, role=role) as other:
            response = other.get("/api/v1/audit")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "ADMIN_REQUIRED")
    http = client
    # what this test did as "local" (the users made for the clients are audited too)
    mine = {"actor": "local", "limit": 2}
    local = [
        e.action for e in wb.admin.audit_log(LOCAL, user="local", action="run.*", limit=100).items
    ] + [e.action for e in wb.admin.audit_log(LOCAL, user="local", action="connection.*").items]
    assert local == ["run.finish", "connection.create", "connection.create"]
    everything = wb.admin.audit_log(LOCAL, user="local", limit=100)
    page = http.get("/api/v1/audit", params=mine).json()
    assert page["total"] == everything.total
    assert (page["limit"], page["offset"]) == (2, 0)
    assert [e["id"] for e in page["items"]] == [e.id for e in everything.items[:2]]
    run_entry = next(e for e in everything.items if e.action == "run.finish")
    assert run_entry.detail["tables"] == ["customers", "orders"]
    assert page["items"][0]["at"].endswith("Z")
    ids = [e["id"] for e in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        more = http.get("/api/v1/audit", params={**mine, "cursor": cursor}).json()
        ids += [e["id"] for e in more["items"]]
        cursor = more["next_cursor"]
    assert ids == [e.id for e in everything.items]
    filtered = http.get(
        "/api/v1/audit",
        params={"action": "connection.*", "connection": "lite", "outcome": "ok"},
    ).json()
    assert [e["detail"]["name"] for e in filtered["items"]] == ["lite"]
    since = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert http.get("/api/v1/audit", params={"since": since}).json()["total"] == 0
    bad = http.get("/api/v1/audit", params={"cursor": "zz"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "INVALID_CURSOR")
    assert http.get("/api/v1/audit", params={"outcome": "maybe"}).status_code == 422
    missing = http.get("/api/v1/audit", params={"connection": "nope"})
    assert missing.status_code == 404


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(settings.data_dir))
    roots = settings.file_roots or []
    monkeypatch.setenv("QUERYDECK_FILE_ROOTS", os.pathsep.join(str(p) for p in roots))


def test_cli_audit_formats(
    wb: Workbench, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = wb.runs.run(RunRequest(connection="duck", sql=JOIN))
    _cli_env(monkeypatch, settings)
    cli = CliRunner()

    table = cli.invoke(cli_app, ["audit"])
    assert table.exit_code == 0, table.output
    assert "run.finish" in table.stdout
    assert "connection.create" in table.stdout
    assert "showing 1–3 of 3 entries" in table.stderr

    as_json = cli.invoke(cli_app, ["audit", "--format", "json", "--action", "run.finish"])
    page = orjson.loads(as_json.stdout)
    assert page["total"] == 1
    assert page["items"][0]["target_id"] == run.id
    assert page["items"][0]["at"].endswith("Z")

    ndjson = cli.invoke(cli_app, ["audit", "-f", "ndjson", "--connection", "lite"])
    lines = [orjson.loads(x) for x in ndjson.stdout.splitlines()]
    assert [(x["action"], x["detail"]["name"]) for x in lines] == [("connection.create", "lite")]

    as_csv = cli.invoke(cli_app, ["audit", "-f", "csv", "--actor", "local", "--limit", "2"])
    rows = as_csv.stdout.splitlines()
    assert rows[0].startswith("id,at,actor,actor_role,via,address,request_id,action,outcome")
    assert len(rows) == 3
    assert ",run.finish,ok," in rows[1]
    assert "next page: --cursor" in as_csv.stderr

    # A refused create names the connection it attempted (not "connection:None").
    refused = cli.invoke(cli_app, ["connections", "add", "lite", "sqlite:///nowhere.db"])
    assert refused.exit_code == 1
    table = cli.invoke(cli_app, ["audit", "--action", "connection.create"])
    assert "connection 'lite'" in table.stdout
    assert "None" not in table.stdout

    empty = cli.invoke(cli_app, ["audit", "--outcome", "denied"])
    assert empty.exit_code == 0
    assert "no entries" in empty.stderr
    bad = cli.invoke(cli_app, ["audit", "--cursor", "zz"])
    assert bad.exit_code == 1
    assert "Error [INVALID_CURSOR]" in bad.stderr
    assert cli.invoke(cli_app, ["audit", "--outcome", "maybe"]).exit_code == 2
