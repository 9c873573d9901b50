"""``querydeck saved``: saved queries — list, add, show, edit, delete, run; on this
machine or, with ``--server``, on a querydeck server as the logged-in user."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.table import Table
from rich.text import Text

from querydeck.cli import query as query_cli
from querydeck.cli.common import (
    InfoFormat,
    message,
    open_client,
    page_footer,
    print_error,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.cli.output import DataFormat
from querydeck.cli.runs import sql_preview
from querydeck.errors import InvalidInput
from querydeck.runs.models import RunStatus, SavedQuery, SavedQueryChanges, SavedQueryInput

app = typer.Typer(help="Saved queries: keep, find and run named statements.", no_args_is_help=True)

M = TypeVar("M", bound=BaseModel)
Ref = Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="The saved query's name or id.")]


def _sql(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _valid(model: type[M], values: dict[str, object]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Invalid saved query: {problems}.") from None


def saved_table(saved: SavedQuery) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, value in (
        ("id", saved.id),
        ("name", saved.name),
        ("favourite", "yes" if saved.favourite else "no"),
        ("connection", saved.connection or ""),
        ("tags", ", ".join(saved.tags)),
        ("description", saved.description),
        ("updated", timestamp(saved.updated_at)),
        ("sql", saved.sql),
    ):
        table.add_row(name, Text(value))
    return table


@app.command("list")
def list_saved(
    tag: Annotated[str | None, typer.Option(help="Only queries with this tag.")] = None,
    favourite: Annotated[
        bool | None, typer.Option("--favourite/--not-favourite", help="Only (not) favourites.")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--search", "-s", help="Text in name, description or SQL.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """List saved queries, favourites first."""
    with open_client() as workbench:
        page = workbench.saved.listing(
            limit=limit, offset=offset, tag=tag, favourite=favourite, text=text
        )
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("", "name", "connection", "tags"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    table.add_column("sql", ratio=1, no_wrap=True, overflow="ellipsis")
    for item in page.items:
        table.add_row(
            "★" if item.favourite else "",
            Text(item.name),
            Text(item.connection or ""),
            Text(",".join(item.tags)),
            Text(sql_preview(item.sql)),
        )
    if page.items:
        stdout_console().print(table)
    page_footer(len(page.items), offset, page.total, "saved queries")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name, unique among your saved queries.")],
    sql: Annotated[str, typer.Argument(help="The statement; '-' reads it from stdin.")],
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="Default connection.")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag (repeat).")] = None,
    favourite: Annotated[bool, typer.Option("--favourite")] = False,
) -> None:
    """Save a query."""
    data = _valid(
        SavedQueryInput,
        {
            "name": name,
            "sql": _sql(sql),
            "connection": connection,
            "description": description,
            "tags": tags or [],
            "favourite": favourite,
        },
    )
    with open_client() as workbench:
        saved = workbench.saved.create(data)
    message(f"saved {saved.name!r} ({saved.id})")


@app.command("show")
def show(
    ref: Ref, fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table
) -> None:
    """Show one saved query."""
    with open_client() as workbench:
        saved = workbench.saved.get(ref)
    if fmt is InfoFormat.json:
        print_json(saved)
    else:
        stdout_console().print(saved_table(saved))


@app.command("edit")
def edit(
    ref: Ref,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="New SQL; '-' reads stdin.")] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="New default connection.")
    ] = None,
    no_connection: Annotated[
        bool, typer.Option("--no-connection", help="Remove the default connection.")
    ] = False,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Replace the tags (repeat).")
    ] = None,
    favourite: Annotated[bool | None, typer.Option("--favourite/--not-favourite")] = None,
) -> None:
    """Change a saved query."""
    values: dict[str, object] = {
        k: v
        for k, v in {
            "name": name,
            "sql": _sql(sql) if sql is not None else None,
            "connection": connection,
            "description": description,
            "tags": tags,
            "favourite": favourite,
        }.items()
        if v is not None
    }
    if no_connection:
        values["connection"] = None
    with open_client() as workbench:
        saved = workbench.saved.update(ref, _valid(SavedQueryChanges, values))
    message(f"updated {saved.name!r} ({saved.id})")


@app.command("delete")
def delete(ref: Ref) -> None:
    """Delete a saved query (its past runs stay in the history)."""
    with open_client() as workbench:
        workbench.saved.delete(ref)
    message(f"deleted {ref!r}")


@app.command("run")
def run(
    ref: Ref,
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="Run on this connection instead.")
    ] = None,
    fmt: Annotated[DataFormat | None, typer.Option("--format", "-f")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False)] = None,
    max_rows: Annotated[int | None, typer.Option("--max-rows", min=1)] = None,
) -> None:
    """Run a saved query and write its rows like `querydeck query`."""
    chosen = query_cli.choose_format(fmt, output)
    with open_client() as workbench:
        saved = workbench.saved.get(ref)
        started = time.monotonic()
        run_id = workbench.saved.run(
            saved.id, connection=connection, max_rows=max_rows, export_all=output is not None
        )
        try:
            info = query_cli.wait_for(
                workbench, run_id, connection or saved.connection or "", started
            )
        except KeyboardInterrupt:
            query_cli.cancel(workbench, run_id)
            raise typer.Exit(1) from None
        if info.status is not RunStatus.succeeded:
            code = info.error_code or info.status.value.upper()
            print_error(code, info.error_message or info.status.value, info.error_detail)
            raise typer.Exit(1)
        query_cli.write_result(workbench, info, chosen, output)
        message(query_cli.summary(info, output))
