"""``querydeck schema …`` (catalog tree, table detail, refresh, settings) and
``querydeck search``. ``querydeck schema NAME`` is short for ``querydeck schema show NAME``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

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
from querydeck.cli.connections import FormatOption


class DefaultShowGroup(TyperGroup):
    """Runs ``show`` when the first word is not one of the group's commands."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=DefaultShowGroup,
    help="Browse a connection's cached catalog, refresh it, set its schema patterns.",
    no_args_is_help=True,
)

Limit = Annotated[int, typer.Option("--limit", min=1, max=1000, help="Entries per page.")]
Offset = Annotated[int, typer.Option("--offset", min=0, help="Entries to skip.")]


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Connection name.")],
    target: Annotated[
        str,
        typer.Argument(help='SCHEMA or SCHEMA.TABLE (quote parts with dots: "a.b".t).'),
    ] = "",
    limit: Limit = 100,
    offset: Offset = 0,
    preview: Annotated[
        int, typer.Option("--preview", min=0, max=1000, help="First rows of a table to show.")
    ] = 0,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """The schemas of a connection, the relations of a schema, or one table's detail."""
    from querydeck.catalog.paths import parse_path

    segments = parse_path(target)
    with open_client() as workbench:
        if len(segments) == 2:
            detail = workbench.catalog.table_detail(name, *segments, preview_rows=preview)
            if fmt is InfoFormat.json:
                print_json(detail)
                return
            _print_detail(detail)
            return
        level = workbench.catalog.level(name, target, limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(level)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    if not segments:
        for column in ("schema", "tables", "refreshed", "state"):
            table.add_column(column)
        for node in level.items:
            state = f"{node.error.code}" if node.error else ("partial" if node.partial else "ok")
            table.add_row(
                Text(node.name), str(node.children or 0), timestamp(node.refreshed_at), state
            )
        noun = "schemas"
    else:
        for column in ("name", "kind", "columns", "rows (est.)", "comment"):
            table.add_column(column)
        for node in level.items:
            table.add_row(
                Text(node.name),
                node.kind,
                str(node.children or 0),
                "" if node.row_estimate is None else f"{node.row_estimate:,}",
                Text(node.comment or ""),
            )
        noun = "relations"
    stdout_console().print(table)
    page_footer(len(level.items), offset, level.total, noun)
    if level.error:
        message(f"last refresh failed: [{level.error.code}] {level.error.message}")
    for problem in level.problems:
        message(f"partial: {problem}")


def _print_detail(detail: Any) -> None:
    console = stdout_console()
    console.print(Text(f"{detail.kind} {detail.path}"))
    if detail.comment:
        console.print(Text(detail.comment))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("#", "column", "type", "null", "key", "default", "comment"):
        table.add_column(column)
    for col in detail.columns:
        table.add_row(
            str(col.ordinal),
            Text(col.name),
            Text(col.native_type),
            "yes" if col.nullable else "no",
            "PK" if col.name in detail.primary_key else "",
            Text(col.default or ""),
            Text(col.comment or ""),
        )
    console.print(table)
    for fk in detail.foreign_keys:
        console.print(
            Text(
                f"FK ({', '.join(fk.columns)}) → {fk.ref_schema}.{fk.ref_table} "
                f"({', '.join(fk.ref_columns)})"
            )
        )
    console.print(Text("\n" + detail.ddl))
    if detail.preview is not None:
        rows = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in detail.preview.columns:
            rows.add_column(Text(column.name))
        for row in detail.preview.rows:
            rows.add_row(*(Text("" if v is None else str(v)) for v in row))
        console.print(rows)
    if detail.preview_error is not None:
        message(f"preview failed: [{detail.preview_error.code}] {detail.preview_error.message}")


@app.command("refresh")
def refresh(
    name: Annotated[str, typer.Argument(help="Connection name.")],
    schema: Annotated[
        str | None, typer.Option("--schema", help="Refresh only this schema.")
    ] = None,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """Read the connection's catalog again and print what changed."""
    with open_client() as workbench:
        report = workbench.catalog.refresh(name, schema)
    if fmt is InfoFormat.json:
        print_json(report)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("schema", "status", "tables", "columns", "time", "changes"):
        table.add_column(column)
    for item in report.schemas:
        diff = item.diff
        changes = ", ".join(
            part
            for part in (
                f"+{len(diff.added_tables)} tables" if diff.added_tables else "",
                f"-{len(diff.removed_tables)} tables" if diff.removed_tables else "",
                f"{len(diff.changed_tables)} changed" if diff.changed_tables else "",
                f"{item.error.code}: {item.error.message}" if item.error else "",
            )
            if part
        )
        table.add_row(
            Text(item.schema_name),
            item.status,
            str(item.tables),
            str(item.columns),
            milliseconds(item.duration_ms),
            Text(changes),
        )
    stdout_console().print(table)
    message(f"{report.connection}: {report.status} in {milliseconds(report.duration_ms)}")


@app.command("settings")
def settings(
    name: Annotated[str, typer.Argument(help="Connection name.")],
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Schema glob to read (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Schema glob to skip (repeatable).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.001, help="Refresh timeout, seconds.")
    ] = None,
    refresh_interval: Annotated[
        float | None,
        typer.Option(
            "--refresh-interval",
            min=0,
            help="Seconds between background refreshes of this connection (0: none).",
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the defaults.")] = False,
) -> None:
    """Show or set which schemas the catalog reads, the refresh timeout and the
    connection's own background refresh interval."""
    from querydeck.catalog.models import CatalogSettings

    with open_client() as workbench:
        current = workbench.catalog.settings(name)
        changes = (include, exclude, timeout, refresh_interval)
        if clear or any(c is not None for c in changes):
            base = CatalogSettings() if clear else current
            current = workbench.catalog.set_settings(
                name,
                CatalogSettings(
                    include=include if include is not None else base.include,
                    exclude=exclude if exclude is not None else base.exclude,
                    timeout_s=timeout if timeout is not None else base.timeout_s,
                    refresh_interval_s=(
                        refresh_interval
                        if refresh_interval is not None
                        else base.refresh_interval_s
                    ),
                ),
            )
    print_json(current)


def search(
    text: Annotated[str, typer.Argument(help="Name or comment text to look for.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Hits to show.")] = 20,
    offset: Offset = 0,
    fmt: FormatOption = InfoFormat.table,
) -> None:
    """Search table, view and column names and comments across every connection."""
    with open_client() as workbench:
        found = workbench.catalog.search(text, limit=limit, offset=offset)
    if fmt is InfoFormat.json:
        print_json(found)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("match", "kind", "connection", "path", "type", "comment"):
        table.add_column(column)
    for hit in found.items:
        table.add_row(
            hit.match,
            hit.kind,
            Text(hit.connection),
            Text(hit.path),
            Text(hit.native_type or ""),
            Text(hit.comment or ""),
        )
    stdout_console().print(table)
    page_footer(len(found.items), offset, found.total, "hits")
