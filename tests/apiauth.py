"""Authenticated API clients for tests.

``api_client(wb)`` is a ``TestClient`` with an ``Authorization: Bearer`` header of a fresh
personal API token (the user is created when missing); ``login_client(wb)`` logs in with a
password through ``POST /api/v1/auth/login`` and carries the session cookie and the
``X-CSRF-Token`` header. Both are used like ``TestClient`` (as a context manager too).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Principal, Role
from querydeck.errors import UserNotFound


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


def ensure_user(
    wb: Workbench,
    username: str,
    role: Role,
    *,
    password: str | None = None,
    reset: bool = False,
) -> Principal:
    """The principal of ``username`` with ``role``: created when missing (with ``password``
    or a random one), its role changed when it differs. An existing user's password is set
    to ``password`` only with ``reset`` (which ends that user's sessions and tokens)."""
    try:
        user = wb.accounts.get_user(LOCAL, username)
    except UserNotFound:
        user = wb.accounts.create_user(
            LOCAL, username, role=role, password=password or new_password()
        )
    else:
        if reset and password is not None:
            wb.accounts.reset_password(LOCAL, username, password)
    if user.role is not role:
        user = wb.accounts.update_user(LOCAL, username, role=role)
    return Principal(username=user.username, role=user.role, user_id=user.id, via="token")


def bearer_token(wb: Workbench, *, username: str = "admin", role: Role = Role.admin) -> str:
    """A fresh API token secret of ``username`` (created when missing)."""
    principal = ensure_user(wb, username, role)
    _, secret = wb.accounts.create_token(principal, f"tests {secrets.token_hex(4)}")
    return secret


def api_client(
    wb: Workbench, *, username: str = "admin", role: Role = Role.admin, **kwargs: Any
) -> TestClient:
    """A client of ``create_app(wb)`` authenticated with a new API token of ``username``."""
    client = TestClient(create_app(wb), **kwargs)
    client.headers["Authorization"] = f"Bearer {bearer_token(wb, username=username, role=role)}"
    return client


def login_client(
    wb: Workbench,
    *,
    username: str = "admin",
    role: Role = Role.admin,
    password: str | None = None,
    **kwargs: Any,
) -> TestClient:
    """A client logged in with a password: the ``qd_session`` cookie plus the session's
    ``X-CSRF-Token`` header. ``password`` is the user's (it is created with it when
    missing); without it a new password is set (an existing user's sessions and tokens
    end)."""
    if password is None:
        password = new_password()
        ensure_user(wb, username, role, password=password, reset=True)
    else:
        ensure_user(wb, username, role, password=password)
    client = TestClient(create_app(wb), **kwargs)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client
