"""Secrets (SECURITY_TESTS.md L1, L3, L4): a sentinel password never shows, tampering fails
clearly, and key rotation re-seals everything in one transaction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from querydeck import logs
from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.errors import ConfigError, QueryDeckError
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings
from querydeck.sources import keys
from querydeck.sources.secrets import KEY_FILE_NAME, new_key_text
from querydeck.store.tables import ConnectionRow, RunRow
from tests.apiauth import api_client
from tests.services import postgres_database

SENTINEL = "S3ntinel-at-rest-51aa"


def pg_options(host: str = "127.0.0.1", port: int = 1) -> dict[str, Any]:
    return {"host": host, "port": port, "database": "d", "user": "u", "password": SENTINEL}


def app_db_bytes(wb: Workbench) -> bytes:
    data = wb.settings.data_dir
    return b"".join(p.read_bytes() for p in data.glob("querydeck.db*"))


@pytest.mark.services
def test_sentinel_never_appears_on_any_path(
    workbench: Workbench, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """L1 over every endpoint and error path, the privileged refusal and policy denial
    included, with DEBUG logs."""
    logs.configure("DEBUG")
    caplog.set_level(logging.DEBUG)
    with postgres_database() as url:
        parts = urlsplit(url)
        superuser = urlunsplit(parts._replace(netloc=f"postgres:{SENTINEL}@{parts.netloc}"))
        with api_client(workbench) as client:
            responses = [
                client.post("/api/v1/connections", json={"name": "su", "url": superuser}),
                client.post(
                    "/api/v1/connections",
                    json={
                        "name": "meta",
                        "driver": "postgres",
                        "options": pg_options("169.254.169.254"),
                    },
                ),
                client.post(
                    "/api/v1/connections",
                    json={
                        "name": "pg",
                        "driver": "postgres",
                        "options": pg_options(),
                        "test": False,
                    },
                ),
                client.post(
                    "/api/v1/connections",
                    json={"name": "su2", "url": superuser, "allow_privileged": True},
                ),
                client.get("/api/v1/connections"),
                client.get("/api/v1/connections/pg"),
                client.get("/api/v1/connections/su2"),
                client.post("/api/v1/connections/pg/test"),
                client.post("/api/v1/connections/su2/test"),
                client.patch(
                    "/api/v1/connections/pg",
                    json={"options": {"host": "0.0.0.0", "password": SENTINEL}},
                ),
                client.patch(
                    "/api/v1/connections/su2", json={"allow_privileged": False, "options": {}}
                ),
                client.post("/api/v1/runs", json={"connection": "pg", "sql": "SELECT 1"}),
                client.post("/api/v1/runs", json={"connection": "su2", "sql": "SELECT 1"}),
                client.post("/api/v1/runs", json={"connection": "su2", "sql": "DELETE FROM x"}),
                client.get("/api/v1/runs"),
                client.get("/metrics"),
            ]
    codes = [r.status_code for r in responses]
    assert codes[:4] == [422, 422, 201, 201]
    assert responses[0].json()["error"]["code"] == "CONNECTION_PRIVILEGED"
    assert responses[1].json()["error"]["code"] == "CONNECTION_TARGET_FORBIDDEN"
    assert responses[9].json()["error"]["code"] == "CONNECTION_TARGET_FORBIDDEN"
    assert responses[10].json()["error"]["code"] == "CONNECTION_PRIVILEGED"
    for response in responses:
        assert SENTINEL not in response.text
    out, err = capfd.readouterr()
    assert SENTINEL not in out + err + caplog.text
    with workbench.db.read() as tx:
        for run in tx.scalars(select(RunRow)):
            assert SENTINEL not in str([run.sql, run.error_message, run.error_detail])
    assert SENTINEL.encode() not in app_db_bytes(workbench)
    logs.configure("WARNING")


def test_tampered_and_copied_ciphertexts_fail_clearly(workbench: Workbench) -> None:
    """L3: a flipped byte, and a ciphertext copied to another connection's row."""
    workbench.connections.create("a", driver="postgres", options=pg_options())
    workbench.connections.create("b", driver="postgres", options={**pg_options(), "password": "x"})

    def tamper(session: Any) -> None:
        rows = {r.name: r for r in session.scalars(select(ConnectionRow))}
        assert rows["a"].secrets is not None
        flipped = bytearray(rows["a"].secrets)
        flipped[-3] ^= 0x01
        rows["b"].secrets = rows["a"].secrets
        rows["a"].secrets = bytes(flipped)

    workbench.db.write(tamper)
    for name in ("a", "b"):
        for action in (
            workbench.connections.test,
            lambda n: workbench.runs.run(RunRequest(connection=n, sql="SELECT 1")),
        ):
            with pytest.raises(QueryDeckError) as info:
                action(name)
            assert info.value.code == "SECRET_DECRYPT_FAILED"
            assert SENTINEL not in info.value.message


