"""Accounts, passwords, login sessions and API tokens at the Workbench (SECURITY_TESTS.md
H2, H3). The HTTP side (cookies, CSRF, every route authenticated) is in test_auth_http.py."""

from __future__ import annotations

import stat
import statistics
import time
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from querydeck.app.workbench import Workbench
from querydeck.auth.passwords import MAX_LENGTH, common_passwords
from querydeck.auth.principal import LOCAL, Principal, Role
from querydeck.errors import QueryDeckError
from querydeck.settings import Settings, load_settings
from querydeck.store.tables import ApiTokenRow, LoginSessionRow, UserRow, utcnow
from tests.services import postgres_database

PASSWORD = "correct horse battery staple"


def fails(code: str, call: Callable[..., Any], *args: Any) -> QueryDeckError:
    with pytest.raises(QueryDeckError) as info:
        call(*args)
    assert info.value.code == code, info.value
    assert PASSWORD not in info.value.message
    return info.value


def add(wb: Workbench, name: str, role: Role = Role.analyst, password: str = PASSWORD) -> None:
    wb.accounts.create_user(LOCAL, name, role=role, password=password)


def principal(wb: Workbench, name: str, password: str = PASSWORD) -> Principal:
    result = wb.accounts.login(name, password)
    return wb.accounts.authenticate_session(result.session_secret)[0]


def age(wb: Workbench, table: Any, **values: Any) -> None:
    """Move a session's or token's timestamps (what the clock would do)."""
    wb.db.write(lambda s: s.execute(update(table).values(**values)))


# --- first start ------------------------------------------------------------------------


def test_initial_admin(workbench: Workbench, data_dir: Path) -> None:
    password = workbench.accounts.ensure_initial_admin()
    assert password is not None
    assert len(password) >= 20
    path = data_dir / "initial-admin-password"
    assert path.read_text() == password + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert workbench.accounts.ensure_initial_admin() is None  # only when no user exists
    admin = principal(workbench, "admin", password)
    assert admin.is_admin
    assert admin.via == "session"
    with workbench.db.read() as tx:
        stored = tx.scalar(select(UserRow.password_hash))
    assert stored is not None  # H3
    assert stored.startswith("$argon2id$")
    assert password not in stored
    workbench.accounts.change_password(admin, password, PASSWORD)
    assert not path.exists()  # stale once admin has another password


# --- passwords (H3) ---------------------------------------------------------------------


def test_common_password_list() -> None:
    listed = common_passwords()
    assert len(listed) >= 1000
    assert {"123456", "password", "qwerty", "iloveyou", "1qaz2wsx"} <= listed
    assert all(p == p.casefold() for p in listed)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("shorty1", "too_short"),
        ("x" * (MAX_LENGTH + 1), "too_long"),
        ("password1234", "common"),
        ("PassWord1234", "common"),  # casefolded
        ("ｐａｓｓｗｏｒｄ１２３４", "common"),  # fullwidth: NFKC first
        ("qwertyuiop123", "common"),
        ("Charlotte.Brontë", "username"),
    ],
)
def test_policy_refuses(workbench: Workbench, password: str, reason: str) -> None:
    error = fails(
        "PASSWORD_REJECTED",
        lambda: workbench.accounts.create_user(
            LOCAL, "charlotte.brontë", role=Role.viewer, password=password
        ),
    )
    assert error.detail["reason"] == reason
    assert password not in str(error.detail)
    assert workbench.accounts.list_users(LOCAL).total == 0


def test_policy_accepts_long_and_unicode_passwords(workbench: Workbench) -> None:
    add(workbench, "a", password="y" * MAX_LENGTH)
    add(workbench, "b", password="pässwörd-ünïcödé-密码")
    assert principal(workbench, "a", "y" * MAX_LENGTH).username == "a"
    # the same password typed as a decomposed sequence (NFKC) still matches
    assert principal(workbench, "b", "pa\u0308sswo\u0308rd-u\u0308ni\u0308co\u0308de\u0301-密码")


def test_minimum_length_is_a_setting(settings: Settings) -> None:
    with Workbench(settings.model_copy(update={"password_min_length": 16})) as wb:
        fails("PASSWORD_REJECTED", lambda: add(wb, "u", password="fifteen-chars!!"))
        add(wb, "u", password="sixteen-chars!!!")


