"""The guard, table-driven from tests/fixtures/guard/*.sql, plus TPC-H and edge cases."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from querydeck.drivers.duckdb.engine import load_packaged_extension
from querydeck.errors import FileAccessDenied, QueryRejected
from querydeck.sql.guard import guard
from querydeck.sql.rewrite import with_row_cap
from tests.engines import forbidden_reason, rules

FIXTURES = Path(__file__).parent / "fixtures" / "guard"
ALL = ("postgres", "mysql", "sqlite", "duckdb")
_CASE = re.compile(
    r"^-- case: (?P<name>[^|]+)\| dialects: (?P<dialects>[^|]+?)\s*(\| code: (?P<code>\S+))?\s*$"
)


@dataclass(frozen=True)
class Case:
    name: str
    dialect: str
    sql: str
    code: str | None


def load_cases(file: str) -> list[Case]:
    cases: list[Case] = []
    header: re.Match[str] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is None:
            return
        dialects = header["dialects"].strip()
        for dialect in ALL if dialects == "all" else dialects.split(","):
            cases.append(
                Case(
                    header["name"].strip(), dialect.strip(), "\n".join(body).strip(), header["code"]
                )
            )

    for line in (FIXTURES / file).read_text(encoding="utf-8").splitlines():
        match = _CASE.match(line)
        if match:
            flush()
            header, body = match, []
        elif header is not None:
            body.append(line)
    flush()
    return cases


REJECT = load_cases("reject.sql")
ACCEPT = load_cases("accept.sql")


def test_fixture_files_are_substantial() -> None:
    assert len(REJECT) >= 80
    assert len(ACCEPT) >= 40


@pytest.mark.parametrize("case", REJECT, ids=lambda c: f"{c.dialect}:{c.name}")
def test_rejected(case: Case) -> None:
    with pytest.raises(QueryRejected) as info:
        guard(case.sql, rules=rules(case.dialect))
    assert info.value.code == case.code, info.value.message
    assert info.value.message
    if case.code not in ("SQL_EMPTY",):
        assert info.value.detail.get("line", 1) >= 1


@pytest.mark.parametrize("case", ACCEPT, ids=lambda c: f"{c.dialect}:{c.name}")
def test_accepted(case: Case) -> None:
    statement = guard(case.sql, rules=rules(case.dialect))
    assert statement.sql.rstrip(";") == statement.sql
    assert statement.sql.strip()


@pytest.fixture(scope="module")
def tpch_queries() -> list[str]:
    with duckdb.connect() as conn:
        load_packaged_extension(conn, "tpch")
        return [
            q
            for (q,) in conn.execute(
                "SELECT query FROM tpch_queries() ORDER BY query_nr"
            ).fetchall()
        ]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_the_22_tpch_queries_pass(tpch_queries: list[str], dialect: str) -> None:
    assert len(tpch_queries) == 22
    for query in tpch_queries:
        statement = guard(query, rules=rules(dialect))
        capped = with_row_cap(statement, max_rows=100, rules=rules(dialect), max_bytes=100_000)
        assert capped.sql.startswith(statement.sql)


def test_rejection_points_at_the_construct() -> None:
    with pytest.raises(QueryRejected) as info:
        guard("SELECT a,\n  pg_sleep(5)\nFROM t", rules=rules("postgres"))
    assert info.value.detail == {"line": 2, "column": 3, "construct": "pg_sleep"}
    with pytest.raises(QueryRejected) as info:
        guard("-- note\n  DELETE FROM t", rules=rules("postgres"))
    assert (info.value.detail["line"], info.value.detail["column"]) == (2, 3)


def test_parse_error_has_position() -> None:
    with pytest.raises(QueryRejected) as info:
        guard("SELECT (1 +", rules=rules("postgres"))
    assert info.value.code == "SQL_PARSE_ERROR"
    assert info.value.detail["line"] == 1


def test_file_access_is_forbidden_with_403() -> None:
    with pytest.raises(FileAccessDenied) as info:
        guard("SELECT * FROM read_parquet('/etc/x.parquet')", rules=rules("duckdb"))
    assert info.value.http_status == 403


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("", "SQL_EMPTY"),
        ("   \n\t ", "SQL_EMPTY"),
        (";", "SQL_EMPTY"),
        ("SELECT 1\x00; DELETE FROM t", "SQL_PARSE_ERROR"),
        ("SELECT '\ud800'", "SQL_PARSE_ERROR"),
    ],
)
def test_raw_text_checks(sql: str, code: str) -> None:
    with pytest.raises(QueryRejected) as info:
        guard(sql, rules=rules("postgres"))
    assert info.value.code == code


def test_size_and_nesting_limits_are_bounded_in_time() -> None:
    started = time.perf_counter()
    with pytest.raises(QueryRejected) as info:
        guard("SELECT 1 -- " + "x" * 5_000_000, rules=rules("postgres"), max_bytes=1_000_000)
    assert info.value.code == "SQL_TOO_LARGE"
    with pytest.raises(QueryRejected) as info:
        guard("SELECT " + "(" * 50_000 + "1" + ")" * 50_000, rules=rules("postgres"))
    assert info.value.code == "SQL_TOO_COMPLEX"  # over the token budget: never parsed
    with pytest.raises(QueryRejected) as info:
        guard("SELECT " + "(" * 10_000 + "1" + ")" * 10_000, rules=rules("postgres"))
    assert info.value.code == "SQL_PARSE_ERROR"  # within it: too deep for the parser
    in_list = "SELECT 1 WHERE 1 IN (" + ",".join(str(i) for i in range(10_000)) + ")"
    assert guard(in_list, rules=rules("postgres")).sql == in_list
    assert time.perf_counter() - started < 20


def test_row_cap_appends_limit_and_keeps_the_text() -> None:
    statement = guard("SELECT a -- first\nFROM t -- trailing\n;", rules=rules("postgres"))
    capped = with_row_cap(statement, max_rows=10, rules=rules("postgres"), max_bytes=1000)
    assert capped.sql == "SELECT a -- first\nFROM t\nLIMIT 11"
    assert capped.has_limit


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t LIMIT 5",
        "SELECT a FROM t FETCH FIRST 5 ROWS ONLY",
        "VALUES (1)",
        "EXPLAIN SELECT a FROM t",
    ],
)
def test_row_cap_leaves_limited_statements_alone(sql: str) -> None:
    statement = guard(sql, rules=rules("postgres"))
    assert (
        with_row_cap(statement, max_rows=10, rules=rules("postgres"), max_bytes=1000) == statement
    )


def test_policy_normalises_names() -> None:
    assert forbidden_reason("postgres", ' "PG_SLEEP" ') is not None
    assert forbidden_reason("postgres", "upper") is None
    assert forbidden_reason("sqlite", "pg_sleep") is None
    assert forbidden_reason("sqlite", "NEXTVAL") is not None  # an entry of every engine