def test_key_rotation_reseals_every_secret(workbench: Workbench, data_dir: Path) -> None:
    """L4: every connection still decrypts; the old key no longer does; nothing in clear."""
    for i in range(3):
        workbench.connections.create(
            f"c{i}", driver="postgres", options={**pg_options(), "password": f"{SENTINEL}{i}"}
        )
    workbench.connections.create("nosecret", driver="duckdb", options={})
    key_file = data_dir / KEY_FILE_NAME
    old_key = key_file.read_bytes()
    with workbench.db.read() as tx:
        before = {r.name: r.secrets for r in tx.scalars(select(ConnectionRow))}
    result = workbench.admin.rotate_key()
    assert result.connections == 3
    assert key_file.read_bytes() != old_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in data_dir.glob("secret.key*")) == [KEY_FILE_NAME]
    with workbench.db.read() as tx:
        after = {r.name: r.secrets for r in tx.scalars(select(ConnectionRow))}
    assert all(after[n] != before[n] for n in ("c0", "c1", "c2"))
    assert after["nosecret"] is None
    for i in range(3):
        _, driver = workbench.connection_store.driver_for(f"c{i}")
        assert driver.options.password.get_secret_value() == f"{SENTINEL}{i}"  # type: ignore[attr-defined]
    assert SENTINEL.encode() not in app_db_bytes(workbench)
    workbench.close()
    with Workbench(load_settings(data_dir=data_dir)) as reopened:
        _, driver = reopened.connection_store.driver_for("c1")
        assert driver.options.password.get_secret_value() == f"{SENTINEL}1"  # type: ignore[attr-defined]
    key_file.write_bytes(old_key)
    with pytest.raises(QueryDeckError) as info:
        Workbench(load_settings(data_dir=data_dir)).open()
    assert info.value.code == "SECRET_KEY_INVALID"


def test_a_failed_rotation_changes_nothing(
    workbench: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbench.connections.create("c", driver="postgres", options=pg_options())
    old_key = (data_dir / KEY_FILE_NAME).read_bytes()

    def broken(session: Any, sealer: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(workbench.connection_store, "reseal", broken)
    with pytest.raises(RuntimeError):
        workbench.admin.rotate_key()
    assert (data_dir / KEY_FILE_NAME).read_bytes() == old_key
    assert sorted(p.name for p in data_dir.glob("secret.key*")) == [KEY_FILE_NAME]
    monkeypatch.undo()
    _, driver = workbench.connection_store.driver_for("c")
    assert driver.options.password.get_secret_value() == SENTINEL  # type: ignore[attr-defined]


def test_a_rotation_interrupted_after_the_commit_finishes_on_start(
    workbench: Workbench, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbench.connections.create("c", driver="postgres", options=pg_options())

    def crash(*args: Any) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(keys.os, "replace", crash)
    with pytest.raises(OSError):
        workbench.admin.rotate_key()
    monkeypatch.undo()
    assert (data_dir / "secret.key.new").exists()
    assert (data_dir / "secret.key.old").exists()
    workbench.close()
    with Workbench(load_settings(data_dir=data_dir)) as reopened:
        _, driver = reopened.connection_store.driver_for("c")
        assert driver.options.password.get_secret_value() == SENTINEL  # type: ignore[attr-defined]
    assert sorted(p.name for p in data_dir.glob("secret.key*")) == [KEY_FILE_NAME]


def test_a_configured_key_cannot_be_rotated(data_dir: Path) -> None:
    wb = Workbench(load_settings(data_dir=data_dir, secret_key=new_key_text())).open()
    try:
        with pytest.raises(ConfigError, match="QUERYDECK_SECRET_KEY"):
            wb.admin.rotate_key()
    finally:
        wb.close()


def test_cli_keys_rotate(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    with Workbench(load_settings()) as wb:
        wb.connections.create("c", driver="postgres", options=pg_options())
    result = CliRunner().invoke(cli_app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "1 connection(s) re-sealed" in result.stderr
    assert SENTINEL not in result.output
    with Workbench(load_settings()) as wb:
        _, driver = wb.connection_store.driver_for("c")
        assert driver.options.password.get_secret_value() == SENTINEL  # type: ignore[attr-defined]
