"""Audit entries for accounts, sessions, tokens, groups, grants and refused API calls —
and never a password or a token secret in any of them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.audit.models import AuditEntry
from querydeck.auth.principal import LOCAL, Role
from querydeck.errors import QueryDeckError
from querydeck.settings import load_settings
from querydeck.store.tables import AuditRow
from tests.apiauth import api_client, ensure_user

SECRET_PASSWORD = "sentinel-pw-7c1d8e2f9a"


@pytest.fixture
def wb(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    shutil.copytree(demo_files, data_dir / "demo")  # built once per process
    workbench = Workbench(load_settings(data_dir=data_dir, rate_limit_login_user="3/minute")).open()
    workbench.admin.create_demo()
    try:
        yield workbench
    finally:
        workbench.close()


def entries(wb: Workbench, action: str) -> list[AuditEntry]:
    return list(wb.admin.audit_log(LOCAL, action=action, limit=500).items)


def test_logins_users_tokens_groups_and_grants_are_audited(wb: Workbench) -> None:
    user = wb.accounts.create_user(LOCAL, "ann", role=Role.analyst, password=SECRET_PASSWORD)
    [created] = entries(wb, "user.create")
    assert (created.actor, created.target_id, created.detail["role"]) == (
        "local",
        user.id,
        "analyst",
    )
    with pytest.raises(QueryDeckError):
        wb.accounts.login("ann", "wrong", address="10.1.1.1")
    with pytest.raises(QueryDeckError):
        wb.accounts.login("ghost", "wrong", address="10.1.1.1")
    result = wb.accounts.login("ann", SECRET_PASSWORD, address="10.1.1.2")
    failed = entries(wb, "auth.login_failed")
    assert [(e.detail["username"], e.outcome.value, e.address) for e in failed] == [
        ("ghost", "denied", "10.1.1.1"),
        ("ann", "denied", "10.1.1.1"),
    ]
    [ok] = entries(wb, "auth.login")
    assert (ok.actor, ok.target_id, ok.address) == ("ann", user.id, "10.1.1.2")
    for _ in range(3):
        with pytest.raises(QueryDeckError):
            wb.accounts.login("ann", "wrong")
    with pytest.raises(QueryDeckError) as limited:
        wb.accounts.login("ann", SECRET_PASSWORD)
    assert limited.value.code == "RATE_LIMITED"
    assert entries(wb, "auth.login_failed")[0].detail["error_code"] == "RATE_LIMITED"

    principal, _ = wb.accounts.authenticate_session(result.session_secret)
    info, secret = wb.accounts.create_token(principal, "script")
    assert entries(wb, "token.create")[0].target_id == info.id
    wb.accounts.authenticate_token(secret)
    wb.accounts.authenticate_token(secret)  # within the minute: one entry only
    [used] = entries(wb, "token.use")
    assert (used.actor, used.target_id, used.via) == ("ann", info.id, "token")
    wb.accounts.revoke_token(principal, info.id)
    assert entries(wb, "token.revoke")[0].outcome.value == "ok"

    wb.accounts.update_user(LOCAL, "ann", role=Role.viewer)
    assert entries(wb, "user.update")[0].detail["role"] == "viewer"
    wb.accounts.reset_password(LOCAL, "ann", SECRET_PASSWORD + "x")
    assert entries(wb, "user.password_reset")[0].detail["username"] == "ann"
    wb.grants.create_group("team")
    wb.grants.add_group_member("team", "ann")
    wb.grants.grant("chinook", "group", "team", ["query"])
    wb.grants.revoke("chinook", "group", "team")
    wb.grants.remove_group_member("team", "ann")
    wb.grants.delete_group("team")
    chinook = wb.connections.get("chinook").id
    [granted] = entries(wb, "grant.set")
    assert (granted.connection_id, granted.detail["actions"]) == (chinook, ["browse", "query"])
    assert entries(wb, "grant.revoke")[0].connection_id == chinook
    for action in ("group.create", "group.member_add", "group.member_remove", "group.delete"):
        assert [e.outcome.value for e in entries(wb, action)] == ["ok"], action
    # a refusal is audited as denied
    with pytest.raises(QueryDeckError):
        wb.grants.grant("chinook", "user", "ann", ["query"], actor=principal)
    assert entries(wb, "grant.set")[0].outcome.value == "denied"

    with wb.db.read() as tx:
        rows = tx.scalars(select(AuditRow)).all()
        dumped = orjson.dumps([r.detail for r in rows]).decode()
    assert SECRET_PASSWORD not in dumped
    assert secret not in dumped
    assert result.session_secret not in dumped


def test_refused_api_calls_are_audited(wb: Workbench) -> None:
    ensure_user(wb, "bob", Role.analyst)
    with TestClient(create_app(wb)) as anonymous:
        assert anonymous.get("/api/v1/connections/chinook").status_code == 401
    with api_client(wb, username="bob", role=Role.analyst) as client:
        assert client.get("/api/v1/connections/chinook").status_code == 404
        assert client.get("/api/v1/runs/nope").status_code == 404
        assert client.get("/api/v1/users").status_code == 403
    refused = entries(wb, "api.refused")
    assert [(e.actor, e.detail["path"], e.detail["status"]) for e in refused] == [
        ("bob", "/api/v1/users", 403),
        ("bob", "/api/v1/runs/nope", 404),
        ("bob", "/api/v1/connections/chinook", 404),
    ]
