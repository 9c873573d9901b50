"""The federated driver: the compliance suite over a session with a files source, then
joins across real PostgreSQL, MariaDB, SQLite and Parquet sources through a Workbench —
the grants (only the sources a user may query are attached), the audit entry naming the
sources read, and the sources' secrets kept out of every answer."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

import tests.drivers.test_duckdb as duckdb_tests
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal, Role
from querydeck.drivers.base import Driver
from querydeck.drivers.federated.driver import BoundSource, FederatedDriver, FederatedOptions
from querydeck.drivers.files.driver import FilesDriver, FilesOptions
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions
from querydeck.errors import ConnectionFailed, QueryDeckError, QueryRejected
from querydeck.runs.models import RunInfo, RunRequest, RunStatus
from querydeck.settings import Settings
from querydeck.store.tables import AuditRow
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_TABLE, DriverSuite, TypeCase
from tests.s3server import free_port
from tests.services import mysql_connect_args, mysql_database, postgres_database, postgres_reader


def files_source(directory: Path) -> BoundSource:
    return BoundSource("lake", FilesDriver(FilesOptions(path=str(directory))))


def federated(*sources: BoundSource) -> FederatedDriver:
    names = [s.name for s in sources] or ["none"]
    return FederatedDriver(FederatedOptions(sources=names)).bound(list(sources))


class TestFederated(DriverSuite):
    driver_cls = FederatedDriver
    sleep_sql = duckdb_tests.CROSS_JOIN
    good_urls = (
        ("federated:///?sources=pg,lake", {"sources": "pg,lake"}),
        ("federated:///?sources=%E6%95%B0%E6%8D%AE", {"sources": "数据"}),
    )
    forbidden_urls = ("federated:///?sources=a&attach=/etc", "federated:///?search_path=x")

    def many_rows_sql(self, n: int) -> str:
        return f"SELECT range + 1 AS n FROM range({n})"

    @pytest.fixture
    def driver(self, tmp_path: Path) -> Driver[Any]:
        directory = tmp_path / "lake"
        directory.mkdir()
        lines = ["id,name", *(f"{i},{name}" for i, name in FIXTURE_ROWS)]
        (directory / f"{FIXTURE_TABLE}.csv").write_text("\n".join(lines) + "\n")
        return federated(files_source(directory))

    def type_cases(self) -> list[TypeCase]:
        return duckdb_tests.TestDuckDB.type_cases(self)  # type: ignore[arg-type]

    def connection_failures(
        self, tmp_path: Path
    ) -> list[tuple[str, Driver[Any], type[ConnectionFailed]]]:
        closed = PostgresDriver(
            PostgresOptions(host="127.0.0.1", port=free_port(), database="x", user="u")
        )
        return [
            (
                "a source that does not answer",
                federated(BoundSource("pg", closed)),
                ConnectionFailed,
            ),
            (
                "a federated source",
                federated(BoundSource("fed", federated())),
                ConnectionFailed,
            ),
        ]


def test_options_take_a_list_or_commas() -> None:
    assert FederatedOptions(sources=" pg , lake ").sources == ["pg", "lake"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        FederatedOptions(sources=["pg", "PG"])
    with pytest.raises(ValueError):
        FederatedOptions(sources=[])


# --- through a Workbench, against real servers ----------------------------------------------


PEOPLE = 200
#: The PostgreSQL source's password, which no answer may hold.
SECRETS: dict[str, str] = {}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    import psycopg
    import pymysql

    base = tmp_path_factory.mktemp("federated")
    lake = base / "files" / "lake"
    lake.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {"id": list(range(1, PEOPLE + 1)), "city": [f"城市{i % 7}" for i in range(PEOPLE)]}
        ),
        lake / "cities.parquet",
    )
    with sqlite3.connect(base / "files" / "tags.db") as db:
        db.execute("CREATE TABLE tags (id INTEGER, tag TEXT)")
        db.executemany("INSERT INTO tags VALUES (?, ?)", [(i, f"t{i}") for i in range(1, 11)])
    with postgres_database() as pg_url, mysql_database() as my_url:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE people (id int PRIMARY KEY, name text)")
            conn.execute(
                "INSERT INTO people SELECT i, 'p' || i FROM generate_series(1, %s) i", (PEOPLE,)
            )
        my = pymysql.connect(autocommit=True, **mysql_connect_args(my_url))  # type: ignore[arg-type]
        with my.cursor() as cur:
            cur.execute("CREATE TABLE scores (id int, score int)")
            cur.execute("INSERT INTO scores VALUES (1, 10), (2, 20), (3, 30)")
        my.close()
        with postgres_reader(pg_url) as reader_url:
            SECRETS["pg"] = str(urlsplit(reader_url).password)
            wb = Workbench(Settings(data_dir=base / "data", file_roots=[base / "files"])).open()
            wb.connections.create("pg", url=reader_url)
            wb.connections.create("my", url=my_url, allow_privileged=True)
            wb.connections.create("lake", driver="files", options={"path": str(lake)})
            wb.connections.create(
                "tags", driver="sqlite", options={"path": str(base / "files" / "tags.db")}
            )
            wb.connections.create(
                "fed", driver="federated", options={"sources": ["pg", "my", "lake", "tags"]}
            )
            try:
                yield wb
            finally:
                wb.close()


def run(wb: Workbench, sql: str, actor: Principal | None = None) -> RunInfo:
    request = RunRequest(connection="fed", sql=sql)
    try:
        return wb.runs.run(request) if actor is None else wb.runs.run(request, actor=actor)
    except QueryRejected as exc:
        return wb.runs.get(str(exc.detail["run_id"]))


def last_finish(wb: Workbench) -> dict[str, Any]:
    with wb.db.read() as session:
        row = session.scalars(
            select(AuditRow).where(AuditRow.action == "run.finish").order_by(AuditRow.id.desc())
        ).first()
    assert row is not None
    return dict(row.detail)


def test_one_statement_joins_postgres_with_a_parquet_file(fed: Workbench) -> None:
    info = run(
        fed,
        "SELECT p.id, p.name, c.city FROM pg.public.people p "
        "JOIN lake.main.cities c ON c.id = p.id WHERE p.id <= 3 ORDER BY p.id",
    )
    assert info.status is RunStatus.succeeded, info.error_message
    assert fed.runs.rows(info.id).rows == [
        [1, "p1", "城市0"],
        [2, "p2", "城市1"],
        [3, "p3", "城市2"],
    ]
    assert last_finish(fed)["sources"] == ["pg", "lake"]


def test_every_kind_of_source_in_one_statement(fed: Workbench) -> None:
    info = run(
        fed,
        "SELECT count(*) AS n, sum(s.score)::INTEGER AS total FROM people p "
        "JOIN cities c USING (id) JOIN my.scores s USING (id) JOIN tags t USING (id)",
    )
    assert info.status is RunStatus.succeeded, info.error_message
    assert fed.runs.rows(info.id).rows == [[3, 60]]
    assert last_finish(fed)["sources"] == ["pg", "my", "lake", "tags"]


def test_only_the_sources_a_user_may_query_are_attached(fed: Workbench) -> None:
    from tests.apiauth import ensure_user

    ana = ensure_user(fed, "fed_ana", Role.analyst)
    fed.grants.grant("fed", "user", "fed_ana", ["browse", "query"])
    fed.grants.grant("lake", "user", "fed_ana", ["browse", "query"])
    try:
        ok = run(fed, "SELECT count(*) FROM lake.main.cities", ana)
        assert ok.status is RunStatus.succeeded, ok.error_message
        refused = run(fed, "SELECT count(*) FROM pg.public.people", ana)
        assert refused.status is RunStatus.failed
        assert "pg" in (refused.error_message or "")
        assert "people" not in (refused.error_message or "").replace("pg.public.people", "")
        fed.grants.grant("pg", "user", "fed_ana", ["browse"])  # browse is not query
        assert run(fed, "SELECT count(*) FROM pg.public.people", ana).status is RunStatus.failed
    finally:
        for name in ("fed", "lake", "pg"):
            with contextlib.suppress(QueryDeckError):
                fed.grants.revoke(name, "user", "fed_ana")
    with pytest.raises(QueryDeckError) as caught:
        fed.runs.run(RunRequest(connection="fed", sql="SELECT 1"), actor=ana)
    assert caught.value.code == "CONNECTION_NOT_FOUND"


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO pg.public.people VALUES (9999, 'x')",
        "DELETE FROM my.scores",
        "SELECT * FROM postgres_query('pg', 'DELETE FROM people')",
        "SELECT * FROM mysql_query('my', 'DELETE FROM scores')",
        "CALL postgres_execute('pg', 'DELETE FROM people')",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_databases()",
        "ATTACH 'dbname=postgres host=127.0.0.1' AS other (TYPE postgres)",
        "DETACH pg",
        "SET search_path = 'memory.main'",
    ],
)
def test_writes_and_escapes_fail_and_change_nothing(fed: Workbench, sql: str) -> None:
    info = run(fed, sql)
    assert info.status in (RunStatus.rejected, RunStatus.failed), sql
    counts = run(
        fed, "SELECT (SELECT count(*) FROM pg.public.people), (SELECT count(*) FROM my.scores)"
    )
    assert fed.runs.rows(counts.id).rows == [[PEOPLE, 3]]


def test_the_sources_secrets_never_show(fed: Workbench) -> None:
    stored = fed.connections.get("pg")
    assert "password" not in stored.options
    for sql in (
        "SELECT * FROM duckdb_secrets()",
        "SELECT name, secret_string FROM which_secret('x', 'postgres')",
        "SELECT current_setting('search_path')",
        "SHOW DATABASES",
    ):
        info = run(fed, sql)
        text = " ".join(
            [info.error_message or ""]
            + [
                str(r)
                for r in (fed.runs.rows(info.id).rows if info.status.value == "succeeded" else [])
            ]
        )
        assert SECRETS["pg"] not in text, sql
        assert "password=" not in text.lower(), (sql, text)
