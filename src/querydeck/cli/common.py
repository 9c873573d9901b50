"""What every command shares: the Workbench's lifetime, consoles, formats and error lines.

Data goes to stdout; messages, progress and errors go to stderr, so piping a command's
output into a file gives clean data.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console

from querydeck.errors import LocalOnlyCommand

if TYPE_CHECKING:
    from querydeck.app.workbench import Workbench
    from querydeck.cli.backend import Client
    from querydeck.settings import Settings


class InfoFormat(enum.StrEnum):
    """How a listing or a single object is printed."""

    table = "table"
    json = "json"


@dataclasses.dataclass(frozen=True, slots=True)
class ServerChoice:
    """The root options ``--server`` (or ``QUERYDECK_SERVER``) and ``--insecure``, and the
    command they were given to."""

    server: str | None = None
    insecure: bool = False
    command: str | None = None


#: Set by the root callback for the command being run, cleared when it ends.
_chosen: ServerChoice | None = None


def choose_server(choice: ServerChoice | None) -> None:
    global _chosen  # one command runs at a time; Typer has no public current context
    _chosen = choice


def server_choice() -> ServerChoice:
    """The server this command talks to (``server`` None: this machine)."""
    if _chosen is not None:
        return _chosen
    return ServerChoice(os.environ.get("QUERYDECK_SERVER") or None)


@contextmanager
def open_workbench(settings: Settings | None = None) -> Iterator[Workbench]:
    """This machine's Workbench for one command, closed (runs in flight cancelled) when it
    ends. Refused when a server was chosen: such commands work on local data only."""
    choice = server_choice()
    if choice.server is not None:
        name = " ".join(["querydeck", *([choice.command] if choice.command else [])])
        raise LocalOnlyCommand(
            f"`{name}` works on this machine's data directory only, not against a server: "
            "drop --server (or unset QUERYDECK_SERVER) to run it here."
        )
    from querydeck.app.workbench import Workbench  # the core is heavy: imported on use

    with Workbench(settings) as workbench:
        yield workbench


@contextmanager
def open_client() -> Iterator[Client]:
    """For the commands that also work against a server: the server's RemoteWorkbench
    when ``--server``/``QUERYDECK_SERVER`` is set, else this machine's Workbench."""
    choice = server_choice()
    if choice.server is None:
        with open_workbench() as workbench:
            yield workbench
        return
    from querydeck.cli.remote import connect

    with connect(choice.server, insecure=choice.insecure) as remote:
        yield remote


#: Width of tables written to a pipe or a file, where no terminal sets one.
PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A console on the current stdout (tests swap the stream, so never cache it); wide
    when stdout is not a terminal, so piped tables are not squeezed to 80 columns."""
    tty = sys.stdout.isatty()
    return Console(highlight=False, width=None if tty else PIPE_WIDTH)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def message(text: str) -> None:
    """A line for people, on stderr."""
    typer.echo(text, err=True)


def _position(detail: dict[str, Any] | None, key: str) -> int | None:
    value = (detail or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def error_line(
    code: str, text: str, detail: dict[str, Any] | None = None, sql: str | None = None
) -> str:
    """``Error [CODE]: message``, then the line and column from ``detail`` when known (with
    that line of ``sql`` and a caret under the column when the SQL is given), then the
    engine's own hint and detail when it gave them."""
    return _located(code, text, detail, sql) + "".join(
        f"\n  {label}: {detail[key]}"
        for key, label in (("engine_detail", "detail"), ("hint", "hint"))
        if detail and isinstance(detail.get(key), str)
    )


def _located(code: str, text: str, detail: dict[str, Any] | None, sql: str | None) -> str:
    out = f"Error [{code}]: {text}"
    line, column = _position(detail, "line"), _position(detail, "column")
    if line is None:
        return out
    out += f"\n  at line {line}" + (f", column {column}" if column is not None else "")
    source = sql.splitlines() if sql else []
    if line <= len(source):
        text_line = source[line - 1].expandtabs(1)
        out += f"\n  {line} | {text_line}"
        if column is not None and column <= len(text_line) + 1:
            out += "\n  " + " " * len(str(line)) + " | " + " " * (column - 1) + "^"
    return out


def print_error(
    code: str, text: str, detail: dict[str, Any] | None = None, sql: str | None = None
) -> None:
    typer.secho(error_line(code, text, detail, sql), err=True, fg=typer.colors.RED)


def print_json(value: Any) -> None:
    """Indented JSON of ``value`` (pydantic models dumped in JSON mode) on stdout."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    data = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    write_stdout(data.decode("utf-8"))


def write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def timestamp(value: datetime | None) -> str:
    """A UTC timestamp to the second, ISO-8601 with ``Z``; empty for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def milliseconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def page_footer(shown: int, offset: int, total: int, noun: str) -> None:
    """``showing 1–20 of 57 <noun>`` on stderr."""
    if shown == 0:
        message(f"no {noun} at offset {offset} (total {total})" if total else f"no {noun}")
    else:
        message(f"showing {offset + 1}–{offset + shown} of {total} {noun}")
