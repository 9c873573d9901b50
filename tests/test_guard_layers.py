"""The guard's second opinions (DuckDB's and PostgreSQL's own parsers), the admin-extensible
function policy, the checker hook and the generated policy page."""

from __future__ import annotations

from pathlib import Path

import pytest

from querydeck.app.demo import copy_chinook
from querydeck.app.workbench import Workbench
from querydeck.drivers.duckdb.native import check_duckdb
from querydeck.drivers.postgres.native import check_postgres
from querydeck.drivers.sqlite.driver import SQLiteDriver
from querydeck.drivers.sqlite.native import check_sqlite
from querydeck.errors import ConfigError, FileAccessDenied, QueryRejected
from querydeck.reference import main as write_reference
from querydeck.reference import policy_markdown
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import load_settings
from querydeck.sql.checker import StatementChecker
from querydeck.sql.guard import guard
from querydeck.sql.policy import ADMIN, FunctionPolicy, parse_entries
from tests.engines import rules

POSTGRES_POLICY = rules("postgres").default_policy

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_policy_page_is_current() -> None:
    assert (DOCS / "function-policy.md").read_text(encoding="utf-8") == policy_markdown(), (
        "docs/function-policy.md is stale: run `uv run python -m querydeck.reference`"
    )


def test_reference_writes_both_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["reference", str(tmp_path / "configuration.md")])
    write_reference()
    assert (tmp_path / "function-policy.md").read_text(encoding="utf-8") == policy_markdown()
    assert "QUERYDECK_FORBIDDEN_FUNCTIONS" in (tmp_path / "configuration.md").read_text()


@pytest.mark.parametrize(
    ("sql", "code", "construct"),
    [
        ("SELECT * INTO x FROM t", "SQL_NOT_READ_ONLY", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "SQL_NOT_READ_ONLY", "FOR UPDATE"),
        ("SELECT * FROM (SELECT 1 FROM t FOR SHARE) s", "SQL_NOT_READ_ONLY", "FOR UPDATE"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "SQL_NOT_READ_ONLY", "DELETE"),
        (
            "WITH d AS (MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE) SELECT 1",
            "SQL_NOT_READ_ONLY",
            "MERGE",
        ),
        ("EXPLAIN ANALYZE SELECT 1", "SQL_NOT_READ_ONLY", "EXPLAIN ANALYZE"),
        ("EXPLAIN (ANALYSE, BUFFERS) SELECT 1", "SQL_NOT_READ_ONLY", "EXPLAIN ANALYZE"),
        ("EXPLAIN DELETE FROM t", "SQL_NOT_READ_ONLY", "DELETE"),
        ("COPY t TO STDOUT", "SQL_NOT_READ_ONLY", "COPY"),
        ("SELECT 1; SELECT 2", "SQL_MULTIPLE_STATEMENTS", None),
        ("-- nothing", "SQL_EMPTY", None),
        ("SELECT 1 FRM t", "SQL_PARSE_ERROR", None),
        ('SELECT "PG_CATALOG".pg_sleep(1)', "SQL_FORBIDDEN_FUNCTION", "pg_sleep"),
        ("SELECT x FROM (SELECT pg_read_file('a') AS x) s", "FILE_ACCESS_DENIED", "pg_read_file"),
    ],
)
def test_postgres_grammar_second_opinion(sql: str, code: str, construct: str | None) -> None:
    with pytest.raises(QueryRejected) as caught:
        check_postgres(sql, POSTGRES_POLICY)
    assert caught.value.code == code
    assert caught.value.detail.get("parser") == "postgres"
    if construct is not None:
        assert caught.value.detail["construct"] == construct
        assert caught.value.detail["line"] >= 1


