"""The command tree, loaded one command at a time (issue 17).

Typer builds a command from its function's signature, and the modules behind the commands
import Rich tables, pydantic models and more: building all of them made every run of
``querydeck`` pay for every command. :class:`LazyGroup` knows each top-level command by
name (:data:`COMMANDS`: where it lives and the first paragraph of its help) and imports
and builds a command only when it is asked for, so ``querydeck connections list`` loads
the ``connections`` module alone. The root's ``--help`` lists the commands from the
summaries here without loading any; ``tests/test_cli_tree.py`` checks that they
match the commands' own help and that the listing reads the same either way.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from querydeck.cli.helptext import plain, tidy


class Entry(NamedTuple):
    """A top-level command: ``querydeck.cli.<module>.<attribute>`` (a function, or a
    :class:`typer.Typer` of sub-commands when ``group``) and its help's first paragraph."""

    module: str
    attribute: str
    group: bool
    summary: str


def _command(module: str, attribute: str, summary: str) -> Entry:
    return Entry(module, attribute, False, summary)


def _group(module: str, summary: str) -> Entry:
    return Entry(module, "app", True, summary)


#: Every top-level command, in the order of the help's Commands panel (single commands
#: first, then groups, as Typer lists them).
COMMANDS: dict[str, Entry] = {
    "serve": _command(
        "serve",
        "serve",
        "Serve the API; registers the demo connections when there are none yet, and "
        "creates\nthe administrator ``admin`` (password printed once) when there is no "
        "user yet.",
    ),
    "login": _command(
        "login",
        "login",
        "Log in to a querydeck server and keep an API token for it (0600 credentials "
        "file);\nthen `--server URL` (or QUERYDECK_SERVER) runs query, history, export... "
        "there.",
    ),
    "logout": _command(
        "login",
        "logout",
        "Revoke this CLI's API token on a server and remove it from the credentials file.",
    ),
    "demo": _command(
        "drivers",
        "demo",
        "Create the demo connections: TPC-H in DuckDB (demo) and Chinook in SQLite (chinook).",
    ),
    "drivers": _command(
        "drivers", "drivers", "List the installed drivers (with --server: the server's)."
    ),
    "query": _command(
        "query",
        "query",
        "Run one read-only statement and write its rows to stdout (or --output).",
    ),
    "history": _command(
        "runs",
        "history",
        "List past runs, newest first (rejected ones included), with the user of each.",
    ),
    "search": _command(
        "catalog",
        "search",
        "Search table, view and column names and comments across every connection.",
    ),
    "export": _command(
        "export",
        "export",
        "Export a succeeded run's stored rows as CSV, TSV, JSON, NDJSON or Parquet.",
    ),
    "audit": _command(
        "audit",
        "audit",
        "Show the audit log, newest first: connection changes and tests, runs (fingerprint"
        "\nand tables, never the SQL), exports (rows, bytes, SHA-256), logins and user "
        "changes.",
    ),
    "upload": _command(
        "upload",
        "upload",
        "Upload a file as a table of your connection uploads-<username>; its type is read "
        "from\nits content (CSV, Parquet or Excel .xlsx).",
    ),
    "ask": _command(
        "assistant",
        "ask",
        "Ask a question; print the checked SQL (stdout) and what it was made from (stderr).",
    ),
    "eval": _command(
        "assistant",
        "evaluate",
        "Measure the assistant on questions with gold SQL (execution accuracy, recall@k...).",
    ),
    "connections": _group("connections", "Register, inspect, test and remove connections."),
    "runs": _group("runs", "Look at one run, or cancel it."),
    "schema": _group(
        "catalog", "Browse a connection's cached catalog, refresh it, set its schema patterns."
    ),
    "keys": _group("keys", "Manage the key that encrypts stored credentials."),
    "saved": _group("saved", "Saved queries: keep, find and run named statements."),
    "certificates": _group(
        "certificates", "CA certificates that connections verify their servers with."
    ),
    "users": _group("users", "User accounts (administered locally)."),
    "groups": Entry("grants", "groups_app", True, "Groups of users that grants can name."),
    "grants": Entry(
        "grants", "grants_app", True, "Per-connection grants: browse, query, export, manage."
    ),
    "endpoints": _group(
        "endpoints", "Model endpoints (OpenAI-compatible servers) and the inference log."
    ),
    "kb": _group(
        "knowledge", "The assistant's knowledge base of a connection: examples and glossary."
    ),
}


def _nothing() -> None:
    """The callback of the one-command holder :func:`build` makes a group with."""


def build(name: str) -> Any:  # Any: Typer's click copy has no public command type
    """Import the module of the top-level command ``name`` and build the command as
    Typer builds it under the root (the same help, options and group class)."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"querydeck.cli.{entry.module}"), entry.attribute)
    holder = typer.Typer()
    if entry.group:
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    holder.callback()(_nothing)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


class LazyGroup(TyperGroup):
    """A group whose commands are :data:`COMMANDS`, each built on its first use.

    ``tidy_help`` (set by the ``querydeck`` entry point) rewrites each command's help with
    :func:`querydeck.cli.helptext.tidy` as it is built; ``summaries`` lets the root's help
    list the commands from :data:`COMMANDS` instead of building them."""

    tidy_help = False
    summaries = True
    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        known = self.commands.get(cmd_name)
        if known is not None or cmd_name not in COMMANDS:
            return known
        if self._listing and self.summaries:
            return self._summary(cmd_name)
        command = build(cmd_name)
        if self.tidy_help:
            tidy(command)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _summary(self, name: str) -> TyperCommand:
        """A stand-in that carries only what the help's Commands panel shows."""
        summary = COMMANDS[name].summary
        return TyperCommand(name=name, help=plain(summary) if self.tidy_help else summary)


__all__ = ["COMMANDS", "Entry", "LazyGroup", "build"]
