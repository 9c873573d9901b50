"""Every /api/v1 endpoint called by an anonymous user, a viewer, an analyst without a grant
and another analyst, against objects owned by analyst alice: the expected status of each
call comes from one table, and the table must name every route the app has (SECURITY_TESTS
H6; "nothing executed" is checked on the run count).

Then the paths by which a role could do more than docs/permissions.md says (issue 16, item
5), against a real PostgreSQL database: a viewer's table preview, re-runs and saved-query
runs of SQL nobody shares with them, certificates naming connections the caller cannot see,
and a login that gains write privileges after it was registered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from querydeck.api import API_PREFIX, create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Role
from querydeck.runs.models import RunRequest, SavedQueryInput
from querydeck.settings import load_settings
from querydeck.store.tables import ConnectionRow, RunRow
from tests.apiauth import api_client, ensure_user
from tests.services import postgres_database, postgres_reader

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
    ("GET", "/certificates", None, (D, 403, 200, 200)),
    ("POST", "/certificates", {"name": "ca", "pem": "x"}, (D, 403, 403, 403)),
    ("GET", "/certificates/{cert}", None, (D, 403, 404, 404)),
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


# --- roles mean what the docs say, on PostgreSQL (issue 16, item 5) -------------------------

VICTIMS = 5000


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE victims AS SELECT g AS id, 'secret ' || g AS note "
                f"FROM generate_series(1, {VICTIMS}) g"
            )
        yield url


@pytest.fixture
def pg_wb(data_dir: Path) -> Iterator[Workbench]:
    wb = Workbench(load_settings(data_dir=data_dir, privilege_recheck_s=60)).open()
    try:
        yield wb
    finally:
        wb.close()


def refused_with(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_viewers_read_only_what_is_shared_with_them(pg_wb: Workbench, pg_url: str) -> None:
    """The preview, a re-run and a saved-query run each ran SQL of the caller's choosing for
    a viewer; now only a query shared on the connection runs, while it is shared."""
    wb = pg_wb
    with postgres_reader(pg_url) as url:
        wb.connections.create("pg", url=url)
        wb.catalog.refresh("pg")
        for name, role in (("ann", Role.analyst), ("vera", Role.viewer), ("dan", Role.analyst)):
            ensure_user(wb, name, role)
            wb.grants.grant("pg", "user", name, ["browse", "query"])
        ann = api_client(wb, username="ann", role=Role.analyst)
        vera = api_client(wb, username="vera", role=Role.viewer)
        dan = api_client(wb, username="dan", role=Role.analyst)
        table = f"{API_PREFIX}/connections/pg/tables/public/victims?preview=1000"

        # The preview: rows for an analyst, a refusal (and no run) for a viewer.
        shown = ann.get(table).json()
        assert len(shown["preview"]["rows"]) == 1000
        before = run_count(wb)
        detail = vera.get(table)
        assert detail.status_code == 200, detail.text
        assert detail.json()["preview"] is None
        assert detail.json()["preview_error"]["code"] == "ROLE_FORBIDDEN"
        assert detail.json()["columns"]  # the catalog itself is the viewer's to browse
        assert run_count(wb) == before

        # A shared query runs for the viewer, and re-runs while it is shared as it was.
        shared = ann.post(
            f"{API_PREFIX}/saved-queries",
            json={"name": "n", "sql": "SELECT count(*) AS n FROM victims", "connection": "pg"},
        ).json()
        assert ann.patch(f"{API_PREFIX}/saved-queries/{shared['id']}", json={"shared": True})
        ran = vera.post(f"{API_PREFIX}/saved-queries/{shared['id']}/run")
        assert ran.status_code == 200, ran.text
        assert ran.json()["page"]["rows"] == [[VICTIMS]]
        ran_id = ran.json()["run"]["id"]
        again = vera.post(f"{API_PREFIX}/runs/{ran_id}/rerun")
        assert again.status_code == 200, again.text
        changed = ann.patch(
            f"{API_PREFIX}/saved-queries/{shared['id']}", json={"sql": "SELECT 1 AS one"}
        )
        assert changed.status_code == 200
        before = run_count(wb)
        refused_with(vera.post(f"{API_PREFIX}/runs/{ran_id}/rerun"), 403, "ROLE_FORBIDDEN")
        assert run_count(wb) == before

        # An analyst demoted to viewer keeps their history and saved queries, not the SQL.
        own = dan.post(f"{API_PREFIX}/runs", json={"connection": "pg", "sql": "TABLE victims"})
        assert own.status_code == 200, own.text
        mine = dan.post(
            f"{API_PREFIX}/saved-queries",
            json={"name": "mine", "sql": "SELECT note FROM victims", "connection": "pg"},
        ).json()
        wb.accounts.update_user(LOCAL, "dan", role=Role.viewer)
        before = run_count(wb)
        own_id = own.json()["run"]["id"]
        refused_with(dan.post(f"{API_PREFIX}/runs/{own_id}/rerun"), 403, "ROLE_FORBIDDEN")
        refused_with(
            dan.post(f"{API_PREFIX}/saved-queries/{mine['id']}/run"), 403, "ROLE_FORBIDDEN"
        )
        refused_with(dan.get(f"{API_PREFIX}/certificates"), 403, "ROLE_FORBIDDEN")
        assert run_count(wb) == before
        assert dan.get(f"{API_PREFIX}/runs/{own_id}").status_code == 200


def test_certificates_name_only_connections_the_caller_sees(workbench: Workbench) -> None:
    from tests.tlsfakes import make_ca

    cert = workbench.admin.add_certificate("ca", make_ca().pem)
    for name in ("seen", "hidden"):
        workbench.connections.create(
            name,
            driver="postgres",
            options={
                "host": "127.0.0.1",
                "port": 1,
                "database": "d",
                "user": "u",
                "ssl_ca_certificate": cert.id,
            },
        )
    ensure_user(workbench, "ann", Role.analyst)
    ensure_user(workbench, "vera", Role.viewer)
    workbench.grants.grant("seen", "user", "ann", ["browse"])
    workbench.grants.grant("seen", "user", "vera", ["browse", "query"])
    ann = api_client(workbench, username="ann", role=Role.analyst)
    vera = api_client(workbench, username="vera", role=Role.viewer)
    admin = api_client(workbench)
    url = f"{API_PREFIX}/certificates"
    assert admin.get(f"{url}/{cert.id}").json()["used_by"] == ["hidden", "seen"]
    assert [c["used_by"] for c in ann.get(url).json()["items"]] == [["seen"]]
    assert ann.get(f"{url}/{cert.id}").json()["used_by"] == ["seen"]
    refused_with(vera.get(url), 403, "ROLE_FORBIDDEN")
    refused_with(vera.get(f"{url}/{cert.id}"), 403, "ROLE_FORBIDDEN")
    assert "hidden" not in ann.get(url).text


def age_probe(wb: Workbench, seconds: float) -> None:
    """Make the last privilege probe ``seconds`` older (time passing, as far as it counts)."""

    def backdate(tx: Any) -> None:
        row = tx.scalar(select(ConnectionRow))
        row.privileges_checked_at -= timedelta(seconds=seconds)

    wb.db.write(backdate)


def test_a_login_granted_writes_later_is_refused_until_allowed(
    pg_wb: Workbench, pg_url: str
) -> None:
    """Registration refuses a login that can write; the same login gaining INSERT on the
    server afterwards is found by the probe before the first run once the last probe is
    older than privilege_recheck_s (60 s here), and refused from then on, until an
    administrator allows it or the login is read-only again."""
    wb = pg_wb
    ensure_user(wb, "ann", Role.analyst)
    with postgres_reader(pg_url) as url:
        wb.connections.create("pg", url=url)
        wb.grants.grant("pg", "user", "ann", ["query"])
        ann = api_client(wb, username="ann", role=Role.analyst)
        body = {"connection": "pg", "sql": "SELECT count(*) AS n FROM victims"}
        assert ann.post(f"{API_PREFIX}/runs", json=body).json()["page"]["rows"] == [[VICTIMS]]
        role = urlsplit(url).username

        def server(sql: str) -> None:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(sql.format(role=f'"{role}"'))

        server("GRANT INSERT ON victims TO {role}")
        age_probe(wb, 61)
        refused_with(ann.post(f"{API_PREFIX}/runs", json=body), 422, "CONNECTION_PRIVILEGED")
        found = wb.connections.get("pg").privileges
        assert (found.can_write, found.reasons) == (
            True,
            ["INSERT/UPDATE/DELETE/TRUNCATE on public.victims"],
        )
        # Recorded: refused again although the next periodic probe is not due.
        refused_with(ann.post(f"{API_PREFIX}/runs", json=body), 422, "CONNECTION_PRIVILEGED")
        # An administrator allows it (the flag stays shown) ...
        wb.connections.update("pg", {}, allow_privileged=True)
        assert ann.post(f"{API_PREFIX}/runs", json=body).status_code == 200
        assert wb.connections.get("pg").privileges.can_write is True
        # ... or the login is read-only again.
        server("REVOKE INSERT ON victims FROM {role}")
        wb.connections.update("pg", {}, allow_privileged=False)
        assert ann.post(f"{API_PREFIX}/runs", json=body).status_code == 200
        server("GRANT INSERT ON victims TO {role}")
        age_probe(wb, 61)
        refused_with(ann.post(f"{API_PREFIX}/runs", json=body), 422, "CONNECTION_PRIVILEGED")
        server("REVOKE INSERT ON victims FROM {role}")
        assert ann.post(f"{API_PREFIX}/runs", json=body).status_code == 200
        assert wb.connections.get("pg").privileges.can_write is False
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM victims").fetchone() == (VICTIMS,)
