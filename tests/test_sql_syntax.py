"""Syntax errors in SQL terms, across dialects: a corpus of typos, each with the message a
person can act on and the position of the token that is wrong (where the caret goes)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from querydeck.cli.common import error_line
from querydeck.errors import QueryRejected, SqlParseError
from querydeck.sql.guard import guard
from tests.engines import rules

DIALECTS = ("postgres", "mysql", "sqlite", "duckdb")
#: (statement, what the message says, the wrong token, its 1-based column)
TYPOS = [
    ("SELEC * FROM orders", "'SELEC' does not start a statement; did you mean SELECT?", "SELEC", 1),
    ("SELCT 1", "'SELCT' does not start a statement; did you mean SELECT?", "SELCT", 1),
    ("  selec id from t", "'selec' does not start a statement; did you mean SELECT?", "selec", 3),
    ("SELECT * FORM orders", "Unexpected 'FORM': did you mean FROM?", "FORM", 10),
    ("SELECT * FROM orders WHER id = 1", "Unexpected 'WHER': did you mean WHERE?", "WHER", 22),
    ("SELECT (1 + 2 FROM orders", "A ')' is missing before 'FROM'.", "FROM", 15),
    ("SELECT * FROM WHERE x = 1", "Expected table name but found 'WHERE'.", "WHERE", 15),
    ("SELECT a FROM t WHERE a = = 1", "'=' is missing a value: unexpected '='.", "=", 27),
    ("SELECT a b c FROM t", "Unexpected 'c' here.", "c", 12),
    ("SELECT * FROM t LIMIT", "The statement ends after LIMIT: a value is missing.", "LIMIT", 17),
    ("SELECT 1 +", "The statement ends after '+': a value is missing.", "+", 10),
    ("SELECT 'abc", "The quoted text that starts here is never closed: add a '.", "'", 8),
]
#: What must never reach a user: parser classes, node and token reprs.
LEAKS = re.compile(r"sqlglot|<class|TokenType|Token\(|<Token|expressions\.|JSONKEYVALUE")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "says", "token", "column"), TYPOS)
def test_typos_are_explained_at_the_wrong_token(
    dialect: str, sql: str, says: str, token: str, column: int
) -> None:
    with pytest.raises(SqlParseError) as caught:
        guard(sql, rules=rules(dialect))
    error = caught.value
    assert error.message == says
    assert (error.detail["line"], error.detail["column"]) == (1, column)
    assert error.detail["token"] == token
    assert sql[column - 1 :].startswith(token)
    assert not LEAKS.search(error.message)


def test_the_caret_goes_under_the_wrong_token() -> None:
    sql = "SELECT id,\n       total\n  FROM orders\n WHER total > 10"
    with pytest.raises(SqlParseError) as caught:
        guard(sql, rules=rules("postgres"))
    shown = error_line(caught.value.code, caught.value.message, caught.value.detail, sql)
    assert shown.splitlines()[1:] == [
        "  at line 4, column 2",
        "  4 |  WHER total > 10",
        "    |  ^",
    ]


@pytest.mark.parametrize(
    ("dialect", "sql", "construct"),
    [
        ("postgres", "LISTEN events", "LISTEN"),
        ("postgres", "SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
        ("postgres", "SELECT * INTO copy FROM t", "INTO"),
        ("sqlite", "VACUUM", "VACUUM"),
    ],
)
def test_refusals_name_sql_not_parser_nodes(dialect: str, sql: str, construct: str) -> None:
    with pytest.raises(QueryRejected) as caught:
        guard(sql, rules=rules(dialect))
    assert caught.value.detail["construct"] == construct
    assert construct in caught.value.message
    assert not LEAKS.search(caught.value.message)


def test_no_parser_warning_reaches_a_terminal() -> None:
    """In a fresh process (nothing configured logging), the audit's summary of a statement
    sqlglot does not know prints nothing (it printed sqlglot's warning on stderr)."""
    code = (
        "from querydeck.audit.sql import summarise\n"
        "summarise('SHOW TABLES', 'sqlite')\n"
        "summarise('SHOW search_path', 'postgres')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr == ""


def test_no_parser_warning_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'"
    for statements it does not know; the guard explains those itself."""
    caplog.set_level(logging.DEBUG)
    for dialect, sql in (("sqlite", "SHOW TABLES"), ("postgres", "SHOW search_path")):
        with pytest.raises(QueryRejected):
            guard(sql, rules=rules(dialect))
    assert [r for r in caplog.records if r.name.startswith("sqlglot")] == []


def test_cli_prints_the_typo_with_a_caret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from querydeck.cli import app

    for key in [k for k in os.environ if k.startswith("QUERYDECK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "files").mkdir()
    monkeypatch.setenv("QUERYDECK_FILE_ROOTS", str(tmp_path / "files"))
    shop = tmp_path / "files" / "shop.db"
    sqlite3.connect(shop).close()
    cli = CliRunner()
    added = cli.invoke(app, ["connections", "add", "shop", f"sqlite:///{shop}"])
    assert added.exit_code == 0, added.output
    result = cli.invoke(app, ["query", "shop", "SELEC * FROM orders"])
    assert result.exit_code == 1
    assert "falling back" not in result.output.lower()
    assert result.stderr.splitlines() == [
        "Error [SQL_PARSE_ERROR]: 'SELEC' does not start a statement; did you mean SELECT?",
        "  at line 1, column 1",
        "  1 | SELEC * FROM orders",
        "    | ^",
    ]
