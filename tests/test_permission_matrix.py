"""Every /api/v1 endpoint called by an anonymous user, a viewer, an analyst without a grant
and another analyst, against objects owned by analyst alice: the expected status of each
call comes from one table, and the table must name every route the app has (SECURITY_TESTS
H6; "nothing executed" is checked on the run count)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from querydeck.api import API_PREFIX, create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Role
from querydeck.runs.models import RunRequest, SavedQueryInput
from querydeck.store.tables import RunRow
from tests.apiauth import api_client, ensure_user

CALLERS = ("anonymous", "viewer", "no_grant", "other")

# (method, path template, body or None, expected statuses for CALLERS)
# {run}, {saved}, {token}, {cert} are alice's objects; chinook is granted to viewer (browse)
# and to other (query, export), never to no_grant.
D = 401  # what an anonymous caller always gets
MATRIX: list[tuple[str, str, Any, tuple[int, int, int, int]]] = [
    ("GET", "/drivers", None, (D, 200, 200, 200)),
    ("GET", "/drivers/sqlite", None, (D, 200, 200, 200)),
    ("GET", "/connections", None, (D, 200, 200, 200)),
    ("POST", "/connections", {"name": "x", "url": "sqlite:///x.db"}, (D, 403, 403, 403)),
    ("GET", "/connections/chinook", None, (D, 200, 404, 200)),
    ("PATCH", "/connections/chinook", {"options": {}}, (D, 403, 404, 403)),
    ("POST", "/connections/chinook/rename", {"name": "y"}, (D, 403, 404, 403)),
    ("DELETE", "/connections/chinook", None, (D, 403, 404, 403)),
    ("POST", "/connections/chinook/test", None, (D, 403, 404, 403)),
    ("GET", "/connections/chinook/catalog", None, (D, 200, 404, 200)),
    ("POST", "/connections/chinook/catalog/refresh", None, (D, 403, 404, 403)),
    ("GET", "/connections/chinook/catalog/settings", None, (D, 200, 404, 200)),
    ("PUT", "/connections/chinook/catalog/settings", {}, (D, 403, 404, 403)),
    ("GET", "/connections/chinook/tables/main/Artist", None, (D, 200, 404, 200)),
    ("GET", "/search?q=artist", None, (D, 200, 200, 200)),
    ("GET", "/connections/chinook/grants", None, (D, 403, 403, 403)),
    (
        "PUT",
        "/connections/chinook/grants",
        {"subject_kind": "user", "subject": "no_grant", "actions": ["query"]},
        (D, 403, 403, 403),
    ),
    ("DELETE", "/connections/chinook/grants/user/alice", None, (D, 403, 403, 403)),
    ("GET", "/groups", None, (D, 403, 403, 403)),
    ("POST", "/groups", {"name": "g"}, (D, 403, 403, 403)),
    ("GET", "/groups/team", None, (D, 403, 403, 403)),
    ("DELETE", "/groups/team", None, (D, 403, 403, 403)),
    ("PUT", "/groups/team/members/other", None, (D, 403, 403, 403)),
    ("DELETE", "/groups/team/members/alice", None, (D, 403, 403, 403)),
    ("POST", "/runs", {"connection": "chinook", "sql": "SELECT 1"}, (D, 403, 404, 200)),
    ("GET", "/runs", None, (D, 200, 200, 200)),
    ("GET", "/runs/{run}", None, (D, 404, 404, 404)),
    ("GET", "/runs/{run}/rows", None, (D, 404, 404, 404)),
    ("POST", "/runs/{run}/cancel", None, (D, 404, 404, 404)),
    ("GET", "/runs/{run}/export?format=csv", None, (D, 404, 404, 404)),
    ("POST", "/runs/{run}/rerun", None, (D, 404, 404, 404)),
    ("GET", "/saved-queries", None, (D, 200, 200, 200)),
    ("POST", "/saved-queries", {"name": "n", "sql": "SELECT 1"}, (D, 403, 201, 201)),
    ("GET", "/saved-queries/{saved}", None, (D, 404, 404, 404)),
    ("PATCH", "/saved-queries/{saved}", {"sql": "SELECT 2"}, (D, 403, 404, 404)),
    ("DELETE", "/saved-queries/{saved}", None, (D, 404, 404, 404)),
    ("POST", "/saved-queries/{saved}/run", None, (D, 404, 404, 404)),
    ("GET", "/certificates", None, (D, 200, 200, 200)),
    ("POST", "/certificates", {"name": "ca", "pem": "x"}, (D, 403, 403, 403)),
    ("GET", "/certificates/{cert}", None, (D, 404, 404, 404)),
    ("DELETE", "/certificates/{cert}", None, (D, 403, 403, 403)),
    ("GET", "/users", None, (D, 403, 403, 403)),
    (
        "POST",
        "/users",
        {"username": "z", "role": "admin", "password": "x" * 20},
        (D, 403, 403, 403),
    ),
    ("GET", "/users/alice", None, (D, 403, 403, 403)),
    ("PATCH", "/users/alice", {"role": "admin"}, (D, 403, 403, 403)),
    ("POST", "/users/alice/password", {"password": "y" * 20}, (D, 403, 403, 403)),
    ("GET", "/auth/me", None, (D, 200, 200, 200)),
    (
        "POST",
        "/auth/password",
        {"current_password": "a" * 12, "new_password": "b" * 12},
        (D, 403, 403, 403),
    ),
    ("GET", "/me/tokens", None, (D, 200, 200, 200)),
    ("POST", "/me/tokens", {"name": "t"}, (D, 201, 201, 201)),
    ("DELETE", "/me/tokens/{token}", None, (D, 404, 404, 404)),
    ("GET", "/me/preferences", None, (D, 200, 200, 200)),
    ("GET", "/me/preferences/theme", None, (D, 404, 404, 404)),
    ("PUT", "/me/preferences/theme", {"value": "dark"}, (D, 201, 201, 201)),
    ("DELETE", "/me/preferences/missing", None, (D, 404, 404, 404)),
    ("GET", "/audit", None, (D, 403, 403, 403)),
    ("POST", "/auth/logout", None, (D, 204, 204, 204)),
]
#: Routes every caller may use without credentials (not in the table).
PUBLIC = {("POST", "/auth/login")}


@pytest.fixture
def wb(demo_workbench: Workbench) -> Workbench:
    return demo_workbench


def run_count(wb: Workbench) -> int:
    with wb.db.read() as tx:
        return tx.scalar(select(func.count()).select_from(RunRow)) or 0


def test_the_table_names_every_route(wb: Workbench) -> None:
    routes = {
        (method, route.path.removeprefix(API_PREFIX))
        for route in create_app(wb).routes
        if isinstance(route, APIRoute) and route.path.startswith(API_PREFIX)
        for method in route.methods
    }
    listed = {
        (
            method,
            path.split("?")[0]
            .replace("/chinook", "/{name}")
            .replace("/{run}", "/{run_id}")
            .replace("/{saved}", "/{ref}")
            .replace("/{token}", "/{token_id}")
            .replace("/{cert}", "/{certificate_id}"),
        )
        for method, path, _, _ in MATRIX
    }
    missing = routes - listed - PUBLIC
    assert not missing, f"routes without a row in MATRIX: {sorted(missing)}"


def test_every_endpoint_for_every_caller(wb: Workbench) -> None:
    alice = ensure_user(wb, "alice", Role.analyst)
    for name, role in (
        ("viewer", Role.viewer),
        ("no_grant", Role.analyst),
        ("other", Role.analyst),
    ):
        ensure_user(wb, name, role)
    wb.grants.grant("chinook", "user", "alice", ["query", "export"])
    wb.grants.grant("chinook", "user", "viewer", ["browse"])
    wb.grants.grant("chinook", "user", "other", ["query", "export"])
    wb.catalog.refresh("chinook")
    wb.grants.create_group("team")
    wb.grants.add_group_member("team", "alice")
    run = wb.runs.run(RunRequest(connection="chinook", sql="SELECT 1 AS n"), actor=alice)
    saved = wb.saved.create(
        SavedQueryInput(name="mine", sql="SELECT 2", connection="chinook"), actor=alice
    )
    token, _ = wb.accounts.create_token(alice, "alice's")
    cert_id = "00000000-0000-4000-8000-000000000000"
    ids = {"{run}": run.id, "{saved}": saved.id, "{token}": token.id, "{cert}": cert_id}

    clients: dict[str, TestClient] = {"anonymous": TestClient(create_app(wb))}
    for name in CALLERS[1:]:
        role = Role.viewer if name == "viewer" else Role.analyst
        clients[name] = api_client(wb, username=name, role=role)
    failures = []
    for method, template, body, expected in MATRIX:
        path = template
        for key, value in ids.items():
            path = path.replace(key, value)
        for caller, want in zip(CALLERS, expected, strict=True):
            before = run_count(wb)
            response = clients[caller].request(method, API_PREFIX + path, json=body)
            if response.status_code != want:
                failures.append(f"{caller} {method} {template}: {response.status_code} != {want}")
                continue
            if want >= 400:
                error = response.json()["error"]
                assert error["code"]
                assert error["message"]
                # nothing ran for a refused call
                assert run_count(wb) == before, (caller, method, template)
    assert not failures, "\n".join(failures)
    # alice's objects are intact, and still hers
    assert wb.runs.get(run.id).user == "alice"
    assert wb.saved.get(saved.id).sql == "SELECT 2"
    assert [t.id for t in wb.accounts.list_tokens(alice).items] == [token.id]
