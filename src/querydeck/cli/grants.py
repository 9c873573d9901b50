"""``querydeck groups`` and ``querydeck grants``: who may do what on which connection
(local mode acts as the administrator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import (
    InfoFormat,
    message,
    open_workbench,
    page_footer,
    print_json,
    stdout_console,
)
from querydeck.errors import GrantInvalid

if TYPE_CHECKING:  # the ORM behind them stays unloaded until a command runs
    from querydeck.auth.grants import GrantInfo, GroupInfo, SubjectKind

groups_app = typer.Typer(help="Groups of users that grants can name.", no_args_is_help=True)
grants_app = typer.Typer(
    help="Per-connection grants: browse, query, export, manage.", no_args_is_help=True
)
Group = Annotated[str, typer.Argument(help="The group's name.")]
Username = Annotated[str, typer.Argument(help="A user name.")]
Connection = Annotated[str, typer.Argument(help="The connection's name.")]
UserOption = Annotated[str | None, typer.Option("--user", "-u", help="Grant to this user.")]
GroupOption = Annotated[str | None, typer.Option("--group", "-g", help="Grant to this group.")]
Format = Annotated[InfoFormat, typer.Option("--format", "-f")]


def _print_group(info: GroupInfo, fmt: InfoFormat) -> None:
    if fmt is InfoFormat.json:
        print_json(info)
    else:
        stdout_console().print(Text(f"{info.name}: {', '.join(info.members) or '(no members)'}"))


@groups_app.command("add")
def add_group(name: Group, fmt: Format = InfoFormat.table) -> None:
    """Create a group."""
    with open_workbench() as workbench:
        _print_group(workbench.grants.create_group(name), fmt)


@groups_app.command("list")
def list_groups(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Format = InfoFormat.table,
) -> None:
    """Groups with their members."""
    with open_workbench() as workbench:
        page = workbench.grants.list_groups(limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("group")
    table.add_column("members")
    for info in page.items:
        table.add_row(Text(info.name), Text(", ".join(info.members)))
    stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "groups")


@groups_app.command("remove")
def remove_group(name: Group) -> None:
    """Remove a group and every grant it held."""
    with open_workbench() as workbench:
        workbench.grants.delete_group(name)
    message(f"Removed group {name!r} and its grants.")


@groups_app.command("add-member")
def add_member(name: Group, username: Username, fmt: Format = InfoFormat.table) -> None:
    """Add a user to a group."""
    with open_workbench() as workbench:
        _print_group(workbench.grants.add_group_member(name, username), fmt)


@groups_app.command("remove-member")
def remove_member(name: Group, username: Username, fmt: Format = InfoFormat.table) -> None:
    """Remove a user from a group."""
    with open_workbench() as workbench:
        _print_group(workbench.grants.remove_group_member(name, username), fmt)


def _subject(user: str | None, group: str | None) -> tuple[SubjectKind, str]:
    if (user is None) == (group is None):
        raise GrantInvalid("Name exactly one of --user and --group.")
    return ("user", user) if user is not None else ("group", group or "")


def _grants_table(grants: list[GrantInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("kind", "subject", "actions"):
        table.add_column(column)
    for grant in grants:
        actions = ", ".join(a.value for a in grant.actions)
        if grant.withheld:
            withheld = ", ".join(a.value for a in grant.withheld)
            actions += f" (not allowed by the role: {withheld})"
        table.add_row(grant.subject_kind, Text(grant.subject), actions)
    return table


@grants_app.command("list")
def list_grants(connection: Connection, fmt: Format = InfoFormat.table) -> None:
    """The grants on a connection."""
    with open_workbench() as workbench:
        grants = workbench.grants.list_grants(connection)
    if fmt is InfoFormat.json:
        print_json(grants)
    else:
        stdout_console().print(_grants_table(grants))


@grants_app.command("set")
def set_grant(
    connection: Connection,
    actions: Annotated[
        str, typer.Option("--actions", "-a", help="Comma-separated: browse,query,export,manage.")
    ],
    user: UserOption = None,
    group: GroupOption = None,
    fmt: Format = InfoFormat.table,
) -> None:
    """Set what a user or a group may do on a connection (replaces their earlier grant)."""
    kind, subject = _subject(user, group)
    chosen = [a.strip() for a in actions.split(",") if a.strip()]
    with open_workbench() as workbench:
        grant = workbench.grants.grant(connection, kind, subject, chosen)
    if grant.withheld:
        withheld = ", ".join(a.value for a in grant.withheld)
        message(
            f"Saved, but the role of {subject!r} does not allow {withheld}: it applies only "
            "if their role changes."
        )
    if fmt is InfoFormat.json:
        print_json(grant)
    else:
        stdout_console().print(_grants_table([grant]))


@grants_app.command("revoke")
def revoke(connection: Connection, user: UserOption = None, group: GroupOption = None) -> None:
    """Remove a user's or a group's grant on a connection."""
    kind, subject = _subject(user, group)
    with open_workbench() as workbench:
        workbench.grants.revoke(connection, kind, subject)
    message(f"Revoked the grant of {kind} {subject!r} on {connection!r}.")
