"""Privilege probes at registration, on test and on first use (SECURITY_TESTS.md B1, G3,
and the MySQL counterpart), with real PostgreSQL roles and MariaDB users that the tests
create and drop. A refusal leaves no connection row and no backend behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
import pymysql
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from querydeck.app.workbench import Workbench
from querydeck.cli import app as cli_app
from querydeck.drivers.mysql.privileges import reasons as mysql_reasons
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.store.tables import ConnectionRow
from tests.apiauth import api_client
from tests.services import (
    MYSQL_URL,
    POSTGRES_URL,
    mysql_connect_args,
    mysql_database,
    mysql_reader,
    postgres_database,
    postgres_reader,
    settled,
)

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g")
        yield url


@pytest.fixture(scope="module")
def my_url() -> Iterator[str]:
    with mysql_database() as url:
        conn = pymysql.connect(autocommit=True, **mysql_connect_args(url))  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT)")
            cur.execute("INSERT INTO t VALUES (1), (2)")
        conn.close()
        yield url


def backends(user: str) -> int:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (user,)
        ).fetchone()
    return int(row[0]) if row else -1


def user_of(url: str) -> str:
    return urlsplit(url).username or ""


PG_PRIVILEGED = [
    ((), None),
    (("GRANT pg_execute_server_program TO {role}",), "member of pg_execute_server_program"),
    (("GRANT pg_read_server_files TO {role}",), "member of pg_read_server_files"),
    (("GRANT pg_write_server_files TO {role}",), "member of pg_write_server_files"),
    (("GRANT INSERT ON t TO {role}",), "INSERT/UPDATE/DELETE/TRUNCATE on public.t"),
    (("GRANT TRUNCATE ON t TO {role}",), "INSERT/UPDATE/DELETE/TRUNCATE on public.t"),
    (("GRANT CREATE ON SCHEMA public TO {role}",), "CREATE on schema public"),
    (("ALTER ROLE {role} CREATEROLE",), "role attribute CREATEROLE"),
]


@pytest.mark.parametrize(("grants", "reason"), PG_PRIVILEGED)
def test_postgres_logins_are_probed(
    workbench: Workbench, pg_url: str, grants: tuple[str, ...], reason: str | None
) -> None:
    with postgres_reader(pg_url, grants=grants) as url:
        if reason is None:
            made = workbench.connections.create("pg", url=url)
            assert (made.privileges.checked, made.privileges.can_write) == (True, False)
            assert workbench.connections.test("pg").ok
            run = workbench.runs.run(RunRequest(connection="pg", sql="SELECT count(*) FROM t"))
            assert run.status is RunStatus.succeeded
            return
        with pytest.raises(QueryDeckError) as info:
            workbench.connections.create("pg", url=url)
        assert (info.value.code, info.value.http_status) == ("CONNECTION_PRIVILEGED", 422)
        assert reason in info.value.detail["reasons"]
        assert workbench.connections.listing().total == 0
        assert settled(lambda: backends(user_of(url)) == 0)  # the server ends it after the close
        made = workbench.connections.create("pg", url=url, allow_privileged=True)
        assert made.privileges.can_write is True
        assert made.privileges.allowed_by_override is True
        assert reason in made.privileges.reasons
        assert workbench.connections.test("pg").ok
    assert settled(lambda: backends(user_of(url)) == 0)  # the server ends it after the close


def test_superuser_is_refused_then_saved_with_the_override(
    workbench: Workbench, pg_url: str
) -> None:
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create("pg", url=pg_url)
    assert info.value.code == "CONNECTION_PRIVILEGED"
    assert info.value.detail["reasons"] == ["superuser"]
    assert "allow_privileged" in info.value.message
    made = workbench.connections.create("pg", url=pg_url, allow_privileged=True)
    assert made.privileges.reasons == ["superuser"]
    # Turning the override off re-probes and refuses; nothing changes.
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.update("pg", {}, allow_privileged=False)
    assert info.value.code == "CONNECTION_PRIVILEGED"
    assert workbench.connections.get("pg").privileges.allowed_by_override is True


def test_grants_added_later_are_caught_by_test_and_first_use(
    workbench: Workbench, pg_url: str
) -> None:
    with postgres_reader(pg_url) as url:
        workbench.connections.create("pg", url=url)
        role = user_of(url)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'GRANT DELETE ON t TO "{role}"')
        with pytest.raises(QueryDeckError) as info:
            workbench.connections.test("pg")
        assert info.value.code == "CONNECTION_PRIVILEGED"
        shown = workbench.connections.get("pg")
        assert shown.status.error_code == "CONNECTION_PRIVILEGED"
        assert shown.privileges.can_write is True
        assert shown.privileges.reasons == ["INSERT/UPDATE/DELETE/TRUNCATE on public.t"]


def test_an_unprobed_login_is_probed_on_first_use(workbench: Workbench, pg_url: str) -> None:
    """A connection never probed (saved while its server was down, or before the upgrade
    that added probes: migration 0004 leaves it unchecked) is probed before its first run
    and refused there when privileged."""
    workbench.connections.create("pg", url=pg_url, allow_privileged=True)

    def forget(session: Any) -> None:
        row = session.scalar(select(ConnectionRow))
        row.can_write, row.privilege_reasons, row.allow_privileged = None, None, False

    workbench.db.write(forget)
    assert workbench.connections.get("pg").privileges.checked is False
    run = workbench.runs.run(RunRequest(connection="pg", sql="SELECT 1"))
    assert (run.status, run.error_code) == (RunStatus.failed, "CONNECTION_PRIVILEGED")
    assert workbench.connections.get("pg").privileges.reasons == ["superuser"]
    workbench.connections.update("pg", {}, allow_privileged=True)
    assert (
        workbench.runs.run(RunRequest(connection="pg", sql="SELECT 1")).status
        is RunStatus.succeeded
    )


def test_field_values_are_taken_literally(workbench: Workbench, pg_url: str) -> None:
    """G3: values that look like libpq parameters stay values; quotes, backslashes and
    spaces in a password work."""
    awkward = "it's a \\ pass word"
    with postgres_reader(pg_url) as url:
        parts = urlsplit(url)
        role = user_of(url)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                f"ALTER ROLE \"{role}\" PASSWORD '{awkward.replace(chr(39), chr(39) * 2)}'"
            )
        base = {"host": parts.hostname, "port": parts.port, "user": role}
        database = parts.path.lstrip("/")
        made = workbench.connections.create(
            "ok", driver="postgres", options={**base, "database": database, "password": awkward}
        )
        assert made.privileges.can_write is False
        for name, changes, code in [
            ("db", {"database": "x options='-c default_transaction_read_only=off'"}, None),
            ("user", {"user": "a host=/tmp", "database": database}, None),
        ]:
            saved = workbench.connections.create(
                name, driver="postgres", options={**base, "password": awkward, **changes}
            )
            assert saved.privileges.checked is False
            with pytest.raises(QueryDeckError) as info:
                workbench.connections.test(name)
            assert info.value.code in ("DATABASE_NOT_FOUND", "CONNECTION_AUTH_FAILED"), code
        assert settled(lambda: backends(role) == 0)


def test_api_and_cli_say_why(data_dir: Any, pg_url: str, workbench: Workbench) -> None:
    with api_client(workbench) as client:
        body = {"name": "pg", "url": pg_url}
        refused = client.post("/api/v1/connections", json=body)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "CONNECTION_PRIVILEGED"
        assert refused.json()["error"]["detail"]["reasons"] == ["superuser"]
        made = client.post("/api/v1/connections", json={**body, "allow_privileged": True})
        assert made.status_code == 201
        assert made.json()["privileges"]["reasons"] == ["superuser"]
        patched = client.patch("/api/v1/connections/pg", json={"options": {"sslmode": "disable"}})
        assert patched.status_code == 200
        assert patched.json()["privileges"]["allowed_by_override"] is True
    runner = CliRunner()
    env = {"QUERYDECK_DATA_DIR": str(workbench.settings.data_dir)}
    workbench.close()
    result = runner.invoke(cli_app, ["connections", "add", "pg2", pg_url], env=env)
    assert result.exit_code == 1
    assert "Error [CONNECTION_PRIVILEGED]" in result.stderr
    added = runner.invoke(
        cli_app, ["connections", "add", "pg2", pg_url, "--allow-privileged"], env=env
    )
    assert added.exit_code == 0, added.output
    shown = runner.invoke(cli_app, ["connections", "show", "pg2"], env=env)
    assert "CAN WRITE (saved with --allow-privileged): superuser" in shown.stdout
    as_json = orjson.loads(
        runner.invoke(cli_app, ["connections", "show", "pg2", "-f", "json"], env=env).stdout
    )
    assert as_json["privileges"]["can_write"] is True
    flipped = runner.invoke(
        cli_app, ["connections", "update", "pg2", "--refuse-privileged"], env=env
    )
    assert "Error [CONNECTION_PRIVILEGED]" in flipped.stderr


# --- MySQL / MariaDB ------------------------------------------------------------------------

MY_PRIVILEGED = [
    ((), None),
    (("GRANT FILE ON *.* TO {user}",), "FILE on *.*"),
    (("GRANT SUPER ON *.* TO {user}",), "SUPER on *.*"),
    (("GRANT INSERT ON {db}.* TO {user}",), "INSERT on"),
    (("GRANT UPDATE ON {db}.t TO {user}",), "UPDATE on"),
    (("GRANT SELECT ON {db}.t TO {user} WITH GRANT OPTION",), "GRANT OPTION on"),
]


@pytest.mark.parametrize(("grants", "reason"), MY_PRIVILEGED)
def test_mysql_logins_are_probed(
    workbench: Workbench, my_url: str, grants: tuple[str, ...], reason: str | None
) -> None:
    with mysql_reader(my_url, grants=grants) as url:
        if reason is None:
            made = workbench.connections.create("my", url=url)
            assert made.privileges.can_write is False
            run = workbench.runs.run(RunRequest(connection="my", sql="SELECT count(*) FROM t"))
            assert run.status is RunStatus.succeeded
            return
        with pytest.raises(QueryDeckError) as info:
            workbench.connections.create("my", url=url)
        assert info.value.code == "CONNECTION_PRIVILEGED"
        assert any(r.startswith(reason) for r in info.value.detail["reasons"]), info.value.detail
        assert workbench.connections.listing().total == 0
        made = workbench.connections.create("my", url=url, allow_privileged=True)
        assert made.privileges.can_write is True


def test_mysql_root_is_refused(workbench: Workbench) -> None:
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create("root", url=MYSQL_URL)
    assert info.value.code == "CONNECTION_PRIVILEGED"
    assert any("ALL PRIVILEGES" in r for r in info.value.detail["reasons"])


def test_mysql_grant_parsing() -> None:
    grants = [
        "GRANT USAGE ON *.* TO `u`@`%`",
        "GRANT SELECT (a, b), INSERT (a) ON `d`.`t` TO `u`@`%`",
        "GRANT `role1` TO `u`@`%`",
        "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
        "GRANT SELECT, SHOW VIEW ON `d`.* TO `u`@`%`",
    ]
    assert mysql_reasons(grants) == [
        "INSERT on `d`.`t`",
        "PROXY on ''@'%'",
        "GRANT OPTION on ''@'%'",
    ]
