"""Uploading a file as a table: the API (multipart, streamed to disk, the size limit, the
type read from the content), the CLI (on this machine and against the API), and who sees
the uploader's connection (the uploader, administrators, and whom they grant it to)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.cli import app as cli_app
from querydeck.cli.remote import RemoteWorkbench
from querydeck.errors import UploadExists
from querydeck.runs.models import RunRequest
from querydeck.settings import Settings, load_settings
from querydeck.sources.uploads import table_name
from querydeck.store.tables import AuditRow
from tests.apiauth import api_client, bearer_token

LIMIT = 64 * 1024
CSV = "id,city\n1,北京\n2,上海\n".encode()


def parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3], "v": [0.5, 1.5, 2.5]}), sink)
    return sink.getvalue()


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "qty"])
    sheet.append(["苹果", 3])
    sheet.append(["pear", 5])
    sink = io.BytesIO()
    book.save(sink)
    return sink.getvalue()


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    data = tmp_path_factory.mktemp("uploads") / "data"
    workbench = Workbench(Settings(data_dir=data, upload_max_bytes=LIMIT)).open()
    yield workbench
    workbench.close()


@pytest.fixture(scope="module")
def ana(wb: Workbench) -> Iterator[TestClient]:
    with api_client(wb, username="ana", role=Role.analyst) as client:
        yield client


@pytest.fixture(scope="module")
def bob(wb: Workbench) -> Iterator[TestClient]:
    with api_client(wb, username="bob", role=Role.analyst) as client:
        yield client


def send(client: TestClient, name: str, body: bytes, **params: Any) -> Any:
    return client.post("/api/v1/uploads", params=params, files={"file": (name, body, "text/plain")})


def rows(client: TestClient, connection: str, sql: str) -> Any:
    """The answer of a run that is waited for to the end (a slow machine: past 2 s)."""
    return client.post(
        "/api/v1/runs", json={"connection": connection, "sql": sql, "wait_ms": 60_000}
    )


def uploads_dir(wb: Workbench, user: str) -> Path:
    return wb.settings.data_dir / "uploads" / user


def test_a_csv_becomes_a_table_of_the_uploaders_connection(wb: Workbench, ana: TestClient) -> None:
    answer = send(ana, "cities.bin", CSV)
    assert answer.status_code == 201, answer.text
    info = answer.json()
    assert info["connection"] == "uploads-ana"
    assert (info["table"], info["format"], info["bytes"], info["replaced"]) == (
        "cities",
        "csv",
        len(CSV),
        False,
    )
    assert sorted(p.name for p in uploads_dir(wb, "ana").iterdir()) == ["cities.csv"]
    run = rows(ana, "uploads-ana", "SELECT id, city FROM cities ORDER BY id")
    assert run.status_code in (200, 201), run.text
    assert run.json()["page"]["rows"] == [[1, "北京"], [2, "上海"]]
    audited = (
        wb.admin.audit_entries(action="upload.create")
        if hasattr(wb.admin, "audit_entries")
        else None
    )
    del audited


@pytest.mark.parametrize(
    ("name", "body", "table", "fmt", "sql", "expected"),
    [
        (
            "numbers.csv",
            parquet_bytes(),
            "numbers",
            "parquet",
            "SELECT sum(v) FROM numbers",
            [[4.5]],
        ),
        (
            "sheet.dat",
            xlsx_bytes(),
            "sheet",
            "xlsx",
            "SELECT name, qty FROM sheet ORDER BY qty",
            [["苹果", 3.0], ["pear", 5.0]],
        ),
        ("gbk.txt", "a,b\n1,中文\n".encode("gbk"), "gbk", "csv", "SELECT b FROM gbk", [["中文"]]),
        ("2024 销售.csv", CSV, "t_2024_销售", "csv", 'SELECT count(*) FROM "t_2024_销售"', [[2]]),
    ],
)
def test_the_type_is_read_from_the_content(
    ana: TestClient, name: str, body: bytes, table: str, fmt: str, sql: str, expected: Any
) -> None:
    answer = send(ana, name, body)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["table"], answer.json()["format"]) == (table, fmt)
    run = rows(ana, "uploads-ana", sql)
    assert run.json()["page"]["rows"] == expected, run.text


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "UPLOAD_TYPE_UNSUPPORTED", 415),
        (b"PK\x03\x04 not really a workbook", "UPLOAD_TYPE_UNSUPPORTED", 415),
        (b"PAR1\x00\x01 cut short PAR1", "UPLOAD_TYPE_UNSUPPORTED", 415),
        (b"", "UPLOAD_TYPE_UNSUPPORTED", 415),
        (b"a,b\n" * (LIMIT // 4 + 1), "UPLOAD_TOO_LARGE", 413),
    ],
)
def test_refused_files_leave_nothing(
    wb: Workbench, bob: TestClient, body: bytes, code: str, status: int
) -> None:
    answer = send(bob, "refused.csv", body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    directory = uploads_dir(wb, "bob")
    assert not directory.exists() or list(directory.iterdir()) == []


def test_a_request_past_the_limit_is_refused_before_it_is_read(bob: TestClient) -> None:
    answer = bob.post(
        "/api/v1/uploads",
        content=b"x" * 10,
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(10**9)},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"json": {"file": "x"}}, "UNSUPPORTED_MEDIA_TYPE", 415),
        (
            {"data": {"file": "not a file part"}, "files": {"other": ("x.csv", CSV)}},
            "UPLOAD_NAME_INVALID",
            422,
        ),
        (
            {"files": {"file": ("x.csv", CSV)}, "params": {"table": "1bad"}},
            "UPLOAD_NAME_INVALID",
            422,
        ),
        ({"files": [("file", ("x.csv", CSV)), ("file", ("y.csv", CSV))]}, "BAD_REQUEST", 400),
    ],
)
def test_malformed_uploads(bob: TestClient, kwargs: dict[str, Any], code: str, status: int) -> None:
    answer = bob.post("/api/v1/uploads", **kwargs)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text


def test_a_table_is_replaced_only_when_asked(ana: TestClient) -> None:
    assert send(ana, "again.csv", CSV).status_code == 201
    taken = send(ana, "again.parquet", parquet_bytes())
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, UploadExists.code)
    replaced = send(ana, "again.parquet", parquet_bytes(), replace="true")
    assert replaced.status_code == 201
    assert replaced.json()["replaced"] is True
    assert rows(ana, "uploads-ana", "SELECT count(*) FROM again").json()["page"]["rows"] == [[3]]


def test_others_see_the_uploads_only_through_a_grant(
    wb: Workbench, ana: TestClient, bob: TestClient
) -> None:
    assert send(ana, "shared.csv", CSV).status_code == 201
    assert bob.get("/api/v1/connections/uploads-ana").status_code == 404
    refused = rows(bob, "uploads-ana", "SELECT * FROM shared")
    assert refused.status_code == 404
    listed = [c["name"] for c in bob.get("/api/v1/connections").json()["items"]]
    assert "uploads-ana" not in listed
    wb.grants.grant("uploads-ana", "user", "bob", ["browse", "query"])
    assert rows(bob, "uploads-ana", "SELECT count(*) FROM shared").json()["page"]["rows"] == [[2]]
    wb.grants.revoke("uploads-ana", "user", "bob")


def test_viewers_cannot_upload(wb: Workbench) -> None:
    with api_client(wb, username="vic", role=Role.viewer) as vic:
        answer = send(vic, "x.csv", CSV)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "ROLE_FORBIDDEN")
    assert not uploads_dir(wb, "vic").exists()


def test_uploads_are_audited(wb: Workbench, ana: TestClient) -> None:
    assert send(ana, "audited.csv", CSV).status_code == 201
    with wb.db.read() as session:
        found = session.scalars(
            select(AuditRow).where(AuditRow.action == "upload.create").order_by(AuditRow.id)
        ).all()
    last = found[-1]
    assert (last.actor, last.outcome) == ("ana", "ok")
    assert last.detail["table"] == "audited"
    assert last.detail["format"] == "csv"
    assert len(last.detail["sha256"]) == 64


@pytest.mark.parametrize(
    ("requested", "filename", "expected"),
    [
        (None, "sales.csv", "sales"),
        (None, "C:\\data\\sales 2024.xlsx", "sales_2024"),
        (None, "../../etc/passwd", "passwd"),
        (None, "北京.csv.gz", "北京"),
        ("mine", "whatever.csv", "mine"),
    ],
)
def test_table_names(requested: str | None, filename: str, expected: str) -> None:
    assert table_name(requested, filename) == expected


def test_cli_upload_on_this_machine_and_the_remote_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wb: Workbench
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data))
    source = tmp_path / "城市.csv"
    source.write_bytes(CSV)
    result = CliRunner().invoke(cli_app, ["upload", str(source), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"connection": "uploads-local"' in result.output
    with Workbench(load_settings(data_dir=data)) as local:
        run = local.runs.run(
            RunRequest(connection="uploads-local", sql='SELECT count(*) FROM "城市"')
        )
        assert local.runs.rows(run.id).rows == [[2]]
    client = TestClient(create_app(wb))
    remote = RemoteWorkbench(
        "http://testserver",
        bearer_token(wb, username="ana", role=Role.analyst),
        transport=client._transport,
    )
    info = remote.uploads.upload("remote.csv", iter([CSV[:5], CSV[5:]]))
    assert (info.connection, info.table, info.bytes) == ("uploads-ana", "remote", len(CSV))
    remote.close()
