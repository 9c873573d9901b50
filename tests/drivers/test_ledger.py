"""A third-party driver, registered only through an entry point, runs the whole compliance
suite: adding an engine is one package plus one entry point. Also: the registry refuses a
driver that declares no function policy, and an administrator's entries reach a
third-party dialect's guard."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers import registry
from querydeck.drivers.base import Driver
from querydeck.errors import ConnectionFailed, DataFileNotFound, DriverInvalid, QueryRejected
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings
from tests.drivers import test_sqlite
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_TABLE, DriverSuite, TypeCase
from tests.plugins.install import entry_points
from tests.plugins.qd_ledger.driver import LedgerDriver, LedgerOptions

LEDGER = "tests.plugins.qd_ledger.driver:LedgerDriver"


@pytest.fixture(scope="module", autouse=True)
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with entry_points(tmp_path_factory.mktemp("site"), "qd-ledger", {"ledger": LEDGER}):
        yield


def ledger_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{FIXTURE_TABLE}.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("id", "name"), *FIXTURE_ROWS])
    return root


class TestLedger(DriverSuite):
    driver_cls = LedgerDriver
    sleep_sql = test_sqlite.TestSQLite.sleep_sql
    good_urls = (
        ("ledger:///books", {"path": "books"}),
        ("ledger:////srv/books", {"path": "/srv/books"}),
    )
    forbidden_urls = ("ledger:///books?mode=rw", "ledger:////srv/books?x=1")
    # Tables live in memory: no file to create, attach or vacuum into.
    write_statements = DriverSuite.write_statements

    @pytest.fixture
    def driver(self, tmp_path: Path) -> LedgerDriver:
        return LedgerDriver(LedgerOptions(path=str(ledger_dir(tmp_path / "books"))))

    def type_cases(self) -> list[TypeCase]:
        return test_sqlite.TestSQLite.type_cases(self)  # type: ignore[arg-type]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "broken.csv").write_bytes(b"id,name\n1,\xff\xfe\n")
        return [
            ("missing", LedgerDriver(LedgerOptions(path=str(tmp_path / "none"))), DataFileNotFound),
            ("not utf-8", LedgerDriver(LedgerOptions(path=str(bad))), ConnectionFailed),
        ]


def test_listed_by_the_registry_beside_the_built_ins() -> None:
    assert "ledger" in registry.names()
    assert {"duckdb", "mysql", "postgres", "sqlite"} <= set(registry.names())
    assert registry.describe("ledger")["title"] == "Ledger (CSV)"


def test_a_driver_without_a_function_policy_is_not_loaded(tmp_path: Path) -> None:
    target = "tests.plugins.qd_ledger.unguarded:UnguardedDriver"
    with entry_points(tmp_path, "qd-unguarded", {"unguarded": target}):
        with pytest.raises(DriverInvalid, match="function policy") as refused:
            registry.load("unguarded")
        assert refused.value.code == "DRIVER_INVALID"
    wrong = {"wrong": "tests.plugins.install:entry_points"}
    with (
        entry_points(tmp_path / "b", "qd-wrong", wrong),
        pytest.raises(DriverInvalid, match="does not name"),
    ):
        registry.load("wrong")


def test_the_workbench_guards_and_runs_it_with_admin_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    books = ledger_dir(tmp_path / "files" / "books")
    monkeypatch.setenv("QUERYDECK_FORBIDDEN_FUNCTIONS", "sqlite:upper")
    settings = load_settings(data_dir=tmp_path / "data", file_roots=[tmp_path / "files"])
    with Workbench(settings) as wb:
        wb.connections.create("books", driver="ledger", options={"path": str(books)})
        run = wb.runs.run(RunRequest(connection="books", sql=f"SELECT name FROM {FIXTURE_TABLE}"))
        assert wb.runs.rows(run.id).rows == [[name] for _, name in FIXTURE_ROWS]
        for sql in ("SELECT upper(name) FROM qd_items", "SELECT readfile('/etc/passwd')"):
            with pytest.raises(QueryRejected):
                wb.runs.run(RunRequest(connection="books", sql=sql))
