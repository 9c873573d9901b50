"""The command tree loads one command at a time (issue 17, "Speed of the everyday").

The root's help lists the commands from summaries kept in ``querydeck.cli.tree`` instead
of importing every command module: these tests hold the summaries to the commands' own
help, the listing to what Typer prints for the built commands, and ``querydeck --help``
and a single command to the modules they need (a guard against heavy imports creeping back
in, not a timing test; ``python -m bench cli`` times them)."""

from __future__ import annotations

import inspect
import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from querydeck.cli import app
from querydeck.cli.helptext import tidy
from querydeck.cli.tree import COMMANDS, build
from tests.test_lazy_imports import among, loaded_by


def first_paragraph(command: object) -> str:
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return inspect.cleandoc(text).split("\n\n")[0].strip()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_the_commands_help(name: str) -> None:
    command = build(name)
    assert command.name == name
    assert first_paragraph(command) == COMMANDS[name].summary, (
        f"querydeck.cli.tree.COMMANDS[{name!r}] no longer matches the help of the command"
    )


def root_help(*, summaries: bool, tidy_help: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERMINAL_WIDTH", "100")
    root = get_command(app)
    root.summaries = summaries  # type: ignore[attr-defined]
    root.tidy_help = tidy_help  # type: ignore[attr-defined]
    if tidy_help:
        tidy(root)
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exited:
        root.main(["--help"], prog_name="querydeck")
    assert exited.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("tidy_help", [True, False])
def test_the_root_help_reads_the_same_from_summaries_as_from_the_commands(
    tidy_help: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = root_help(summaries=True, tidy_help=tidy_help, monkeypatch=monkeypatch)
    built = root_help(summaries=False, tidy_help=tidy_help, monkeypatch=monkeypatch)
    assert listed == built
    for name in COMMANDS:
        assert f" {name} " in listed
    assert ("``admin``" in listed) is not tidy_help  # `serve`'s summary, tidied or not


def test_commands_are_found_built_and_unknown_ones_refused() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["connections", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "Register, inspect, test and remove connections." in shown.output
    for sub in ("add", "list", "show", "test", "update", "rename", "remove"):
        assert f" {sub} " in shown.output
    unknown = runner.invoke(app, ["connectionz"])
    assert unknown.exit_code == 2
    assert "No such command 'connectionz'" in unknown.output


#: The command modules, each loaded only for its own commands.
COMMAND_MODULES = sorted({f"querydeck.cli.{entry.module}" for entry in COMMANDS.values()})


def test_the_root_help_loads_no_command_module_nor_settings(tmp_path: Path) -> None:
    loaded = loaded_by(["--help"], tmp_path)
    heavy = [*COMMAND_MODULES, "querydeck.settings", "pydantic", "sqlalchemy"]
    assert among(loaded, heavy) == []


def test_a_command_loads_its_own_module_only(tmp_path: Path) -> None:
    loaded = loaded_by(["users", "--help"], tmp_path)
    assert "querydeck.cli.users" in loaded
    assert among(loaded, [m for m in COMMAND_MODULES if m != "querydeck.cli.users"]) == []
