"""Where the test database servers are, and what to do when one is missing.

Locally a missing server skips its tests with a clear reason; with
``QUERYDECK_REQUIRE_SERVICES=1`` (CI) it fails them instead.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_URL = os.environ.get(
    "QUERYDECK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_URL = os.environ.get("QUERYDECK_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("QUERYDECK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    return os.environ.get("QUERYDECK_REQUIRE_SERVICES", "") not in ("", "0", "false")


def unavailable(what: str, exc: BaseException) -> None:
    """Skip (locally) or fail (CI) because a service is missing."""
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if services_required():
        pytest.fail(message + " (QUERYDECK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the duration of the block; yields its URL."""
    import psycopg

    name = unique_name("qd_test")
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
        raise
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(POSTGRES_URL, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def mysql_connect_args(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "database": parts.path.lstrip("/") or None,
        "charset": "utf8mb4",
    }


@contextmanager
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB/MySQL database for the duration of the block; yields its URL."""
    import pymysql

    name = unique_name("qd_test")
    args = mysql_connect_args(MYSQL_URL)
    args["database"] = None
    try:
        admin = pymysql.connect(connect_timeout=5, autocommit=True, **args)  # type: ignore[arg-type]
    except pymysql.Error as exc:
        unavailable("MariaDB/MySQL", exc)
        raise
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield with_database(MYSQL_URL, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@contextmanager
def postgres_reader(url: str, *, grants: tuple[str, ...] = ()) -> Iterator[str]:
    """A login role that may only read the database at ``url`` (CONNECT, USAGE on public,
    SELECT on its tables), plus any extra ``grants`` (SQL run as the admin, with ``{role}``
    in them); yields the URL with that role's credentials. Dropped afterwards."""
    import psycopg

    role = unique_name("qd_reader")
    password = uuid.uuid4().hex
    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
        try:
            admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
            admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
            admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
            for grant in grants:
                admin.execute(grant.format(role=f'"{role}"'))
            parts = urlsplit(url)
            netloc = f"{role}:{password}@{parts.hostname}:{parts.port or 5432}"
            yield urlunsplit(parts._replace(netloc=netloc))
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


@contextmanager
def mysql_reader(url: str, *, grants: tuple[str, ...] = ()) -> Iterator[str]:
    """A MariaDB/MySQL user with SELECT on the database at ``url`` only, plus any extra
    ``grants`` (``{user}`` and ``{db}`` in them); yields the URL with its credentials."""
    import pymysql

    user = unique_name("qd_reader")[:32]
    password = uuid.uuid4().hex
    args = mysql_connect_args(url)
    database = str(args["database"])
    admin = pymysql.connect(autocommit=True, **args)  # type: ignore[arg-type]
    account = f"'{user}'@'%'"
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT SELECT ON `{database}`.* TO {account}")
            for grant in grants:
                cur.execute(grant.format(user=account, db=f"`{database}`"))
        parts = urlsplit(url)
        netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 3306}"
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS {account}")
        admin.close()


def redis_url() -> str:
    """The test Redis server's URL, after checking that it answers."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
        raise
    finally:
        client.close()
    return REDIS_URL


def settled(check: Callable[[], bool], within_s: float = 10.0) -> bool:
    """Whether ``check`` holds now or becomes true within ``within_s`` (for the server's
    side of a disconnect, which ends after the client's close returns)."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
