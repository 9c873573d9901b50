"""Connections through the Workbench: CRUD, names, URLs, secrets and status."""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select

from querydeck.app.workbench import Workbench
from querydeck.errors import QueryDeckError
from querydeck.store.tables import ConnectionRow

SENTINEL = "S3ntinel-pw-7c1f"


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "files" / "small.db"
    path.parent.mkdir(exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, "y")])
    return path


def code_of(excinfo: pytest.ExceptionInfo[QueryDeckError]) -> str:
    return excinfo.value.code


def test_create_from_options_and_from_url(workbench: Workbench, sqlite_file: Path) -> None:
    a = workbench.connections.create("a", driver="sqlite", options={"path": str(sqlite_file)})
    b = workbench.connections.create("b", url=f"sqlite:///{sqlite_file}")
    assert a.driver == b.driver == "sqlite"
    assert a.options == b.options == {"path": str(sqlite_file)}
    assert a.status.ok is None
    assert workbench.connections.get("a").id == a.id


def test_postgres_url_is_parsed_into_typed_options(workbench: Workbench) -> None:
    info = workbench.connections.create(
        "pg", url=f"postgresql://alice:{SENTINEL}@db.example:6543/sales?sslmode=require"
    )
    assert info.options == {
        "host": "db.example",
        "port": 6543,
        "database": "sales",
        "user": "alice",
        "sslmode": "require",
        "ssl_ca_certificate": None,
        "flavour": None,
    }
    assert info.secrets_set == ["password"]
    assert SENTINEL not in info.model_dump_json()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"driver": "oracle", "options": {}}, "UNKNOWN_DRIVER"),
        ({"url": "oracle://x/y"}, "UNKNOWN_DRIVER"),
        (
            {"driver": "sqlite", "options": {"path": "x.db", "mode": "rwc"}},
            "CONNECTION_OPTION_UNKNOWN",
        ),
        (
            {
                "driver": "postgres",
                "options": {"host": "h", "port": "many", "database": "d", "user": "u"},
            },
            "CONNECTION_OPTIONS_INVALID",
        ),
        ({"url": "postgresql://u@h/db?host=/tmp"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@h/db?options=-c%20x=1"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "sqlite:///x.db?mode=rwc"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "mysql://root@h/db?local_infile=1"}, "CONNECTION_PARAM_FORBIDDEN"),
        ({"url": "postgresql://u@[::1/db"}, "CONNECTION_URL_INVALID"),
        ({}, "INVALID_INPUT"),
    ],
)
def test_bad_definitions_have_their_own_codes(
    workbench: Workbench, kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create("bad", **kwargs)  # type: ignore[arg-type]
    assert code_of(info) == code
    assert 400 <= info.value.http_status < 500
    assert workbench.connections.listing().total == 0


def test_invalid_option_messages_never_echo_values(workbench: Workbench) -> None:
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create(
            "pg",
            driver="postgres",
            options={"host": "h", "database": "d", "user": "u", "password": {"x": SENTINEL}},
        )
    assert SENTINEL not in str(info.value.message) + str(info.value.detail)


@pytest.mark.parametrize("name", ["", "   ", "a/b", "tab\there", "x" * 129, "bell\x07"])
def test_bad_names_are_refused(workbench: Workbench, sqlite_file: Path, name: str) -> None:
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create(name, driver="sqlite", options={"path": str(sqlite_file)})
    assert code_of(info) == "CONNECTION_NAME_INVALID"


def test_names_are_unicode_safe_and_unique(workbench: Workbench, sqlite_file: Path) -> None:
    opts = {"path": str(sqlite_file)}
    nfd = unicodedata.normalize("NFD", "Café ☕ 名前")
    made = workbench.connections.create(f"  {nfd} ", driver="sqlite", options=opts)
    assert made.name == unicodedata.normalize("NFC", "Café ☕ 名前")
    assert workbench.connections.get("Café ☕ 名前").id == made.id
    for duplicate in ("Café ☕ 名前", "CAFÉ ☕ 名前", nfd):
        with pytest.raises(QueryDeckError) as info:
            workbench.connections.create(duplicate, driver="sqlite", options=opts)
        assert code_of(info) == "CONNECTION_NAME_TAKEN"
        assert info.value.http_status == 409
    assert workbench.connections.listing().total == 1
    rtl = workbench.connections.create("\u200frtl name", driver="sqlite", options=opts)
    assert rtl.name == "\u200frtl name"  # a mark is fine; an override is refused
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.create("\u202ertl name", driver="sqlite", options=opts)
    assert code_of(info) == "CONNECTION_NAME_INVALID"


def test_rename_update_delete(workbench: Workbench, sqlite_file: Path) -> None:
    workbench.connections.create("one", driver="sqlite", options={"path": str(sqlite_file)})
    workbench.connections.create("two", driver="sqlite", options={"path": str(sqlite_file)})
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.rename("one", "TWO")
    assert code_of(info) == "CONNECTION_NAME_TAKEN"
    renamed = workbench.connections.rename("one", "uno")
    assert renamed.name == "uno"
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.get("one")
    assert code_of(info) == "CONNECTION_NOT_FOUND"
    assert info.value.http_status == 404
    other = sqlite_file.with_name("other.db")
    sqlite3.connect(other).close()
    assert workbench.connections.update("uno", {"path": str(other)}).options["path"] == str(other)
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.update("uno", {"nope": 1})
    assert code_of(info) == "CONNECTION_OPTION_UNKNOWN"
    assert workbench.connections.get("uno").options["path"] == str(other)
    workbench.connections.delete("uno")
    with pytest.raises(QueryDeckError):
        workbench.connections.delete("uno")
    assert [c.name for c in workbench.connections.listing().items] == ["two"]


def test_secret_is_sealed_at_rest_and_bound_to_its_target(workbench: Workbench) -> None:
    workbench.connections.create(
        "pg",
        driver="postgres",
        options={
            "host": "127.0.0.1",
            "port": 1,
            "database": "d",
            "user": "u",
            "password": SENTINEL,
        },
    )
    with workbench.db.read() as tx:
        row = tx.scalar(select(ConnectionRow))
        assert row is not None
        assert row.secrets is not None
        assert SENTINEL.encode() not in row.secrets
        assert SENTINEL not in str(row.options)
    with pytest.raises(QueryDeckError) as info:  # the secret never follows a new target
        workbench.connections.update("pg", {"port": 2})
    assert info.value.code == "CONNECTION_SECRET_REQUIRED"
    updated = workbench.connections.update("pg", {"flavour": "redshift"})
    assert updated.secrets_set == ["password"]
    _, driver = workbench.connection_store.driver_for("pg")
    assert driver.options.password.get_secret_value() == SENTINEL  # type: ignore[attr-defined]
    cleared = workbench.connections.update("pg", {"password": None})
    assert cleared.secrets_set == []
    assert SENTINEL.encode() not in (workbench.settings.data_dir / "querydeck.db").read_bytes()


def test_list_pages_without_gaps_or_repeats(workbench: Workbench, sqlite_file: Path) -> None:
    names = [f"c{i:02d}" for i in range(23)]
    for name in reversed(names):
        workbench.connections.create(name, driver="sqlite", options={"path": str(sqlite_file)})
    seen: list[str] = []
    for offset in range(0, 30, 7):
        page = workbench.connections.listing(limit=7, offset=offset)
        assert page.total == 23
        seen += [c.name for c in page.items]
    assert seen == names


def test_test_records_status(workbench: Workbench, sqlite_file: Path, tmp_path: Path) -> None:
    workbench.connections.create("ok", driver="sqlite", options={"path": str(sqlite_file)})
    result = workbench.connections.test("ok")
    assert result.ok
    assert result.server_version == sqlite3.sqlite_version
    assert result.latency_ms >= 0
    status = workbench.connections.get("ok").status
    assert status.ok is True
    assert status.server_version == sqlite3.sqlite_version
    assert status.checked_at is not None

    workbench.connections.create(
        "gone", driver="sqlite", options={"path": str(tmp_path / "files" / "missing.db")}
    )
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.test("gone")
    assert code_of(info) == "FILE_NOT_FOUND"
    status = workbench.connections.get("gone").status
    assert (status.ok, status.error_code) == (False, "FILE_NOT_FOUND")
    assert not (tmp_path / "files" / "missing.db").exists()


def test_unreachable_host_and_secret_never_leak(workbench: Workbench) -> None:
    workbench.connections.create(
        "pg",
        driver="postgres",
        options={
            "host": "127.0.0.1",
            "port": 1,
            "database": "d",
            "user": "u",
            "password": SENTINEL,
        },
    )
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.test("pg")
    assert code_of(info) == "UPSTREAM_UNAVAILABLE"
    assert info.value.http_status == 503
    assert SENTINEL not in info.value.message + str(info.value.detail)
    status = workbench.connections.get("pg").status
    assert status.error_code == "UPSTREAM_UNAVAILABLE"
    assert SENTINEL not in (status.error_message or "")


def test_drivers_describe_their_options(workbench: Workbench) -> None:
    drivers = {d.name: d for d in workbench.connections.drivers()}
    assert {"sqlite", "duckdb", "postgres", "mysql"} <= set(drivers)
    pg = drivers["postgres"].options_schema
    assert {"host", "port", "database", "user", "password"} <= set(pg["properties"])
    password = pg["properties"]["password"]
    assert any(v.get("writeOnly") for v in password.get("anyOf", [password]))
    assert drivers["postgres"].dialect == "postgres"
    with pytest.raises(QueryDeckError) as info:
        workbench.connections.driver("nope")
    assert code_of(info) == "UNKNOWN_DRIVER"


def test_relative_file_paths_are_stored_absolute(
    workbench: Workbench, sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sqlite_file.parent)
    made = workbench.connections.create("rel", url=f"sqlite:///{sqlite_file.name}")
    assert made.options["path"] == str(sqlite_file)
    monkeypatch.chdir(sqlite_file.parent.parent)
    assert workbench.connections.test("rel").ok
    memory = workbench.connections.create("mem", driver="duckdb", options={})
    assert memory.options["path"] is None


def test_workbenches_start_concurrently(settings: object) -> None:
    import threading

    errors: list[BaseException] = []

    def start() -> None:
        try:
            Workbench(settings).open().close()  # type: ignore[arg-type]
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
