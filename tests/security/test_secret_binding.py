"""A stored password never follows a changed target (issue 16, item 1).

A user with ``manage`` on a connection changes where it points and presses *test*: the
stored secret must never be sent there. Each case runs against a real server first (the
secret works), then against a hostile listener on 127.0.0.1 that asks for the password in
clear text and records every byte it is sent: no byte of the stored password arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Action, Principal, Role
from querydeck.drivers import registry
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings
from querydeck.sources.connections import binding, secret_fields
from querydeck.store.tables import ConnectionRow
from tests.apiauth import ensure_user
from tests.services import mysql_database, mysql_reader, postgres_database, postgres_reader
from tests.wirefakes import RecordingServer


@pytest.fixture
def wb(data_dir: Path) -> Iterator[Workbench]:
    with Workbench(load_settings(data_dir=data_dir)) as workbench:
        yield workbench


@pytest.fixture
def manager(wb: Workbench) -> Principal:
    return ensure_user(wb, "mallory", Role.analyst)


def reader_url(engine: str) -> Iterator[str]:
    if engine == "postgres":
        with postgres_database() as url, postgres_reader(url) as login:
            yield login
    else:
        with mysql_database() as url, mysql_reader(url) as login:
            yield login


@pytest.fixture(params=["postgres", "mysql"])
def registered(
    request: pytest.FixtureRequest, wb: Workbench, manager: Principal
) -> Iterator[tuple[str, str]]:
    """A connection to a real server with a read-only login and its password, managed by
    ``mallory``; yields (engine, password)."""
    engine: str = request.param
    for url in reader_url(engine):
        wb.connections.create("db", url=url)
        wb.grants.grant("db", "user", manager.username, [Action.browse, Action.manage])
        assert wb.connections.test("db", actor=manager).ok  # the secret works where it is
        yield engine, str(urlsplit(url).password)


def refused(wb: Workbench, actor: Principal, changes: dict[str, Any]) -> QueryDeckError:
    with pytest.raises(QueryDeckError) as info:
        wb.connections.update("db", changes, actor=actor)
    assert info.value.code == "CONNECTION_SECRET_REQUIRED", info.value
    assert info.value.http_status == 422
    return info.value


def test_changing_the_target_needs_the_secret_again(
    wb: Workbench, manager: Principal, registered: tuple[str, str]
) -> None:
    engine, password = registered
    with RecordingServer(engine) as hostile:
        for changes in (
            {"port": hostile.port},
            {"host": "localhost", "port": hostile.port},
            {"port": hostile.port, "sslmode": "disable"},
        ):
            error = refused(wb, manager, changes)
            assert error.detail["secrets"] == ["password"]
            assert "port" in error.detail["changed"]
        for changes in ({"user": "postgres"}, {"database": "postgres"}, {"sslmode": "require"}):
            refused(wb, manager, changes)
        assert hostile.accepted == 0
        before = wb.connections.get("db")
        assert before.options["port"] != hostile.port  # nothing was saved
        assert wb.connections.test("db", actor=manager).ok  # and the secret still works
        # Given again with the change, the new secret (never the stored one) goes there;
        # the listener refuses it, so the connection is saved unverified.
        moved = wb.connections.update(
            "db", {"port": hostile.port, "password": "guess"}, actor=manager
        )
        assert moved.privileges.checked is True  # the probe result of the old target stays
        with pytest.raises(QueryDeckError) as info:
            wb.connections.test("db", actor=manager)
        assert info.value.code == "CONNECTION_AUTH_FAILED"
        assert hostile.accepted >= 2
        assert b"guess" in hostile.received  # the listener does record passwords
    assert password.encode() not in hostile.received


def test_a_secret_sealed_for_another_target_is_never_sent(
    wb: Workbench, manager: Principal, registered: tuple[str, str]
) -> None:
    """Options changed behind the service's back (the row edited in the app database):
    test, runs and the probe refuse to send the stored secret."""
    engine, password = registered
    info = wb.connections.get("db")
    with RecordingServer(engine) as hostile:

        def repoint(tx: Session) -> None:
            options = {**info.options, "port": hostile.port}
            tx.execute(
                update(ConnectionRow).where(ConnectionRow.id == info.id).values(options=options)
            )

        wb.db.write(repoint)
        wb.run_manager.pools.clear(info.id)
        with pytest.raises(QueryDeckError) as raised:
            wb.connections.test("db", actor=manager)
        assert raised.value.code == "CONNECTION_SECRET_REQUIRED"
        with pytest.raises(QueryDeckError) as raised:
            wb.runs.run(RunRequest(connection="db", sql="SELECT 1"))
        assert raised.value.code == "CONNECTION_SECRET_REQUIRED"
        refused(wb, manager, {"sslmode": "disable"})  # any change needs the secret now
        assert hostile.accepted == 0
    assert password.encode() not in hostile.received


def test_free_options_keep_the_secret(wb: Workbench, manager: Principal) -> None:
    """Options that change neither where nor how the secret goes (PostgreSQL's ``flavour``)
    keep it; the driver declares them, nothing else does."""
    wb.connections.create(
        "db",
        driver="postgres",
        options={"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": "pw"},
    )
    wb.grants.grant("db", "user", manager.username, [Action.browse, Action.manage])
    kept = wb.connections.update("db", {"flavour": "redshift"}, actor=manager)
    assert kept.secrets_set == ["password"]
    _, driver = wb.connection_store.driver_for("db")
    assert driver.options.password.get_secret_value() == "pw"  # type: ignore[attr-defined]


#: The options each driver declares free of its secrets (reviewed: none of them says
#: where or how a secret is sent).
FREE = {
    "postgres": {"flavour"},
    "mysql": {"flavour"},
    "clickhouse": set(),
    "spark": set(),
    "s3": {"csv_delimiter", "csv_header", "encoding", "memory_limit", "threads"},
    "iceberg": {"memory_limit", "threads"},
    "delta": {"memory_limit", "threads"},
}
WHERE = {"host", "port", "user", "user_id", "database", "sslmode", "ssl_ca_certificate"}
WHERE |= {"endpoint", "region", "url_style", "use_ssl", "bucket", "prefix", "path"}


@pytest.mark.parametrize(
    "driver", sorted(n for n in registry.names() if secret_fields(registry.load(n).Options))
)
def test_every_engine_binds_its_secrets_to_where_they_go(driver: str) -> None:
    cls = registry.load(driver)
    assert cls.secret_free_options == FREE[driver]
    assert not cls.secret_free_options & WHERE


@pytest.mark.parametrize(
    ("driver", "options", "change"),
    [
        ("clickhouse", {"host": "127.0.0.1", "port": 1}, {"port": 2}),
        ("clickhouse", {"host": "127.0.0.1", "port": 1}, {"sslmode": "require"}),
        ("spark", {"host": "127.0.0.1", "port": 1, "sslmode": "verify-full"}, {"port": 2}),
        ("spark", {"host": "127.0.0.1", "port": 1, "sslmode": "verify-full"}, {"user_id": "x"}),
    ],
)
def test_other_engines_need_the_secret_again(
    wb: Workbench, driver: str, options: dict[str, Any], change: dict[str, Any]
) -> None:
    secret = "token" if driver == "spark" else "password"
    wb.connections.create("db", driver=driver, options={**options, secret: "s3cr3t"})
    with pytest.raises(QueryDeckError) as info:
        wb.connections.update("db", change)
    assert info.value.code == "CONNECTION_SECRET_REQUIRED"
    assert info.value.detail["secrets"] == [secret]
    given = wb.connections.update("db", {**change, secret: "n3w"})
    assert given.secrets_set == [secret]


def test_binding_leaves_out_defaults() -> None:
    """An option at its default is not part of the binding: a version that adds an option
    never unbinds the secrets saved before it."""
    cls = registry.load("postgres")
    options = cls.Options.model_validate({"host": "h", "database": "d", "user": "u"})
    assert binding(cls, options) == {"host": "h", "database": "d", "user": "u"}