def test_postgres_positions_count_characters_not_bytes() -> None:
    with pytest.raises(QueryRejected) as caught:
        check_postgres("SELECT 'é' AS a,\n  pg_sleep(1)", POSTGRES_POLICY)
    assert (caught.value.detail["line"], caught.value.detail["column"]) == (2, 3)
    with pytest.raises(QueryRejected) as caught:
        check_postgres("SELECT 1\n  FRM t", POSTGRES_POLICY)
    assert (caught.value.detail["line"], caught.value.detail["column"]) == (2, 7)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "TABLE t",
        "VALUES (1)",
        "EXPLAIN (FORMAT JSON) SELECT 1",
        "SHOW x" * 0 + "SELECT upper('a')",
    ],
)
def test_postgres_grammar_accepts_reads(sql: str) -> None:
    check_postgres(sql, POSTGRES_POLICY)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELEC 1", "SQL_PARSE_ERROR"),
        ("SELECT 1; SELECT 2", "SQL_MULTIPLE_STATEMENTS"),
        ("", "SQL_EMPTY"),
        ("COPY t TO 'x.csv'", "SQL_NOT_READ_ONLY"),
        ("CALL pragma_version()", "SQL_NOT_READ_ONLY"),
        ("PIVOT t ON a USING sum(b)", "SQL_MULTIPLE_STATEMENTS"),
    ],
)
def test_duckdb_parser_second_opinion(sql: str, code: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        check_duckdb(sql)
    assert caught.value.code == code
    assert caught.value.detail["parser"] == "duckdb"


def test_engines_without_a_parser_declare_no_second_opinion() -> None:
    """SQLite has no parser to ask; its check bounds printf's repeats (test_value_budget)."""
    assert SQLiteDriver.sql_rules().native_check is check_sqlite
    assert rules("mysql").native_check is None


def _policy(dialect: str, entries: list[str]) -> FunctionPolicy:
    return StatementChecker(max_bytes=1000, forbidden_functions=entries).policy(rules(dialect))


def test_admin_entries_extend_never_shrink_the_policy() -> None:
    entries = ["postgres:my_*", "*:audit_log", "sqlite:pg_sleep"]
    policy = _policy("postgres", entries)
    assert policy.reason('"public"."MY_UDF"') == ADMIN
    assert _policy("duckdb", entries).reason("AUDIT_LOG") == ADMIN
    assert _policy("mysql", entries).reason("my_udf") is None
    assert policy.reason("pg_sleep") == POSTGRES_POLICY.reason("pg_sleep")
    overriding = FunctionPolicy({}, dialect="postgres", extra=parse_entries(["postgres:nextval"]))
    assert overriding.reason("nextval") != ADMIN  # the built-in reason stands
    with pytest.raises(FileAccessDenied):
        guard("SELECT pg_read_file('x')", rules=rules("postgres"), policy=policy)
    with pytest.raises(QueryRejected) as caught:
        guard("SELECT upper(my_fn(1))", rules=rules("postgres"), policy=policy)
    assert caught.value.code == "SQL_FORBIDDEN_FUNCTION"
    assert "administrator" in caught.value.message


@pytest.mark.parametrize("entry", ["pg_sleep", "9x:y", "postgres:", "postgres:a b", ":x"])
def test_malformed_admin_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="dialect:pattern"):
        parse_entries([entry])


def test_admin_setting_reaches_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_FORBIDDEN_FUNCTIONS", "sqlite:abs, *:my_udf")
    settings = load_settings(data_dir=tmp_path / "data", file_roots=[tmp_path / "files"])
    assert settings.forbidden_functions == ["sqlite:abs", "*:my_udf"]
    with Workbench(settings) as wb:
        chinook = copy_chinook(tmp_path / "files")
        wb.connections.create("chinook", driver="sqlite", options={"path": str(chinook)})
        wb.connections.create("memory", driver="duckdb", options={})
        with pytest.raises(QueryRejected) as caught:
            wb.runs.run(RunRequest(connection="chinook", sql="SELECT ABS(-1)"))
        assert caught.value.detail["construct"] == "abs"
        assert wb.runs.get(caught.value.detail["run_id"]).status is RunStatus.rejected
        ok = wb.runs.run(RunRequest(connection="memory", sql="SELECT abs(-1) AS a"))
        assert ok.status is RunStatus.succeeded
    monkeypatch.setenv("QUERYDECK_FORBIDDEN_FUNCTIONS", "oracle:x")
    settings = load_settings(data_dir=tmp_path / "data")  # well-formed: any dialect name
    with pytest.raises(ConfigError, match="oracle:x") as refused:
        Workbench(settings).open()
    assert "postgres" in refused.value.detail["dialects"]


def test_policy_cache_is_bounded() -> None:
    policy = FunctionPolicy({}, dialect="postgres")
    for i in range(5000):
        policy.reason(f"f{i}")
    assert len(policy._cache) <= 4096


def test_checker_guards_then_caps() -> None:
    checker = StatementChecker(max_bytes=1000, forbidden_functions=["*:secret_fn"])
    assert (
        checker("SELECT a FROM t;", rules=rules("postgres"), max_rows=5)
        == "SELECT a FROM t\nLIMIT 6"
    )
    with pytest.raises(QueryRejected):
        checker("SELECT secret_fn()", rules=rules("duckdb"), max_rows=5)