def test_rehash_when_the_costs_change(settings: Settings) -> None:
    with Workbench(settings) as wb:
        add(wb, "u")
    with Workbench(settings.model_copy(update={"argon2_time_cost": 2})) as wb:

        def read() -> str:
            with wb.db.read() as tx:
                return str(tx.scalar(select(UserRow.password_hash)))

        assert ",t=1," in read()
        fails("LOGIN_FAILED", lambda: wb.accounts.login("u", "wrong password here"))
        assert ",t=1," in read()  # a failed login changes nothing
        wb.accounts.login("u", PASSWORD)
        assert ",t=2," in read()
        wb.accounts.login("u", PASSWORD)


def test_unknown_user_logins_take_as_long(settings: Settings) -> None:
    """H3: medians of failed logins for a known and an unknown user are alike (the costs
    are raised a little so argon2, not the noise, is what is measured)."""
    # (login rate limits off: this test fails many logins on purpose)
    costs = {
        "argon2_time_cost": 2,
        "argon2_memory_kib": 8192,
        "rate_limit_login_user": "",
        "rate_limit_login_address": "",
    }
    with Workbench(settings.model_copy(update=costs)) as wb:
        add(wb, "known")

        def median(username: str) -> float:
            times = []
            for _ in range(15):
                started = time.perf_counter()
                fails("LOGIN_FAILED", lambda: wb.accounts.login(username, "not the password"))
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        median("known"), median("nobody")  # warm up
        known, unknown = median("known"), median("nobody")
        assert 0.5 <= unknown / known <= 2.0, (known, unknown)
        for name in ("known", "nobody", "x" * 5000):
            message = fails("LOGIN_FAILED", wb.accounts.login, name, "nope").message
            assert message == "The user name or the password is not correct."


# --- users ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["José", "名前", "a.b_c-d", "Ωmega9", "ab" * 32, "नमस्ते"])
def test_valid_usernames(workbench: Workbench, name: str) -> None:
    add(workbench, name)
    assert workbench.accounts.get_user(LOCAL, name.upper()).username == name


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "bad name", "x/y", ".hidden", "-dash", "tab\t", "LOCAL", "a@b"]
)
def test_invalid_usernames(workbench: Workbench, name: str) -> None:
    fails("USERNAME_INVALID", lambda: add(workbench, name))


def test_names_are_unique_ignoring_case_and_normalisation(workbench: Workbench) -> None:
    add(workbench, "Jose\u0301")  # decomposed: stored as NFC
    assert workbench.accounts.get_user(LOCAL, "josé").username == "José"
    fails("USER_EXISTS", lambda: add(workbench, "JOSÉ"))
    assert principal(workbench, "JOSE\u0301").username == "José"


def test_only_admins_manage_users(workbench: Workbench) -> None:
    add(workbench, "boss", Role.admin)
    add(workbench, "ann")
    ann = principal(workbench, "ann")
    for call in (
        lambda: workbench.accounts.list_users(ann),
        lambda: workbench.accounts.get_user(ann, "boss"),
        lambda: workbench.accounts.create_user(ann, "eve", role=Role.admin, password=PASSWORD),
        lambda: workbench.accounts.update_user(ann, "ann", role=Role.admin),
        lambda: workbench.accounts.reset_password(ann, "boss", "another fine password"),
    ):
        fails("ADMIN_REQUIRED", call)
    assert workbench.accounts.get_user(LOCAL, "ann").role is Role.analyst
    boss = principal(workbench, "boss")
    assert [u.username for u in workbench.accounts.list_users(boss).items] == ["ann", "boss"]
    assert workbench.accounts.list_users(boss, limit=1, offset=1).items[0].username == "boss"
    fails("USER_NOT_FOUND", lambda: workbench.accounts.get_user(boss, "nobody"))


def test_role_changes_apply_on_the_next_request(workbench: Workbench) -> None:
    add(workbench, "ann")
    login = workbench.accounts.login("ann", PASSWORD)
    _, secret = workbench.accounts.create_token(principal(workbench, "ann"), "script")
    workbench.accounts.update_user(LOCAL, "ann", role=Role.viewer)
    assert workbench.accounts.authenticate_session(login.session_secret)[0].role is Role.viewer
    assert workbench.accounts.authenticate_token(secret).role is Role.viewer


def test_disabling_ends_sessions_and_tokens_at_once(workbench: Workbench) -> None:
    add(workbench, "ann")
    login = workbench.accounts.login("ann", PASSWORD)
    _, secret = workbench.accounts.create_token(principal(workbench, "ann"), "script")
    assert workbench.accounts.update_user(LOCAL, "ann", disabled=True).disabled
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(login.session_secret))
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_token(secret))
    fails("LOGIN_FAILED", lambda: workbench.accounts.login("ann", PASSWORD))
    workbench.accounts.update_user(LOCAL, "ann", disabled=False)
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_token(secret))  # stays revoked
    assert principal(workbench, "ann").username == "ann"


