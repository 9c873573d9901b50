"""SECURITY_TESTS H4: repeated bad logins for one account or from one address are refused
with 429 and Retry-After, the same way for an account that does not exist; runs are limited
per user."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings
from tests.apiauth import ensure_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def wb(data_dir: Path, files_dir: Path) -> Iterator[Workbench]:
    workbench = Workbench(
        load_settings(
            data_dir=data_dir,
            file_roots=[files_dir],
            rate_limit_login_user="5/minute",
            rate_limit_login_address="8/minute",
            rate_limit_runs_user="3/minute",
        )
    ).open()
    ensure_user(workbench, "alice", Role.analyst, password=PASSWORD)
    try:
        yield workbench
    finally:
        workbench.close()


def code(call: object) -> str:
    with pytest.raises(QueryDeckError) as info:
        call()  # type: ignore[operator]
    return info.value.code


def test_one_account_from_many_addresses(wb: Workbench) -> None:
    for i in range(5):
        assert code(lambda i=i: wb.accounts.login("alice", "wrong", address=f"10.0.0.{i}")) == (
            "LOGIN_FAILED"
        )
    # the right password no longer helps: the account is locked for the window
    with pytest.raises(QueryDeckError) as info:
        wb.accounts.login("Alice", PASSWORD, address="10.0.1.1")
    assert info.value.code == "RATE_LIMITED"
    assert 0 < info.value.detail["retry_after_s"] <= 60
    # an unknown account behaves exactly the same (no existence leak)
    answers = [
        code(lambda i=i: wb.accounts.login("nobody", "x", address=f"10.0.2.{i}")) for i in range(6)
    ]
    assert answers == ["LOGIN_FAILED"] * 5 + ["RATE_LIMITED"]


def test_one_address_many_accounts_and_a_good_login_clears_the_account(wb: Workbench) -> None:
    assert code(lambda: wb.accounts.login("alice", "wrong", address="10.9.9.9")) == "LOGIN_FAILED"
    wb.accounts.login("alice", PASSWORD, address="10.9.9.8")  # clears alice's count
    answers = [
        code(lambda i=i: wb.accounts.login(f"user{i}", "x", address="10.9.9.9")) for i in range(7)
    ]
    assert answers == ["LOGIN_FAILED"] * 7
    assert code(lambda: wb.accounts.login("alice", PASSWORD, address="10.9.9.9")) == "RATE_LIMITED"
    # from another address alice still gets in
    assert wb.accounts.login("alice", PASSWORD, address="10.9.9.7").user.username == "alice"


def test_http_429_with_retry_after(wb: Workbench) -> None:
    with TestClient(create_app(wb)) as client:
        statuses = [
            client.post("/api/v1/auth/login", json={"username": "alice", "password": "no"})
            for _ in range(6)
        ]
    assert [r.status_code for r in statuses] == [401] * 5 + [429]
    last = statuses[-1]
    assert last.json()["error"]["code"] == "RATE_LIMITED"
    assert 0 < int(last.headers["Retry-After"]) <= 60


def test_runs_per_user(wb: Workbench, files_dir: Path) -> None:
    db = files_dir / "files.db"
    sqlite3.connect(db).close()
    wb.connections.create("f", driver="sqlite", options={"path": str(db)})
    wb.grants.grant("f", "user", "alice", ["query"])
    alice = ensure_user(wb, "alice", Role.analyst)
    for _ in range(3):
        wb.runs.wait(wb.runs.start(RunRequest(connection="f", sql="SELECT 1"), actor=alice), None)
    assert (
        code(lambda: wb.runs.start(RunRequest(connection="f", sql="SELECT 1"), actor=alice))
        == "RATE_LIMITED"
    )
    # the local CLI is not rate limited
    wb.runs.run(RunRequest(connection="f", sql="SELECT 1"))
