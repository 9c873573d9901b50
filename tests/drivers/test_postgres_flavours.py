"""The PostgreSQL driver's flavours (openGauss, GaussDB, KingbaseES, Redshift) against
PostgreSQL: what of each flavour's differences PostgreSQL can exercise. Redshift's and
openGauss's session statements (cursors without NO SCROLL, no IntervalStyle, a new session
instead of an in-place reset) run on PostgreSQL, so the whole compliance suite runs with
those two flavours; their privilege probes run against real roles; KingbaseES's sys_
functions and every flavour's catalog exclusions and deny tables are checked through the
catalog, the guard and a Workbench run. The flavours themselves are not run here."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions, PostgresSession
from querydeck.drivers.postgres.flavours import FLAVOURS
from querydeck.errors import FileAccessDenied, QueryRejected, SqlForbiddenFunction
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.sql.guard import guard
from tests.drivers import test_postgres
from tests.drivers.suite import FIXTURE_ROWS, FIXTURE_SELECT, ExtremeCase, read_rows
from tests.drivers.test_postgres import driver_for, pg_url  # noqa: F401 (the fixture)
from tests.services import postgres_reader

pytestmark = pytest.mark.services


class TestRedshiftFlavourSuite(test_postgres.TestPostgresSuite):
    def extreme_cases(self) -> list[ExtremeCase]:
        """Without binary COPY, dates outside years 1-9999 fail the run with a clear error
        (psycopg's loader refuses them): documented in docs/connections.md."""
        return [
            c
            for c in super().extreme_cases()
            if c.id not in (test_postgres.FAR_DATES, test_postgres.FAR_DATE_ARRAYS)
        ]

    @pytest.fixture
    def driver(self, pg_url: str) -> PostgresDriver:  # noqa: F811 (the fixture, by name)
        return driver_for(pg_url, flavour="redshift")


class TestOpenGaussFlavourSuite(test_postgres.TestPostgresSuite):
    def extreme_cases(self) -> list[ExtremeCase]:
        """Without binary COPY, dates outside years 1-9999 fail the run with a clear error
        (psycopg's loader refuses them): documented in docs/connections.md."""
        return [
            c
            for c in super().extreme_cases()
            if c.id not in (test_postgres.FAR_DATES, test_postgres.FAR_DATE_ARRAYS)
        ]

    @pytest.fixture
    def driver(self, pg_url: str) -> PostgresDriver:  # noqa: F811
        return driver_for(pg_url, flavour="opengauss")


@pytest.fixture(scope="module")
def system_schemas(pg_url: str) -> Iterator[list[str]]:  # noqa: F811
    names = [
        "catalog_history",
        "dbe_perf",
        "pkg_service",
        "db4ai",
        "sys_catalog",
        "sysaudit",
        "dbms_x",
    ]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
        try:
            yield names
        finally:
            for name in names:
                admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.mark.parametrize(
    ("name", "left_out"),
    [
        ("redshift", {"catalog_history"}),
        ("opengauss", {"dbe_perf", "pkg_service", "db4ai"}),
        ("gaussdb", {"dbe_perf", "pkg_service", "db4ai"}),
        ("kingbasees", {"sys_catalog", "sysaudit", "dbms_x"}),
    ],
)
def test_the_catalog_leaves_the_flavours_system_schemas_out(
    pg_url: str,  # noqa: F811
    system_schemas: list[str],
    name: str,
    left_out: set[str],
) -> None:
    with driver_for(pg_url, flavour=name).connect(timeout_s=10) as session:
        listed = set(session.schemas())
    assert "public" in listed
    assert not left_out & listed
    assert set(system_schemas) - left_out <= listed


@pytest.mark.parametrize("name", ["redshift", "opengauss"])
def test_a_reset_replaces_the_session(pg_url: str, name: str) -> None:  # noqa: F811
    """Without DISCARD/UNLISTEN/advisory locks, what a statement could leave in the session
    (here a setting changed with set_config, the guard bypassed) goes with the session."""
    with driver_for(pg_url, flavour=name).connect(timeout_s=10) as session:
        assert isinstance(session, PostgresSession)
        first = session.native
        read_rows(
            session.execute("SELECT set_config('application_name', 'qd-left', false)", timeout_s=5)
        )
        assert session.reset()
        assert session.native is not first
        assert first.closed
        assert read_rows(session.execute("SHOW application_name", timeout_s=5)) == [("querydeck",)]
        assert read_rows(session.execute(FIXTURE_SELECT, timeout_s=5)) == FIXTURE_ROWS


@pytest.mark.parametrize("name", ["redshift", "opengauss", "kingbasees"])
def test_the_flavours_probe_sees_a_reader_and_a_writer(pg_url: str, name: str) -> None:  # noqa: F811
    with (
        postgres_reader(pg_url) as reader,
        driver_for(reader, flavour=name).connect(timeout_s=10) as session,
    ):
        assert session.privileges() == []
    database = pg_url.rsplit("/", 1)[1]
    grants = (
        "ALTER ROLE {role} CREATEDB",
        "GRANT INSERT ON t TO {role}",
        "GRANT CREATE ON SCHEMA public TO {role}",
        f'GRANT CREATE ON DATABASE "{database}" TO {{role}}',
    )
    with (
        postgres_reader(pg_url, grants=grants) as writer,
        driver_for(writer, flavour=name).connect(timeout_s=10) as session,
    ):
        reasons = session.privileges()
    assert "role attribute CREATEDB" in reasons
    assert "CREATE on the database" in reasons
    assert "CREATE on schema public" in reasons
    assert any(r.startswith("INSERT/UPDATE/DELETE") and "t" in r for r in reasons)
    with driver_for(pg_url, flavour=name).connect(timeout_s=10) as session:
        assert session.privileges() == ["superuser"]


@pytest.mark.parametrize(
    ("name", "sql", "error"),
    [
        ("kingbasees", "SELECT sys_read_file('/etc/passwd')", FileAccessDenied),
        ("kingbasees", "SELECT sys_sleep(10)", SqlForbiddenFunction),
        ("kingbasees", "SELECT * FROM sys_ls_dir('/')", FileAccessDenied),
        ("kingbasees", "SELECT sys_terminate_backend(1)", SqlForbiddenFunction),
        ("opengauss", "SELECT pg_terminate_session(1, 1)", SqlForbiddenFunction),
        ("gaussdb", "SELECT * FROM pg_query_audit(now() - interval '1 day', now())", QueryRejected),
    ],
)
def test_the_flavours_functions_are_refused(
    name: str, sql: str, error: type[QueryRejected]
) -> None:
    options = PostgresOptions(host="h", database="d", user="u", flavour=name)
    with pytest.raises(error):
        guard(sql, rules=PostgresDriver.rules_for(options))
    plain = PostgresOptions(host="h", database="d", user="u")
    guard(sql, rules=PostgresDriver.rules_for(plain))  # PostgreSQL has no such function


def test_kingbase_denies_every_pg_entry_as_sys() -> None:
    table = FLAVOURS["kingbasees"].forbidden_functions
    assert table["sys_read_file"] == table["sys_ls_*"]
    assert "sys_sleep*" in table
    assert "sys_advisory_*" in table


def test_a_run_is_guarded_with_its_flavours_table(workbench: Workbench, pg_url: str) -> None:  # noqa: F811
    options = {**PostgresDriver.options_from_url(pg_url), "flavour": "kingbasees"}
    workbench.connections.create("kb", driver="postgres", options=options, allow_privileged=True)
    with pytest.raises(FileAccessDenied):
        workbench.runs.run(RunRequest(connection="kb", sql="SELECT sys_read_file('x')"))
    # The assistant's statements go through the same rules.
    with workbench.assistant.sessions.open("kb") as guarded, pytest.raises(FileAccessDenied):
        guarded.rows("SELECT sys_read_file('x')")
    plain = PostgresDriver.options_from_url(pg_url)
    workbench.connections.create("pg", driver="postgres", options=plain, allow_privileged=True)
    ran = workbench.runs.run(RunRequest(connection="pg", sql="SELECT sys_read_file('x')"))
    assert (ran.status, ran.error_code) == (RunStatus.failed, "QUERY_FAILED")  # no such function