def test_the_last_admin_stays(workbench: Workbench) -> None:
    add(workbench, "root1", Role.admin)
    fails("LAST_ADMIN", lambda: workbench.accounts.update_user(LOCAL, "root1", disabled=True))
    fails("LAST_ADMIN", lambda: workbench.accounts.update_user(LOCAL, "root1", role=Role.analyst))
    add(workbench, "root2", Role.admin)
    workbench.accounts.update_user(LOCAL, "root1", role=Role.analyst)
    fails("LAST_ADMIN", lambda: workbench.accounts.update_user(LOCAL, "root2", disabled=True))


def test_admin_reset_ends_sessions_and_tokens(workbench: Workbench) -> None:
    add(workbench, "ann")
    login = workbench.accounts.login("ann", PASSWORD)
    _, secret = workbench.accounts.create_token(principal(workbench, "ann"), "script")
    fails(
        "PASSWORD_REJECTED", lambda: workbench.accounts.reset_password(LOCAL, "ann", "letmein123")
    )
    workbench.accounts.authenticate_token(secret)  # a refused reset changes nothing
    workbench.accounts.reset_password(LOCAL, "ann", "a brand new password")
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(login.session_secret))
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_token(secret))
    fails("LOGIN_FAILED", lambda: workbench.accounts.login("ann", PASSWORD))
    assert principal(workbench, "ann", "a brand new password").username == "ann"


# --- sessions ---------------------------------------------------------------------------


def test_login_session(workbench: Workbench) -> None:
    add(workbench, "ann")
    fails("LOGIN_FAILED", lambda: workbench.accounts.login("ann", "wrong password"))
    result = workbench.accounts.login(
        "ANN", PASSWORD, address="10.0.0.9", user_agent="ua\x00" + "x" * 999
    )
    assert result.user.username == "ann"
    assert result.user.last_login_at is not None
    assert result.session_secret not in repr(result)
    assert result.csrf_token not in repr(result)
    who, csrf = workbench.accounts.authenticate_session(result.session_secret, address="10.0.0.9")
    assert (who.username, who.role, who.via, who.address) == (
        "ann",
        Role.analyst,
        "session",
        "10.0.0.9",
    )
    assert who.user_id == result.user.id
    assert csrf == result.csrf_token
    with workbench.db.read() as tx:
        row = tx.scalars(select(LoginSessionRow)).one()
    assert row.id != result.session_secret  # SHA-256, never the secret
    assert len(row.id) == 64
    assert row.user_agent is not None
    assert len(row.user_agent) == 200
    assert "\x00" not in row.user_agent
    assert row.expires_at - row.created_at == timedelta(hours=24)
    workbench.accounts.logout(who)
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(result.session_secret))


def test_sessions_expire_idle_and_absolute(workbench: Workbench) -> None:
    add(workbench, "ann")
    first = workbench.accounts.login("ann", PASSWORD)

    def seen() -> list[Any]:
        with workbench.db.read() as tx:
            return list(tx.scalars(select(LoginSessionRow.last_seen_at)))

    before = seen()
    workbench.accounts.authenticate_session(first.session_secret)
    assert seen() == before  # touched at most once a minute
    age(workbench, LoginSessionRow, last_seen_at=utcnow() - timedelta(minutes=5))
    workbench.accounts.authenticate_session(first.session_secret)
    assert seen()[0] > utcnow() - timedelta(seconds=30)
    age(workbench, LoginSessionRow, last_seen_at=utcnow() - timedelta(minutes=121))
    error = fails(
        "UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(first.session_secret)
    )
    assert error.detail == {"reason": "expired"}
    second = workbench.accounts.login("ann", PASSWORD)
    age(workbench, LoginSessionRow, expires_at=utcnow() - timedelta(seconds=1))
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(second.session_secret))
    assert seen() == []  # expired sessions are deleted


def test_password_change_ends_the_other_sessions(workbench: Workbench) -> None:
    add(workbench, "ann")
    here, elsewhere = (
        workbench.accounts.login("ann", PASSWORD),
        workbench.accounts.login("ann", PASSWORD),
    )
    me = workbench.accounts.authenticate_session(here.session_secret)[0]
    _, secret = workbench.accounts.create_token(me, "script")
    fails(
        "PASSWORD_INCORRECT",
        lambda: workbench.accounts.change_password(me, "not it", "another good one"),
    )
    fails("PASSWORD_REJECTED", lambda: workbench.accounts.change_password(me, PASSWORD, "ann"))
    workbench.accounts.authenticate_session(elsewhere.session_secret)  # nothing changed yet
    workbench.accounts.change_password(me, PASSWORD, "another good one")
    workbench.accounts.authenticate_session(here.session_secret)
    workbench.accounts.authenticate_token(secret)  # tokens stay
    fails(
        "UNAUTHENTICATED", lambda: workbench.accounts.authenticate_session(elsewhere.session_secret)
    )
    fails("LOGIN_FAILED", lambda: workbench.accounts.login("ann", PASSWORD))
    workbench.accounts.login("ann", "another good one")
    fails("FORBIDDEN", lambda: workbench.accounts.change_password(LOCAL, "a", "b"))


