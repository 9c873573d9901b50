"""Rate limits (querydeck.auth.ratelimit) over process memory and over a real Redis."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.ratelimit import (
    ASSISTANT_USER,
    LOGIN_ADDRESS,
    LOGIN_USER,
    RUNS_ADDRESS,
    RUNS_USER,
    RateLimiter,
)
from querydeck.errors import ConfigError, RateLimited, RateLimitUnavailable
from querydeck.settings import Settings, load_settings
from tests.services import redis_url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    prefix = f"qdtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url())
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Any]:
    """Builds limiters over one backend with settings overrides; closes them afterwards."""
    made: list[RateLimiter] = []
    if request.param == "redis":
        url: str | None = redis_url()
        prefix = request.getfixturevalue("redis_prefix")
    else:
        url, prefix = None, "querydeck"

    def make(**overrides: Any) -> RateLimiter:
        settings = load_settings(data_dir=data_dir, redis_url=url, **overrides)
        limiter = RateLimiter(settings, key_prefix=prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def exhaust(limiter: RateLimiter, scope: str, key: str, allowed: int) -> RateLimited:
    for _ in range(allowed):
        limiter.hit(scope, key)
    with pytest.raises(RateLimited) as caught:
        limiter.hit(scope, key)
    return caught.value


def test_limit_answers_429_with_a_sane_retry_after(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_login_user="3/minute")
    error = exhaust(limiter, LOGIN_USER, "alice", 3)
    assert (error.code, error.http_status) == ("RATE_LIMITED", 429)
    assert error.detail["scope"] == LOGIN_USER
    assert 55 <= error.detail["retry_after_s"] <= 60
    assert "login attempts" in error.message
    # Still refused: a refused attempt does not open the window again.
    with pytest.raises(RateLimited):
        limiter.hit(LOGIN_USER, "alice")
    # Other keys and other scopes keep their own counts.
    limiter.hit(LOGIN_USER, "bob")
    limiter.hit(LOGIN_ADDRESS, "alice")


def test_reset_forgets_one_key(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_login_user="2/minute")
    exhaust(limiter, LOGIN_USER, "alice", 2)
    exhaust(limiter, LOGIN_USER, "carol", 2)
    limiter.reset(LOGIN_USER, "alice")
    limiter.hit(LOGIN_USER, "alice")
    with pytest.raises(RateLimited):
        limiter.hit(LOGIN_USER, "carol")


def test_check_refuses_like_hit_without_counting(make_limiter: Any) -> None:
    """Counting failures only: check before the attempt, hit after a failed one."""
    limiter = make_limiter(rate_limit_login_address="2/minute")
    for _ in range(5):
        limiter.check(LOGIN_ADDRESS, "198.51.100.7")
    limiter.hit(LOGIN_ADDRESS, "198.51.100.7")
    limiter.check(LOGIN_ADDRESS, "198.51.100.7")
    limiter.hit(LOGIN_ADDRESS, "198.51.100.7")
    with pytest.raises(RateLimited) as caught:
        limiter.check(LOGIN_ADDRESS, "198.51.100.7")
    assert 55 <= caught.value.detail["retry_after_s"] <= 60
    limiter.check(LOGIN_ADDRESS, "198.51.100.8")


def test_the_window_moves_on(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_runs_user="2/second")
    error = exhaust(limiter, RUNS_USER, "alice", 2)
    assert error.detail["retry_after_s"] == 1
    time.sleep(1.05)
    limiter.hit(RUNS_USER, "alice")
    limiter.hit(RUNS_USER, "alice")
    with pytest.raises(RateLimited):
        limiter.hit(RUNS_USER, "alice")


def test_every_limit_of_a_scope_applies(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_assistant_user="5/second;3/hour")
    error = exhaust(limiter, ASSISTANT_USER, "alice", 3)
    assert error.detail["limit"] == "3 per 1 hour"
    assert 3590 <= error.detail["retry_after_s"] <= 3600


def test_an_empty_setting_turns_a_scope_off(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_runs_address="", rate_limit_runs_user="1/minute")
    for _ in range(50):
        limiter.hit(RUNS_ADDRESS, "10.0.0.1")
    exhaust(limiter, RUNS_USER, "alice", 1)


def test_long_keys_are_hashed_yet_distinct(make_limiter: Any) -> None:
    limiter = make_limiter(rate_limit_login_user="1/minute")
    first, second = "x" * 5000 + "1", "x" * 5000 + "2"
    exhaust(limiter, LOGIN_USER, first, 1)
    limiter.hit(LOGIN_USER, second)
    limiter.hit(LOGIN_USER, "ünïcödé/with/slashes")


def test_unknown_scope_is_a_programming_error(make_limiter: Any) -> None:
    limiter = make_limiter()
    with pytest.raises(ValueError, match="unknown rate-limit scope"):
        limiter.hit("logins", "alice")


def test_redis_counts_are_shared_between_processes(data_dir: Path, redis_prefix: str) -> None:
    """Two limiters on one Redis (two server processes) share a count; the keys carry
    the prefix."""
    settings = load_settings(
        data_dir=data_dir, redis_url=redis_url(), rate_limit_login_user="3/minute"
    )
    first = RateLimiter(settings, key_prefix=redis_prefix)
    second = RateLimiter(settings, key_prefix=redis_prefix)
    try:
        assert first.shared
        first.hit(LOGIN_USER, "alice")
        second.hit(LOGIN_USER, "alice")
        first.hit(LOGIN_USER, "alice")
        with pytest.raises(RateLimited):
            second.hit(LOGIN_USER, "alice")
        client = redis.Redis.from_url(redis_url())
        try:
            keys = [k.decode() for k in client.scan_iter(f"{redis_prefix}:*")]
        finally:
            client.close()
        assert keys
        assert all(LOGIN_USER in k and "alice" in k for k in keys)
        second.reset(LOGIN_USER, "alice")
        first.hit(LOGIN_USER, "alice")
    finally:
        first.close()
        second.close()


def test_memory_counts_are_per_process(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, rate_limit_login_user="1/minute")
    first, second = RateLimiter(settings), RateLimiter(settings)
    assert not first.shared
    first.hit(LOGIN_USER, "alice")
    second.hit(LOGIN_USER, "alice")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_redis_down_fails_closed_for_logins_and_open_for_runs(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    limiter = RateLimiter(settings)
    try:
        for scope in (LOGIN_USER, LOGIN_ADDRESS, ASSISTANT_USER):
            with pytest.raises(RateLimitUnavailable):
                limiter.check(scope, "alice")
            with pytest.raises(RateLimitUnavailable) as caught:
                limiter.hit(scope, "alice")
            assert (caught.value.code, caught.value.http_status) == (
                "RATE_LIMIT_UNAVAILABLE",
                503,
            )
            assert caught.value.detail == {"scope": scope}
            assert "127.0.0.1" not in caught.value.message
        for scope in (RUNS_USER, RUNS_ADDRESS):
            limiter.check(scope, "alice")
            limiter.hit(scope, "alice")
        limiter.reset(LOGIN_USER, "alice")  # logged, not raised
    finally:
        limiter.close()


def test_settings_are_checked_at_load(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="rate_limit_login_user"):
        load_settings(data_dir=data_dir, rate_limit_login_user="ten per minute please")
    monkeypatch.setenv("QUERYDECK_RATE_LIMIT_RUNS_USER", "10/fortnight")
    with pytest.raises(ConfigError, match="rate_limit_runs_user"):
        load_settings(data_dir=data_dir)
    monkeypatch.setenv("QUERYDECK_RATE_LIMIT_RUNS_USER", " 5 per second ")
    assert load_settings(data_dir=data_dir).rate_limit_runs_user == "5 per second"
    with pytest.raises(ConfigError, match="redis_url"):
        load_settings(data_dir=data_dir, redis_url="http://127.0.0.1:6379")
    monkeypatch.setenv("QUERYDECK_REDIS_URL", "")
    assert load_settings(data_dir=data_dir).redis_url is None


def test_defaults(settings: Settings) -> None:
    assert (settings.rate_limit_login_user, settings.rate_limit_login_address) == (
        "10/minute",
        "20/minute",
    )
    assert (settings.rate_limit_runs_user, settings.rate_limit_runs_address) == (
        "120/minute",
        "300/minute",
    )
    assert settings.rate_limit_assistant_user == "10/minute"  # issue 19
    assert settings.redis_url is None


def test_the_defaults_are_valid_limits() -> None:
    """Settings parse a rate limit only when it differs from its default (which spares
    the CLI importing the `limits` library): each default is checked here instead."""
    from limits import parse_many

    names = [name for name in Settings.model_fields if name.startswith("rate_limit_")]
    assert len(names) == 5
    for name in names:
        default = Settings.model_fields[name].default
        assert isinstance(default, str)
        assert parse_many(default), name


def test_the_limits_are_set_up_on_the_first_count(settings: Settings) -> None:
    """A limiter that never counts (every CLI command on this machine) builds nothing;
    the first count builds the limits, and they hold."""
    limiter = RateLimiter(load_settings(data_dir=settings.data_dir, rate_limit_runs_user="1/hour"))
    try:
        assert limiter._built is None
        limiter.hit(RUNS_USER, "alice")
        assert limiter._built is not None
        with pytest.raises(RateLimited):
            limiter.hit(RUNS_USER, "alice")
    finally:
        limiter.close()
    RateLimiter(settings).close()  # nothing built: nothing to release


@pytest.mark.parametrize("redis_down", [False, True], ids=["limited", "redis-down"])
def test_the_api_turns_limits_into_429_and_503(data_dir: Path, redis_down: bool) -> None:
    """Through the API's error envelope: 429 with Retry-After, 503 while Redis is down.
    (The login and run routes call ``workbench.limiter`` the same way.)"""
    url = f"redis://127.0.0.1:{_closed_port()}/0" if redis_down else None
    wb = Workbench(
        load_settings(data_dir=data_dir, redis_url=url, rate_limit_login_address="1/minute")
    ).open()
    try:
        app = create_app(wb)

        @app.post("/probe-login")
        def probe_login() -> dict[str, str]:
            wb.limiter.hit(LOGIN_ADDRESS, "203.0.113.9")
            return {"status": "ok"}

        with TestClient(app) as client:
            if not redis_down:
                assert client.post("/probe-login").status_code == 200
            response = client.post("/probe-login")
    finally:
        wb.close()
    body = response.json()["error"]
    if redis_down:
        assert (response.status_code, body["code"]) == (503, "RATE_LIMIT_UNAVAILABLE")
        assert "retry-after" not in response.headers
    else:
        assert (response.status_code, body["code"]) == (429, "RATE_LIMITED")
        assert 55 <= int(response.headers["retry-after"]) <= 60
        assert body["detail"]["retry_after_s"] == int(response.headers["retry-after"])
