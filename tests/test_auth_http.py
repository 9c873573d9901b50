"""Authentication over HTTP: every route but health and login needs a session or a token
(H2), login cookies and CSRF (H5), and the auth, token and user routes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from querydeck.api import API_PREFIX, create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import LOCAL, Role
from querydeck.errors import ConfigError
from querydeck.settings import Settings, load_settings
from querydeck.store.tables import ApiTokenRow, utcnow
from tests.apiauth import api_client, bearer_token, ensure_user, login_client

PASSWORD = "correct horse battery staple"
LOGIN = f"{API_PREFIX}/auth/login"
ME = f"{API_PREFIX}/auth/me"
TOKENS = f"{API_PREFIX}/me/tokens"
USERS = f"{API_PREFIX}/users"


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert PASSWORD not in response.text
    return dict(body["error"])


def jwt(payload: dict[str, Any], *, alg: str, key: bytes = b"") -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    head = part({"alg": alg, "typ": "JWT"}) + "." + part(payload)
    if alg == "none":
        return head + "."
    signature = hmac.new(key, head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


# --- every route is authenticated (H2) ---------------------------------------------------


def test_every_route_but_health_and_login_needs_credentials(workbench: Workbench) -> None:
    app = create_app(workbench)
    paths = app.openapi()["paths"]
    protected = {p: o for p, o in paths.items() if p.startswith(API_PREFIX)}
    assert len(protected) > 20
    assert set(paths) - set(protected) == {"/healthz", "/readyz"}
    with TestClient(app) as client:
        for template, operations in protected.items():
            path = template.replace("{", "").replace("}", "")  # {id} -> id
            for method in operations:
                response = client.request(method.upper(), path)
                if template == LOGIN:
                    assert response.status_code == 422, path  # no body
                    continue
                assert response.status_code == 401, (method, path)
                error(response, 401, "UNAUTHENTICATED")
        for public in ("/healthz", "/readyz", "/metrics", f"{API_PREFIX}/openapi.json"):
            assert client.get(public).status_code == 200, public


@pytest.fixture
def ann_token(workbench: Workbench) -> str:
    ensure_user(workbench, "ann", Role.analyst, password=PASSWORD)
    return bearer_token(workbench, username="ann", role=Role.analyst)


def forged(workbench: Workbench, ann_token: str) -> list[tuple[str, str]]:
    """(header or cookie value, what it is): none of them may authenticate."""
    ann = ensure_user(workbench, "ann", Role.analyst)
    login = workbench.accounts.login("ann", PASSWORD)
    expired_info, expired = workbench.accounts.create_token(ann, "expired")
    workbench.db.write(
        lambda s: s.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == expired_info.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    )
    revoked_info, revoked = workbench.accounts.create_token(ann, "revoked")
    workbench.accounts.revoke_token(ann, revoked_info.id)
    claims = {"sub": "ann", "user_id": ann.user_id, "role": "admin", "exp": 4102444800}
    other_key = secrets.token_bytes(32)
    return [
        (secrets.token_urlsafe(32), "random"),
        ("qdt_" + secrets.token_urlsafe(32), "random with the token prefix"),
        (jwt(claims, alg="none"), "alg=none JWT"),
        (jwt(claims, alg="HS256", key=other_key), "JWT signed with another key"),
        (jwt(claims, alg="HS256", key=b""), "JWT signed with an empty key"),
        (
            ann_token + "." + hmac.new(other_key, ann_token.encode(), "sha256").hexdigest(),
            "a real token signed with another key",
        ),
        (expired, "expired token"),
        (revoked, "revoked token"),
        (expired_info.id, "a token's id"),
        (str(ann.user_id), "a user's id"),
        (hashlib.sha256(login.session_secret.encode()).hexdigest(), "a session's stored id"),
        (login.csrf_token, "a CSRF token"),
    ]


def test_forged_expired_and_revoked_credentials_are_401(
    workbench: Workbench, ann_token: str
) -> None:
    """H2: as a bearer token and as a session cookie alike."""
    cases = forged(workbench, ann_token)
    with TestClient(create_app(workbench)) as client:
        for value, what in cases:
            response = client.get(
                f"{API_PREFIX}/connections", headers={"Authorization": f"Bearer {value}"}
            )
            assert response.status_code == 401, what
            error(response, 401, "UNAUTHENTICATED")
            client.cookies.set("qd_session", value)
            response = client.get(f"{API_PREFIX}/connections")
            client.cookies.clear()
            assert response.status_code == 401, what
        for header in ("Basic YW5uOnB3", "Bearer", "Bearer ", ann_token, f"Token {ann_token}"):
            response = client.get(ME, headers={"Authorization": header})
            error(response, 401, "UNAUTHENTICATED")
        # the real token works, and a header wins over a (bad) cookie
        client.cookies.set("qd_session", "nonsense")
        me = client.get(ME, headers={"Authorization": f"Bearer {ann_token}"})
        assert me.status_code == 200
        assert me.json()["user"]["username"] == "ann"
        assert me.json()["via"] == "token"
        assert me.json()["csrf_token"] is None


def test_disabled_users_are_401_on_their_next_request(workbench: Workbench) -> None:
    with login_client(workbench, username="ann", role=Role.analyst) as browser:
        with api_client(workbench, username="ann", role=Role.analyst) as script:
            assert browser.get(ME).status_code == 200
            assert script.get(ME).status_code == 200
            with api_client(workbench) as admin:
                changed = admin.patch(f"{USERS}/ann", json={"disabled": True})
                assert changed.status_code == 200
                assert changed.json()["disabled"] is True
            error(browser.get(ME), 401, "UNAUTHENTICATED")
            error(script.get(ME), 401, "UNAUTHENTICATED")
        error(
            browser.post(LOGIN, json={"username": "ann", "password": PASSWORD}),
            401,
            "LOGIN_FAILED",
        )


# --- login, cookie, logout ---------------------------------------------------------------


def cookie_header(response: Any) -> str:
    values = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    assert len(values) == 1, values
    return str(values[0])


def test_login_sets_a_safe_cookie(workbench: Workbench) -> None:
    ensure_user(workbench, "ann", Role.analyst, password=PASSWORD)
    with TestClient(create_app(workbench)) as client:
        failed = client.post(LOGIN, json={"username": "ann", "password": "wrong password"})
        assert error(failed, 401, "LOGIN_FAILED")["message"] == (
            "The user name or the password is not correct."
        )
        assert "set-cookie" not in failed.headers
        unknown = client.post(LOGIN, json={"username": "nobody", "password": "wrong password"})
        assert error(unknown, 401, "LOGIN_FAILED")["message"] == failed.json()["error"]["message"]
        response = client.post(LOGIN, json={"username": "ANN", "password": PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["user"]["username"] == "ann"
        assert body["user"]["role"] == "analyst"
        assert body["expires_at"].endswith("Z")
        assert "password_hash" not in body["user"]
        assert response.headers["cache-control"] == "no-store"
        cookie = cookie_header(response)
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
        assert cookie.startswith("qd_session=")
        assert {"httponly", "path", "expires"} <= attributes
        assert "samesite=lax" in cookie.lower()
        assert "secure" not in attributes  # plain http
        secret = cookie.split(";")[0].split("=", 1)[1]
        assert secret not in response.text
        me = client.get(ME)
        assert me.json()["via"] == "session"
        assert me.json()["csrf_token"] == body["csrf_token"]
        bad = client.post(LOGIN, json={"username": "ann", "password": "x" * 2000})
        assert error(bad, 422, "INVALID_INPUT")
        assert "x" * 100 not in bad.text


@pytest.mark.parametrize(
    ("forced", "base_url", "secure"),
    [
        (None, "https://testserver", True),
        (True, "http://testserver", True),
        (False, "https://testserver", False),
    ],
)
def test_secure_cookie_flag(
    settings: Settings, forced: bool | None, base_url: str, secure: bool
) -> None:
    with Workbench(settings.model_copy(update={"cookie_secure": forced})) as wb:
        ensure_user(wb, "ann", Role.analyst, password=PASSWORD)
        with TestClient(create_app(wb), base_url=base_url) as client:
            response = client.post(LOGIN, json={"username": "ann", "password": PASSWORD})
            attributes = {a.strip().lower() for a in cookie_header(response).split(";")}
            assert ("secure" in attributes) is secure


def test_logout_ends_the_session(workbench: Workbench) -> None:
    with login_client(workbench) as client:
        cookie = client.cookies["qd_session"]
        response = client.post(f"{API_PREFIX}/auth/logout")
        assert response.status_code == 204
        assert 'qd_session=""' in cookie_header(response) or "Max-Age=0" in cookie_header(response)
        client.cookies.set("qd_session", cookie)  # replaying the old cookie
        error(client.get(ME), 401, "UNAUTHENTICATED")


# --- CSRF (H5) ---------------------------------------------------------------------------


def test_cookie_requests_need_the_csrf_token_and_our_origin(workbench: Workbench) -> None:
    with login_client(workbench) as client:
        token = client.headers.pop("X-CSRF-Token")
        made = {"name": "t"}
        error(client.post(TOKENS, json=made), 403, "CSRF_FAILED")
        wrong = {"X-CSRF-Token": secrets.token_urlsafe(32)}
        error(client.post(TOKENS, json=made, headers=wrong), 403, "CSRF_FAILED")
        error(client.delete(f"{TOKENS}/x", headers=wrong), 403, "CSRF_FAILED")
        error(client.patch(f"{USERS}/admin", json={}, headers=wrong), 403, "CSRF_FAILED")
        right = {"X-CSRF-Token": token}
        for foreign in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://testserver.evil.example"},
            {"Origin": "http://testserver:8080"},
            {"Origin": "https://testserver"},
            {"Referer": "https://evil.example/page"},
        ):
            error(client.post(TOKENS, json=made, headers={**right, **foreign}), 403, "CSRF_FAILED")
        assert (
            workbench.accounts.list_tokens(ensure_user(workbench, "admin", Role.admin)).total == 0
        )
        assert client.get(TOKENS).status_code == 200  # reading needs no token
        for own in ({}, {"Origin": "http://testserver"}, {"Referer": "http://testserver/x"}):
            response = client.post(TOKENS, json=made, headers={**right, **own})
            assert response.status_code == 201, response.text


def test_an_allowed_cors_origin_passes_the_origin_check(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, cors_allowed_origins=["https://ui.example"])
    with Workbench(settings) as wb, login_client(wb) as client:
        ok = client.post(TOKENS, json={"name": "t"}, headers={"Origin": "https://ui.example"})
        assert ok.status_code == 201, ok.text
        assert ok.headers["access-control-allow-origin"] == "https://ui.example"
        other = client.post(TOKENS, json={"name": "u"}, headers={"Origin": "https://x.example"})
        error(other, 403, "CSRF_FAILED")
        # the allow-list does not replace the CSRF token
        client.headers.pop("X-CSRF-Token")
        missing = client.post(TOKENS, json={"name": "v"}, headers={"Origin": "https://ui.example"})
        error(missing, 403, "CSRF_FAILED")


def test_bearer_requests_need_no_csrf_token(workbench: Workbench) -> None:
    with api_client(workbench) as client:
        response = client.post(
            TOKENS, json={"name": "from a script"}, headers={"Origin": "https://elsewhere.example"}
        )
        assert response.status_code == 201, response.text


def test_login_from_another_site_is_refused(workbench: Workbench) -> None:
    ensure_user(workbench, "ann", Role.analyst, password=PASSWORD)
    with TestClient(create_app(workbench)) as client:
        response = client.post(
            LOGIN,
            json={"username": "ann", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        error(response, 403, "CSRF_FAILED")
        assert "set-cookie" not in response.headers


# --- own password and tokens -------------------------------------------------------------


def test_password_change_over_http(workbench: Workbench) -> None:
    here = login_client(workbench, username="ann", role=Role.analyst, password=PASSWORD)
    there = login_client(workbench, username="ann", role=Role.analyst, password=PASSWORD)
    with here, there:
        change = f"{API_PREFIX}/auth/password"
        wrong = {"current_password": "not it at all", "new_password": "a new fine password"}
        error(here.post(change, json=wrong), 403, "PASSWORD_INCORRECT")
        weak = {"current_password": PASSWORD, "new_password": "iloveyou123"}
        assert error(here.post(change, json=weak), 422, "PASSWORD_REJECTED")["detail"] == {
            "reason": "common"
        }
        good = {"current_password": PASSWORD, "new_password": "a new fine password"}
        assert here.post(change, json=good).status_code == 204
        assert here.get(ME).status_code == 200
        error(there.get(ME), 401, "UNAUTHENTICATED")


def test_tokens_over_http(workbench: Workbench, ann_token: str) -> None:
    with api_client(workbench) as admin:
        made = admin.post(TOKENS, json={"name": "ci", "expires_days": 7})
        assert made.status_code == 201
        assert made.headers["cache-control"] == "no-store"
        secret, info = made.json()["secret"], made.json()["token"]
        assert secret.startswith(info["prefix"])
        listed = admin.get(TOKENS)
        assert listed.status_code == 200
        assert set(listed.json()) == {"items", "total", "limit", "offset"}
        assert secret not in listed.text
        assert info["id"] in {t["id"] for t in listed.json()["items"]}
        error(
            admin.post(TOKENS, json={"name": "x", "expires_days": 9999}),
            422,
            "TOKEN_EXPIRY_INVALID",
        )
        with TestClient(create_app(workbench)) as other:
            other.headers["Authorization"] = f"Bearer {ann_token}"
            error(other.delete(f"{TOKENS}/{info['id']}"), 404, "TOKEN_NOT_FOUND")
            other.headers["Authorization"] = f"Bearer {secret}"
            assert other.get(ME).json()["user"]["username"] == "admin"
            assert admin.delete(f"{TOKENS}/{info['id']}").status_code == 204
            error(other.get(ME), 401, "UNAUTHENTICATED")


# --- users (admin) -----------------------------------------------------------------------


def test_users_api(workbench: Workbench) -> None:
    with api_client(workbench) as admin:
        made = admin.post(USERS, json={"username": "Zoë", "role": "viewer", "password": PASSWORD})
        assert made.status_code == 201, made.text
        assert made.json()["username"] == "Zoë"
        assert made.json()["role"] == "viewer"
        assert "password" not in made.text.replace("password_changed_at", "")
        error(admin.post(USERS, json={"username": "ZOË", "password": PASSWORD}), 409, "USER_EXISTS")
        weak = admin.post(USERS, json={"username": "bob", "password": "123456789012"})
        error(weak, 422, "PASSWORD_REJECTED")
        assert "123456789012" not in weak.text
        error(
            admin.post(USERS, json={"username": "a b", "password": PASSWORD}),
            422,
            "USERNAME_INVALID",
        )
        listed = admin.get(USERS, params={"limit": 1})
        assert listed.json()["total"] == 2
        assert [u["username"] for u in listed.json()["items"]] == ["admin"]
        assert admin.get(f"{USERS}/zoë").json()["username"] == "Zoë"
        error(admin.get(f"{USERS}/nobody"), 404, "USER_NOT_FOUND")
        promoted = admin.patch(f"{USERS}/Zoë", json={"role": "analyst"})
        assert promoted.json()["role"] == "analyst"
        error(admin.patch(f"{USERS}/admin", json={"role": "viewer"}), 409, "LAST_ADMIN")
        error(admin.patch(f"{USERS}/Zoë", json={"role": "root"}), 422, "INVALID_INPUT")
        with api_client(workbench, username="Zoë", role=Role.analyst) as zoe:
            assert zoe.get(ME).status_code == 200
            reset = admin.post(f"{USERS}/Zoë/password", json={"password": "a reset password"})
            assert reset.status_code == 204
            error(zoe.get(ME), 401, "UNAUTHENTICATED")
        login = admin.post(LOGIN, json={"username": "zoë", "password": "a reset password"})
        assert login.status_code == 200


def test_non_admins_get_403_on_users(workbench: Workbench) -> None:
    ensure_user(workbench, "admin", Role.admin)
    for role in (Role.analyst, Role.viewer):
        with api_client(workbench, username=f"u-{role.value}", role=role) as client:
            for method, path, body in (
                ("GET", USERS, None),
                ("POST", USERS, {"username": "x", "password": PASSWORD}),
                ("GET", f"{USERS}/admin", None),
                ("PATCH", f"{USERS}/admin", {"disabled": True}),
                ("POST", f"{USERS}/admin/password", {"password": PASSWORD}),
            ):
                error(client.request(method, path, json=body), 403, "ADMIN_REQUIRED")
            assert client.get(ME).json()["user"]["role"] == role.value
    assert workbench.accounts.get_user(LOCAL, "admin").disabled is False


def test_metrics_token_guards_metrics(data_dir: Path) -> None:
    token = secrets.token_urlsafe(24)
    with (
        Workbench(load_settings(data_dir=data_dir, metrics_token=token)) as wb,
        TestClient(create_app(wb)) as client,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            response = client.get("/metrics", headers=headers)
            error(response, 401, "UNAUTHENTICATED")
            assert token not in response.text
        granted = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert granted.status_code == 200
        assert "querydeck_http_request_duration_seconds" in granted.text
        assert client.get("/healthz").status_code == 200  # the probes stay public
    assert token not in repr(wb.settings)


def test_a_short_metrics_token_is_refused(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="metrics_token"):
        load_settings(data_dir=data_dir, metrics_token="short")
