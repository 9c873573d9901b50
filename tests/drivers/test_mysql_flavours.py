"""The MySQL driver's flavours (TiDB, OceanBase, Doris, StarRocks) against MariaDB: what
of each flavour's differences MariaDB can exercise. TiDB speaks MySQL's session statements,
so the whole compliance suite runs with ``flavour=tidb`` (a reset opens a new session). The
others set their own time-limit variable, which MariaDB does not know: that the flavour
sends it is proven by MariaDB refusing it by name. Their catalogs leave their system
schemas out, their deny tables reach the guard, and their ``SHOW GRANTS`` formats are read
(Doris and StarRocks from their documented shapes). The flavours themselves are not run
here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.mysql.driver import MySQLDriver, MySQLOptions, MySQLSession
from querydeck.drivers.mysql.flavours import FLAVOURS
from querydeck.errors import FileAccessDenied, QueryFailed, SqlForbiddenFunction, SqlNotReadOnly
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.sql.guard import guard
from tests.drivers import test_mysql
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_SELECT, read_rows
from tests.drivers.test_mysql import admin_connect, driver_for, my_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.services


class TestTiDBFlavourSuite(test_mysql.TestMySQLSuite):
    @pytest.fixture
    def driver(self, my_url: str) -> MySQLDriver:  # noqa: F811 (the fixture, by name)
        return driver_for(my_url, flavour="tidb")


@pytest.fixture(scope="module")
def system_schemas(my_url: str) -> Iterator[list[str]]:  # noqa: F811
    """A schema of each flavour's system schemas, made on MariaDB."""
    names = [name for each in FLAVOURS.values() for name in each.system_schemas]
    with admin_connect(my_url) as admin, admin.cursor() as cur:
        for name in names:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        try:
            yield names
        finally:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_the_catalog_leaves_the_flavours_system_schemas_out(
    my_url: str,  # noqa: F811
    system_schemas: list[str],
    name: str,
) -> None:
    database = my_url.rsplit("/", 1)[1]
    with driver_for(my_url, flavour=name).connect(timeout_s=10) as session:
        assert isinstance(session, MySQLSession)
        listed = session.schemas()
    own = set(FLAVOURS[name].system_schemas)
    assert database in listed
    assert not own & set(listed)
    assert set(system_schemas) - own <= set(listed)  # other flavours' schemas stay


@pytest.mark.parametrize(
    ("name", "variable"),
    [("oceanbase", "ob_query_timeout"), ("doris", "query_timeout"), ("starrocks", "query_timeout")],
)
def test_the_flavours_time_limit_is_what_is_sent(
    my_url: str,  # noqa: F811
    name: str,
    variable: str,
) -> None:
    session = driver_for(my_url, flavour=name).connect(timeout_s=10)
    with session, pytest.raises(QueryFailed, match=variable):
        session.execute(FIXTURE_SELECT, timeout_s=2.5)
    statement = FLAVOURS[name].timeout
    assert statement is not None
    expected = {"oceanbase": "= 2500000", "doris": "= 3", "starrocks": "= 3"}[name]
    assert statement(2.5).endswith(expected)


def test_doris_and_starrocks_open_no_read_only_transaction(my_url: str) -> None:  # noqa: F811
    """They have none: the session stays in autocommit, the guard is the read-only layer
    (with the privilege probe); TiDB and OceanBase keep MySQL's."""
    assert not FLAVOURS["doris"].read_only_transaction
    assert not FLAVOURS["starrocks"].read_only_transaction
    with driver_for(my_url, flavour="doris").connect(timeout_s=10) as session:
        assert isinstance(session, MySQLSession)
        with session.native.cursor() as cur:
            cur.execute("SELECT @@session.tx_read_only")
            (row,) = cur.fetchall()
        assert row[0] == 0
    with driver_for(my_url, flavour="oceanbase").connect(timeout_s=10) as session:
        assert isinstance(session, MySQLSession)
        with session.native.cursor() as cur:
            cur.execute("SELECT @@session.tx_read_only")
            (row,) = cur.fetchall()
        assert row[0] == 1


def test_a_reset_opens_a_new_session(my_url: str) -> None:  # noqa: F811
    with driver_for(my_url, flavour="tidb").connect(timeout_s=10) as session:
        assert isinstance(session, MySQLSession)
        first = session.native
        with first.cursor() as cur:
            cur.execute("SET @qd_left = 1")
        assert session.reset()
        assert session.native is not first
        assert not first.open
        assert read_rows(session.execute("SELECT @qd_left AS v", timeout_s=5)) == [(None,)]
        assert read_rows(session.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        ("doris", "SELECT * FROM s3('uri' = 's3://bucket/x.csv', 'format' = 'csv')"),
        ("doris", "SELECT * FROM local('file_path' = 'x.csv', 'backend_id' = '1')"),
        ("doris", "SELECT * FROM query('catalog' = 'jdbc', 'query' = 'DELETE FROM t')"),
        ("starrocks", "SELECT * FROM files('path' = 's3://bucket/x.parquet')"),
        ("tidb", "SELECT tidb_decode_sql_digests('[\"abc\"]')"),
    ],
)
def test_the_flavours_functions_are_refused(name: str, sql: str) -> None:
    rules = MySQLDriver.rules_for(MySQLOptions(host="h", user="u", flavour=name))
    with pytest.raises((SqlForbiddenFunction, FileAccessDenied)):
        guard(sql, rules=rules)
    plain = MySQLDriver.rules_for(MySQLOptions(host="h", user="u"))
    assert plain is MySQLDriver.sql_rules()
    assert rules is MySQLDriver.rules_for(MySQLOptions(host="h", user="u", flavour=name))


