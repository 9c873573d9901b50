"""``querydeck users``: local administration of accounts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from querydeck.app.workbench import Workbench
from querydeck.cli import app
from querydeck.settings import load_settings

Invoke = Callable[..., Result]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=stdin)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def fails_with(result: Result, code: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, result.output
    if exit_code == 1:
        assert f"Error [{code}]" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def can_log_in(data_dir: Path, name: str, password: str) -> bool:
    with Workbench(load_settings(data_dir=data_dir)) as wb:
        try:
            wb.accounts.login(name, password)
        except Exception:
            return False
        return True


def test_add_with_a_generated_password(cli: Invoke, data_dir: Path) -> None:
    result = ok(cli("users", "add", "ann", "--role", "admin"))
    assert "ann" in result.stdout
    assert "admin" in result.stdout
    line = next(x for x in result.stderr.splitlines() if "shown this once" in x)
    password = line.rsplit(": ", 1)[1]
    assert len(password) >= 20
    assert password not in result.stdout
    assert can_log_in(data_dir, "ann", password)
    fails_with(cli("users", "add", "ANN"), "USER_EXISTS")


def test_add_from_stdin_and_json(cli: Invoke, data_dir: Path) -> None:
    made: dict[str, Any] = orjson.loads(
        ok(
            cli("users", "add", "bob", "--password-stdin", "-f", "json", stdin=PASSWORD + "\n")
        ).stdout
    )
    assert made["username"] == "bob"
    assert made["role"] == "analyst"
    assert "password" not in made
    assert can_log_in(data_dir, "bob", PASSWORD)
    generated = orjson.loads(ok(cli("users", "add", "cy", "-f", "json")).stdout)
    assert can_log_in(data_dir, "cy", generated["password"])


def test_refusals(cli: Invoke) -> None:
    weak = cli("users", "add", "bob", "--password-stdin", stdin="password123\n")
    fails_with(weak, "PASSWORD_REJECTED")
    assert "password123" not in weak.output
    fails_with(cli("users", "add", "bob", "--password-stdin", stdin="\n"), "PASSWORD_REQUIRED")
    fails_with(cli("users", "add", "bad name"), "USERNAME_INVALID")
    fails_with(cli("users", "add", "local"), "USERNAME_INVALID")
    fails_with(cli("users", "add", "bob", "--role", "root"), "", exit_code=2)
    fails_with(cli("users", "disable", "nobody"), "USER_NOT_FOUND")
    fails_with(cli("users", "passwd", "nobody"), "USER_NOT_FOUND")


def test_list_role_disable_enable_passwd(cli: Invoke, data_dir: Path) -> None:
    ok(cli("users", "add", "root", "--role", "admin"))
    ok(cli("users", "add", "Zoë", "--password-stdin", stdin=PASSWORD))
    table = ok(cli("users", "list"))
    assert "Zoë" in table.stdout
    assert "showing 1–2 of 2 users" in table.stderr
    listed = orjson.loads(ok(cli("users", "list", "-f", "json", "--limit", "1")).stdout)
    assert listed["total"] == 2
    assert [u["username"] for u in listed["items"]] == ["root"]
    assert orjson.loads(ok(cli("users", "role", "zoë", "viewer", "-f", "json")).stdout)["role"] == (
        "viewer"
    )
    fails_with(cli("users", "role", "root", "analyst"), "LAST_ADMIN")
    fails_with(cli("users", "disable", "root"), "LAST_ADMIN")
    assert "yes" in ok(cli("users", "disable", "Zoë")).stdout
    assert not can_log_in(data_dir, "Zoë", PASSWORD)
    ok(cli("users", "enable", "Zoë"))
    assert can_log_in(data_dir, "Zoë", PASSWORD)
    ok(cli("users", "passwd", "Zoë", "--password-stdin", stdin="a new fine password\n"))
    assert not can_log_in(data_dir, "Zoë", PASSWORD)
    assert can_log_in(data_dir, "Zoë", "a new fine password")
    generated = ok(cli("users", "passwd", "Zoë"))
    password = next(x for x in generated.stderr.splitlines() if "shown this once" in x).rsplit(
        ": ", 1
    )[1]
    assert can_log_in(data_dir, "Zoë", password)