# --- API tokens (H2) --------------------------------------------------------------------


def test_tokens(workbench: Workbench) -> None:
    add(workbench, "ann")
    add(workbench, "bob")
    ann, bob = principal(workbench, "ann"), principal(workbench, "bob")
    info, secret = workbench.accounts.create_token(ann, " nightly export ", expires_days=30)
    assert secret.startswith("qdt_")
    assert len(secret) >= 40
    assert info.name == "nightly export"
    assert secret.startswith(info.prefix)
    assert info.expires_at - info.created_at == timedelta(days=30)
    assert not info.expired
    with workbench.db.read() as tx:
        stored = tx.scalars(select(ApiTokenRow)).one()
    assert secret not in (stored.token_hash, stored.prefix, stored.id)
    who = workbench.accounts.authenticate_token(secret, address="::1")
    assert (who.username, who.via, who.token_id, who.address) == ("ann", "token", info.id, "::1")
    listed = workbench.accounts.list_tokens(ann)
    assert [t.id for t in listed.items] == [info.id]
    assert listed.total == 1
    assert workbench.accounts.list_tokens(bob).total == 0
    fails("TOKEN_NOT_FOUND", lambda: workbench.accounts.revoke_token(bob, info.id))  # not bob's
    workbench.accounts.authenticate_token(secret)
    workbench.accounts.revoke_token(ann, info.id)
    fails("UNAUTHENTICATED", lambda: workbench.accounts.authenticate_token(secret))
    fails("TOKEN_NOT_FOUND", lambda: workbench.accounts.revoke_token(ann, info.id))
    assert workbench.accounts.list_tokens(ann).total == 0


def test_token_expiry_and_names(workbench: Workbench) -> None:
    add(workbench, "ann")
    ann = principal(workbench, "ann")
    info, secret = workbench.accounts.create_token(ann, "default expiry")
    assert info.expires_at - info.created_at == timedelta(days=365)
    fails(
        "TOKEN_EXPIRY_INVALID", lambda: workbench.accounts.create_token(ann, "x", expires_days=366)
    )
    fails("TOKEN_EXPIRY_INVALID", lambda: workbench.accounts.create_token(ann, "x", expires_days=0))
    for name in ("", "   ", "x" * 101, "bell\x07"):
        fails("TOKEN_NAME_INVALID", workbench.accounts.create_token, ann, name)
    fails("FORBIDDEN", lambda: workbench.accounts.create_token(LOCAL, "local has no account"))
    age(workbench, ApiTokenRow, expires_at=utcnow() - timedelta(seconds=1))
    assert fails(
        "UNAUTHENTICATED", lambda: workbench.accounts.authenticate_token(secret)
    ).detail == {"reason": "expired"}
    assert workbench.accounts.list_tokens(ann).items[0].expired


def test_last_used_is_written_at_most_once_a_minute(workbench: Workbench) -> None:
    add(workbench, "ann")
    _, secret = workbench.accounts.create_token(principal(workbench, "ann"), "t")

    def used() -> Any:
        with workbench.db.read() as tx:
            return tx.scalar(select(ApiTokenRow.last_used_at))

    assert used() is None
    workbench.accounts.authenticate_token(secret)
    first = used()
    assert first is not None
    workbench.accounts.authenticate_token(secret)
    assert used() == first
    age(workbench, ApiTokenRow, last_used_at=first - timedelta(minutes=2))
    workbench.tokens.forget()  # as if its remembered second were over
    workbench.accounts.authenticate_token(secret)
    assert used() is not None
    assert used() > first - timedelta(seconds=1)