def test_mysql_grants_through_a_flavour(my_url: str) -> None:  # noqa: F811
    """TiDB and OceanBase print MySQL's GRANT lines."""
    with driver_for(my_url, flavour="oceanbase").connect(timeout_s=10) as session:
        reasons = session.privileges()
    assert any("ALL PRIVILEGES" in r for r in reasons)


DORIS_COLUMNS = [
    "UserIdentity",
    "Comment",
    "Password",
    "Roles",
    "GlobalPrivs",
    "CatalogPrivs",
    "DatabasePrivs",
    "TablePrivs",
    "ColPrivs",
    "ResourcePrivs",
]


def doris_row(**values: Any) -> tuple[Any, ...]:
    return tuple(values.get(column) for column in DORIS_COLUMNS)


def test_doris_grants_are_read_by_column() -> None:
    grants = FLAVOURS["doris"].grants
    reader = doris_row(
        UserIdentity="'reader'@'%'",
        DatabasePrivs="internal.information_schema: Select_priv; internal.sales: Select_priv",
    )
    assert grants([reader], DORIS_COLUMNS) == []
    writer = doris_row(
        UserIdentity="'etl'@'%'",
        GlobalPrivs="Select_priv,Load_priv",
        DatabasePrivs="internal.sales: Select_priv,Alter_priv,Create_priv",
    )
    assert grants([writer], DORIS_COLUMNS) == [
        "Load_priv on *",
        "Alter_priv on internal.sales",
        "Create_priv on internal.sales",
    ]


def test_starrocks_grants_are_read_from_their_statements() -> None:
    grants = FLAVOURS["starrocks"].grants
    rows = [
        ("'reader'@'%'", "default_catalog", "GRANT SELECT ON TABLE sales.* TO USER 'reader'@'%'"),
        ("'reader'@'%'", None, "GRANT USAGE ON CATALOG default_catalog TO USER 'reader'@'%'"),
    ]
    assert grants(rows, ["UserIdentity", "Catalog", "Grants"]) == []
    rows.append(
        ("'reader'@'%'", None, "GRANT INSERT, DELETE ON TABLE sales.t TO USER 'reader'@'%'")
    )
    assert grants(rows, ["UserIdentity", "Catalog", "Grants"]) == [
        "INSERT on TABLE sales.t",
        "DELETE on TABLE sales.t",
    ]


def test_a_run_is_guarded_with_its_flavours_table(workbench: Workbench, my_url: str) -> None:  # noqa: F811
    """The Workbench asks the driver for the rules of the connection's flavour."""
    options = {**MySQLDriver.options_from_url(my_url), "flavour": "tidb"}
    workbench.connections.create("tidb", driver="mysql", options=options, allow_privileged=True)
    plain = MySQLDriver.options_from_url(my_url)
    workbench.connections.create("plain", driver="mysql", options=plain, allow_privileged=True)
    sql = "SELECT tidb_decode_sql_digests('[]') AS d"
    with pytest.raises(SqlForbiddenFunction):
        workbench.runs.run(RunRequest(connection="tidb", sql=sql))
    ran = workbench.runs.run(RunRequest(connection="plain", sql=sql))
    assert (ran.status, ran.error_code) == (RunStatus.failed, "QUERY_FAILED")  # MariaDB's own


@pytest.mark.parametrize("name", ["doris", "starrocks"])
def test_without_read_only_transactions_only_queries_are_sent(
    my_url: str,  # noqa: F811
    name: str,
) -> None:
    """No read-only transaction would refuse a write there: the driver sends nothing but
    queries and EXPLAIN, and no INTO OUTFILE, whatever the guard let through."""
    with driver_for(my_url, flavour=name).connect(timeout_s=10) as session:
        for sql in (
            "INSERT INTO t VALUES (9, 'x')",
            "/* c */ DELETE FROM t",
            "SET SESSION sql_mode = ''",
            "SELECT * FROM t INTO OUTFILE '/tmp/qd-never.csv'",
            "SELECT 1 INTO DUMPFILE '/tmp/qd-never.bin'",
        ):
            with pytest.raises(SqlNotReadOnly):
                session.execute(sql, timeout_s=5)
        # A query is sent (and reaches MariaDB, which does not know query_timeout).
        with pytest.raises(QueryFailed, match="query_timeout"):
            session.execute("(SELECT id FROM t)", timeout_s=5)
    with admin_connect(my_url) as admin, admin.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(id) FROM t")
        assert cur.fetchall() == ((3, 6),)
