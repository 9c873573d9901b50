"""The guard's second opinions (DuckDB's and PostgreSQL's own parsers), the admin-extensible
function policy, the checker hook and the generated policy page."""

from __future__ import annotations

from pathlib import Path

import pytest

from querydeck.demo import copy_chinook
from querydeck.errors import ConfigError, FileAccessDenied, QueryRejected
from querydeck.models import RunRequest, RunStatus
from querydeck.reference import main as write_reference
from querydeck.settings import load_settings
from querydeck.sql import native
from querydeck.sql.checker import StatementChecker
from querydeck.sql.guard import guard
from querydeck.sql.policy import (
    ADMIN,
    DEFAULT_POLICY,
    FunctionPolicy,
    parse_entries,
    policy_markdown,
)
from querydeck.workbench import Workbench

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
        native.check_postgres(sql, DEFAULT_POLICY)
    assert caught.value.code == code
    assert caught.value.detail.get("parser") == "postgres"
    if construct is not None:
        assert caught.value.detail["construct"] == construct
        assert caught.value.detail["line"] >= 1


def test_postgres_positions_count_characters_not_bytes() -> None:
    with pytest.raises(QueryRejected) as caught:
        native.check_postgres("SELECT 'é' AS a,\n  pg_sleep(1)", DEFAULT_POLICY)
    assert (caught.value.detail["line"], caught.value.detail["column"]) == (2, 3)
    with pytest.raises(QueryRejected) as caught:
        native.check_postgres("SELECT 1\n  FRM t", DEFAULT_POLICY)
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
    native.check_postgres(sql, DEFAULT_POLICY)


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
        native.check_duckdb(sql)
    assert caught.value.code == code
    assert caught.value.detail["parser"] == "duckdb"


def test_other_dialects_have_no_second_opinion() -> None:
    native.check("anything at all", "sqlite", DEFAULT_POLICY)


def test_admin_entries_extend_never_shrink_the_policy() -> None:
    policy = FunctionPolicy.from_entries(["postgres:my_*", "*:audit_log", "sqlite:pg_sleep"])
    assert policy.reason("postgres", '"public"."MY_UDF"') == ADMIN
    assert policy.reason("duckdb", "AUDIT_LOG") == ADMIN
    assert policy.reason("mysql", "my_udf") is None
    assert policy.reason("postgres", "pg_sleep") == DEFAULT_POLICY.reason("postgres", "pg_sleep")
    assert FunctionPolicy({"postgres": {"pg_sleep": "x"}}).reason("postgres", "pg_sleep") != "x"
    with pytest.raises(FileAccessDenied):
        guard("SELECT pg_read_file('x')", dialect="postgres", policy=policy)
    with pytest.raises(QueryRejected) as caught:
        guard("SELECT upper(my_fn(1))", dialect="postgres", policy=policy)
    assert caught.value.code == "SQL_FORBIDDEN_FUNCTION"
    assert "administrator" in caught.value.message


@pytest.mark.parametrize("entry", ["pg_sleep", "oracle:x", "postgres:", "postgres:a b", ":x"])
def test_malformed_admin_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="dialect:pattern"):
        parse_entries([entry])


def test_admin_setting_reaches_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_FORBIDDEN_FUNCTIONS", "sqlite:abs, *:my_udf")
    settings = load_settings(data_dir=tmp_path / "data", file_roots=[tmp_path / "files"])
    assert settings.forbidden_functions == ["sqlite:abs", "*:my_udf"]
    with Workbench(settings) as wb:
        chinook = copy_chinook(tmp_path / "files")
        wb.create_connection("chinook", driver="sqlite", options={"path": str(chinook)})
        wb.create_connection("memory", driver="duckdb", options={})
        with pytest.raises(QueryRejected) as caught:
            wb.run(RunRequest(connection="chinook", sql="SELECT ABS(-1)"))
        assert caught.value.detail["construct"] == "abs"
        assert wb.get_run(caught.value.detail["run_id"]).status is RunStatus.rejected
        ok = wb.run(RunRequest(connection="memory", sql="SELECT abs(-1) AS a"))
        assert ok.status is RunStatus.succeeded
    monkeypatch.setenv("QUERYDECK_FORBIDDEN_FUNCTIONS", "oracle:x")
    with pytest.raises(ConfigError, match="oracle:x"):
        load_settings(data_dir=tmp_path / "data")


def test_policy_cache_is_bounded() -> None:
    policy = FunctionPolicy()
    for i in range(5000):
        policy.reason("postgres", f"f{i}")
    assert len(policy._cache) <= 4096


def test_checker_guards_then_caps() -> None:
    checker = StatementChecker(max_bytes=1000, forbidden_functions=["*:secret_fn"])
    assert checker("SELECT a FROM t;", dialect="postgres", max_rows=5) == "SELECT a FROM t\nLIMIT 6"
    with pytest.raises(QueryRejected):
        checker("SELECT secret_fn()", dialect="duckdb", max_rows=5)
