"""``querydeck connections …``: add, list, show, test, update, rename, remove; on this
machine or, with ``--server``, on a querydeck server as the logged-in user.

Secrets are never printed: the Workbench hands back only the names of the secret options
that are set, and option parsing problems name the option, never its value.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    milliseconds,
    open_client,
    page_footer,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.sources.models import ConnectionInfo

app = typer.Typer(help="Register, inspect, test and remove connections.", no_args_is_help=True)

#: Characters of a connection's options shown in a listing.
OPTIONS_PREVIEW_CHARS = 60

OptionPairs = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="A driver option (repeatable); the driver's types convert the text.",
    ),
]
JsonOptionPairs = Annotated[
    list[str] | None,
    typer.Option(
        "--option-json",
        metavar="KEY=JSON",
        help="A driver option whose value is JSON (repeatable), e.g. port=5432 or x=null.",
    ),
]
PasswordPrompt = Annotated[
    bool,
    typer.Option(
        "--password-prompt",
        help="Ask for the password option without echoing it (keeps it off the command line).",
    ),
]
FormatOption = Annotated[InfoFormat, typer.Option("--format", "-f")]
AllowPrivileged = Annotated[
    bool,
    typer.Option(
        "--allow-privileged",
        help="Admin override: save a login that can write or reach server files, flagged "
        "'can write' with the reasons.",
    ),
]


def _split_pair(raw: str, flag: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    key = key.strip()
    if not sep or not key:
        # The value may be a secret: the message never repeats it.
        raise typer.BadParameter("expected KEY=VALUE", param_hint=flag)
    return key, value


def parse_options(
    pairs: list[str] | None, json_pairs: list[str] | None, *, password_prompt: bool = False
) -> dict[str, Any]:
    """Option values from ``--option`` (text), ``--option-json`` (JSON) and the prompt."""
    values: dict[str, Any] = {}

    def put(key: str, value: Any, flag: str) -> None:
        if key in values:
            raise typer.BadParameter(f"the option {key!r} is given more than once", param_hint=flag)
        values[key] = value

    for raw in pairs or []:
        put(*_split_pair(raw, "--option"), "--option")
    for raw in json_pairs or []:
        key, text = _split_pair(raw, "--option-json")
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise typer.BadParameter(
                f"the value of {key!r} is not valid JSON", param_hint="--option-json"
            ) from None
        put(key, value, "--option-json")
    if password_prompt:
        put("password", typer.prompt("Password", hide_input=True, err=True), "--password-prompt")
    return values


def options_text(options: dict[str, Any]) -> str:
    """``key=value`` pairs of the (non-secret) options, on one line."""
    text = " ".join(
        f"{k}={v if isinstance(v, str) else orjson.dumps(v).decode()}"
        for k, v in options.items()
        if v is not None
    )
    return text if len(text) <= OPTIONS_PREVIEW_CHARS else text[: OPTIONS_PREVIEW_CHARS - 1] + "…"


def status_text(info: ConnectionInfo) -> str:
    status = info.status
    if status.ok is None:
        return "untested"
    if status.ok:
        return f"ok ({milliseconds(status.latency_ms)})"
    return f"failed [{status.error_code}]"


def privileges_text(info: ConnectionInfo) -> str:
    """Whether the login can write, and why (the override is named when it was used)."""
    found = info.privileges
    if not found.checked:
        return "not checked yet (probed on the next test or run)"
    if not found.can_write:
        return "read-only"
    override = " (saved with --allow-privileged)" if found.allowed_by_override else ""
    return f"CAN WRITE{override}: " + "; ".join(found.reasons)


def connection_table(info: ConnectionInfo) -> Table:
    """One connection as fields and values; secrets appear only as 'set'."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("name", info.name),
        ("driver", info.driver),
        ("id", info.id),
    ]
    rows += [
        (f"option {k}", v if isinstance(v, str) else orjson.dumps(v).decode())
        for k, v in info.options.items()
    ]
    rows += [(f"option {name}", "(secret, set)") for name in info.secrets_set]
    rows.append(("status", status_text(info)))
    rows.append(("privileges", privileges_text(info)))
    if info.status.error_message:
        rows.append(("last error", info.status.error_message))
    if info.status.server_version:
        rows.append(("server version", info.status.server_version))
    if info.status.checked_at:
        rows.append(("checked", timestamp(info.status.checked_at)))
    rows += [("created", timestamp(info.created_at)), ("updated", timestamp(info.updated_at))]
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def connections_table(items: list[ConnectionInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("name", "driver", "options", "secrets", "status"):
        table.add_column(name, overflow="ellipsis", no_wrap=True)
    for info in items:
        table.add_row(
            Text(info.name),
            info.driver,
            Text(options_text(info.options)),
            ", ".join(info.secrets_set),
            status_text(info),
        )
    return table


def print_connection(info: ConnectionInfo, fmt: InfoFormat) -> None:
    if fmt is InfoFormat.json:
        print_json(info)
    else:
        stdout_console().print(connection_table(info))


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name for the connection.")],
    url: Annotated[
        str | None,
        typer.Argument(help="A URL such as sqlite:///path/file.db or postgresql://host/db."),
    ] = None,
    driver: Annotated[
        str | None, typer.Option("--driver", "-d", help="Driver name (see `querydeck drivers`).")
    ] = None,
    option: OptionPairs = None,
    option_json: JsonOptionPairs = None,
    password_prompt: PasswordPrompt = False,
    allow_privileged: AllowPrivileged = False,
    test: Annotated[
        bool,
        typer.Option(
            "--test/--no-test",
            help="Connect and ping before saving (the default): when that fails nothing is "
            "saved. --no-test saves it untested.",
        ),
    ] = True,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """Register a connection from a URL and/or a driver with options, after a test."""
    options = parse_options(option, option_json, password_prompt=password_prompt)
    with open_client() as client:
        info = client.connections.create(
            name,
            driver=driver,
            url=url,
            options=options,
            allow_privileged=allow_privileged,
            test=test,
        )
    outcome = f"tested {status_text(info)}" if test else "not tested (`connections test` does)"
    message(f"Added connection {info.name!r} ({info.driver}): {outcome}.")
    print_connection(info, fmt)


@app.command("list")
def list_connections(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Connections per page.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Connections to skip.")] = 0,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """List connections by name."""
    with open_client() as workbench:
        page = workbench.connections.listing(limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    if page.items:
        stdout_console().print(connections_table(page.items))
    page_footer(len(page.items), offset, page.total, "connections")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The connection's name.")],
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """Show one connection: driver, options, which secrets are set, last test."""
    with open_client() as workbench:
        info = workbench.connections.get(name)
    print_connection(info, fmt)


@app.command("test")
def test(name: Annotated[str, typer.Argument(help="The connection's name.")]) -> None:
    """Connect and ping; print the latency and the server version."""
    with open_client() as workbench:
        result = workbench.connections.test(name)
    typer.echo(f"ok: {milliseconds(result.latency_ms)}, server version {result.server_version}")


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="The connection's name.")],
    option: OptionPairs = None,
    option_json: JsonOptionPairs = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="KEY", help="Put an option back to its default."),
    ] = None,
    password_prompt: PasswordPrompt = False,
    allow_privileged: Annotated[
        bool | None,
        typer.Option(
            "--allow-privileged/--refuse-privileged",
            help="Set or clear the admin override for a login that can write.",
        ),
    ] = None,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """Change some options of a connection (the others keep their values)."""
    options = parse_options(option, option_json, password_prompt=password_prompt)
    for key in unset or []:
        if key in options:
            raise typer.BadParameter(
                f"the option {key!r} is both set and unset", param_hint="--unset"
            )
        options[key] = None
    if not options and allow_privileged is None:
        raise typer.BadParameter("give at least one --option, --option-json or --unset")
    with open_client() as workbench:
        info = workbench.connections.update(name, options, allow_privileged=allow_privileged)
    message(f"Updated connection {info.name!r}.")
    print_connection(info, fmt)


@app.command("rename")
def rename(
    name: Annotated[str, typer.Argument(help="The connection's name.")],
    new_name: Annotated[str, typer.Argument(metavar="NEW", help="Its new name.")],
) -> None:
    """Rename a connection (its history keeps the name each run had)."""
    with open_client() as workbench:
        info = workbench.connections.rename(name, new_name)
    message(f"Renamed connection {name!r} to {info.name!r}.")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The connection's name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a connection: asks first, on a terminal; from a script, pass --yes."""
    with open_client() as workbench:
        info = workbench.connections.get(name)
        if not yes:
            if not sys.stdin.isatty():  # only the question needs a terminal
                message(
                    f"Not removed: there is no terminal to ask on. To remove {info.name!r} "
                    f"from a script, run `querydeck connections remove {info.name} --yes`."
                )
                raise typer.Exit(2)
            if not typer.confirm(f"Remove connection {info.name!r}?", err=True):
                message("Nothing removed.")
                raise typer.Exit(1)
        workbench.connections.delete(info.name)
    message(f"Removed connection {info.name!r}.")