def test_a_token_is_remembered_for_a_second_and_forgotten_on_changes_here(
    workbench: Workbench, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of calls with one token reads the database once; a change made in this
    process (revoke, disable, role) takes effect at once, one made by another process
    within the remembered time."""
    monkeypatch.setattr("querydeck.auth.tokens.REMEMBER_S", 60.0)
    add(workbench, "ann")
    add(workbench, "bob")
    ann = principal(workbench, "ann")
    info, secret = workbench.accounts.create_token(ann, "t")
    assert workbench.tokens.remembered(secret) is None
    workbench.accounts.authenticate_token(secret, address="10.0.0.1")
    again = workbench.tokens.remembered(secret, address="10.0.0.2")
    assert again is not None
    assert (again.username, again.address) == ("ann", "10.0.0.2")
    workbench.accounts.update_user(LOCAL, "ann", role=Role.viewer)  # here: forgotten at once
    assert workbench.tokens.remembered(secret) is None
    assert workbench.accounts.authenticate_token(secret).role is Role.viewer

    _, bobs = workbench.accounts.create_token(principal(workbench, "bob"), "t")
    assert workbench.accounts.authenticate_token(bobs).username == "bob"
    with Workbench(settings) as elsewhere:  # another process on the same data
        bob = principal(elsewhere, "bob")
        token_id = elsewhere.accounts.list_tokens(bob).items[0].id
        elsewhere.accounts.revoke_token(bob, token_id)
    assert workbench.accounts.authenticate_token(bobs).username == "bob"  # still remembered
    later = types.SimpleNamespace(monotonic=lambda: time.monotonic() + 61)
    monkeypatch.setattr("querydeck.auth.tokens.time", later)  # its minute is over
    fails("UNAUTHENTICATED", workbench.accounts.authenticate_token, bobs)
    workbench.accounts.revoke_token(principal(workbench, "ann"), info.id)
    fails("UNAUTHENTICATED", workbench.accounts.authenticate_token, secret)


def test_forged_credentials_are_unknown(workbench: Workbench) -> None:
    """H2 at the Workbench: anything but a live secret is 401, including the stored hashes
    and ids themselves."""
    add(workbench, "ann")
    login = workbench.accounts.login("ann", PASSWORD)
    info, secret = workbench.accounts.create_token(principal(workbench, "ann"), "t")
    with workbench.db.read() as tx:
        session_id = tx.scalars(select(LoginSessionRow.id)).first()
        token_hash = tx.scalar(select(ApiTokenRow.token_hash))
        user_id = tx.scalar(select(UserRow.id))
    assert session_id
    assert token_hash
    assert user_id
    for value in (
        "",
        "x" * 5000,
        session_id,
        user_id,
        login.csrf_token,
        secret,  # a token is not a session cookie
        login.session_secret[:-1],
        login.session_secret + "A",
    ):
        fails("UNAUTHENTICATED", workbench.accounts.authenticate_session, value)
    for value in (
        "",
        "qdt_",
        token_hash,
        "qdt_" + token_hash,
        info.id,
        info.prefix,
        login.session_secret,
        "qdt_" + login.session_secret,
        secret[:-1],
        secret.upper(),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbm4iLCJyb2xlIjoiYWRtaW4ifQ.",
    ):
        fails("UNAUTHENTICATED", workbench.accounts.authenticate_token, value)


# --- PostgreSQL app database ------------------------------------------------------------


@pytest.fixture
def pg_workbench(data_dir: Path) -> Iterator[Workbench]:
    with postgres_database() as url:
        wb = Workbench(load_settings(data_dir=data_dir, database_url=url)).open()
        try:
            yield wb
        finally:
            wb.close()


@pytest.mark.services
def test_accounts_on_a_postgres_app_database(pg_workbench: Workbench) -> None:
    wb = pg_workbench
    password = wb.accounts.ensure_initial_admin()
    assert password is not None
    add(wb, "Ann")
    fails("USER_EXISTS", lambda: add(wb, "ann"))
    login = wb.accounts.login("ann", PASSWORD)
    ann = wb.accounts.authenticate_session(login.session_secret)[0]
    info, secret = wb.accounts.create_token(ann, "t")
    assert wb.accounts.authenticate_token(secret).username == "Ann"
    assert wb.accounts.list_tokens(ann).items[0].id == info.id
    age(wb, LoginSessionRow, last_seen_at=utcnow() - timedelta(minutes=5))
    wb.accounts.authenticate_session(login.session_secret)
    wb.accounts.update_user(LOCAL, "ann", disabled=True)
    fails("UNAUTHENTICATED", lambda: wb.accounts.authenticate_token(secret))
    fails("UNAUTHENTICATED", lambda: wb.accounts.authenticate_session(login.session_secret))
    assert [u.username for u in wb.accounts.list_users(LOCAL).items] == ["admin", "Ann"]
    fails("LAST_ADMIN", lambda: wb.accounts.update_user(LOCAL, "admin", role=Role.viewer))
