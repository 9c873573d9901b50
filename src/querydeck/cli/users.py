"""``querydeck users``: add, list, set passwords, disable, enable and change roles of user
accounts. Local administration: whoever can read the data directory acts as the local
administrator, no login needed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.auth.models import UserInfo
from querydeck.auth.passwords import generate_password
from querydeck.auth.principal import LOCAL, Role
from querydeck.cli.common import (
    InfoFormat,
    message,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.errors import PasswordRequired

app = typer.Typer(help="User accounts (administered locally).", no_args_is_help=True)
Username = Annotated[str, typer.Argument(metavar="NAME", help="The user name.")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin; without it a random password "
        "is generated and printed once.",
    ),
]
Format = Annotated[InfoFormat, typer.Option("--format", "-f")]


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was generated."""
    if not from_stdin:
        return generate_password(), True
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise PasswordRequired("No password on stdin.")
    return line, False


def _user_table(info: UserInfo) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("name", info.username),
        ("role", info.role.value),
        ("disabled", "yes" if info.disabled else "no"),
        ("created", timestamp(info.created_at)),
        ("password changed", timestamp(info.password_changed_at)),
        ("last login", timestamp(info.last_login_at)),
        ("id", info.id),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def _print(info: UserInfo, fmt: InfoFormat, password: str | None = None) -> None:
    if fmt is InfoFormat.json:
        data = info.model_dump(mode="json")
        if password is not None:
            data["password"] = password
        print_json(data)
        return
    stdout_console().print(_user_table(info))
    if password is not None:
        message(f"Password of {info.username!r} (shown this once): {password}")


@app.command("add")
def add(
    name: Username,
    role: Annotated[Role, typer.Option("--role", "-r", help="admin, analyst or viewer.")] = (
        Role.analyst
    ),
    password_stdin: PasswordStdin = False,
    fmt: Format = InfoFormat.table,
) -> None:
    """Add a user."""
    password, generated = _password(password_stdin)
    with open_workbench() as workbench:
        info = workbench.accounts.create_user(LOCAL, name, role=role, password=password)
    _print(info, fmt, password if generated else None)


@app.command("list")
def list_users(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Format = InfoFormat.table,
) -> None:
    """Every user, disabled ones too."""
    with open_workbench() as workbench:
        page = workbench.accounts.list_users(LOCAL, limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "role", "disabled", "last login", "created"):
        table.add_column(column)
    for info in page.items:
        table.add_row(
            Text(info.username),
            info.role.value,
            "yes" if info.disabled else "",
            timestamp(info.last_login_at),
            timestamp(info.created_at),
        )
    stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "users")


@app.command("passwd")
def passwd(name: Username, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (their sessions and API tokens end)."""
    password, generated = _password(password_stdin)
    with open_workbench() as workbench:
        workbench.accounts.reset_password(LOCAL, name, password)
    if generated:
        message(f"New password of {name!r} (shown this once): {password}")
    message(f"Set the password of {name!r}; their sessions and API tokens have ended.")


@app.command("disable")
def disable(name: Username, fmt: Format = InfoFormat.table) -> None:
    """Disable a user: their sessions end and their API tokens are revoked at once."""
    with open_workbench() as workbench:
        info = workbench.accounts.update_user(LOCAL, name, disabled=True)
    _print(info, fmt)


@app.command("enable")
def enable(name: Username, fmt: Format = InfoFormat.table) -> None:
    """Enable a disabled user again (they log in anew; revoked tokens stay revoked)."""
    with open_workbench() as workbench:
        info = workbench.accounts.update_user(LOCAL, name, disabled=False)
    _print(info, fmt)


@app.command("role")
def role(
    name: Username,
    new_role: Annotated[Role, typer.Argument(metavar="ROLE", help="admin, analyst or viewer.")],
    fmt: Format = InfoFormat.table,
) -> None:
    """Change a user's role (takes effect on their next request)."""
    with open_workbench() as workbench:
        info = workbench.accounts.update_user(LOCAL, name, role=new_role)
    _print(info, fmt)
