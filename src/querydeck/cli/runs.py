"""``querydeck history`` and ``querydeck runs show|cancel``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

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
    print_error,
    print_json,
    stdout_console,
    timestamp,
)
from querydeck.cli.output import DataFormat
from querydeck.runs.models import RunInfo, RunStatus

app = typer.Typer(help="Look at one run, or cancel it.", no_args_is_help=True)

run_id_example = "00000000-0000-0000-0000-000000000000"
#: Characters of SQL shown in a history row.
SQL_PREVIEW_CHARS = 60


def sql_preview(sql: str) -> str:
    """The statement on one line, cut to :data:`SQL_PREVIEW_CHARS`."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= SQL_PREVIEW_CHARS else flat[: SQL_PREVIEW_CHARS - 1] + "…"


def rows_text(run: RunInfo) -> str:
    if run.row_count is None:
        return ""
    return f"{run.row_count:,}" + (" (truncated)" if run.truncated else "")


def history(
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="Only runs on this connection.")
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", "-s", help="Only runs with this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Runs per page.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Runs to skip (newest first).")] = 0,
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
    text: Annotated[
        str | None, typer.Option("--sql", help="Only runs whose SQL contains this (any case).")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only runs created at or after (UTC unless zoned).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Only runs created before (UTC unless zoned).")
    ] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a page: the cursor it printed.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            help="Only this user's runs (here: any user's; on a server: administrators only).",
        ),
    ] = None,
) -> None:
    """List past runs, newest first (rejected ones included), with the user of each."""
    with open_client() as workbench:
        page = workbench.runs.listing(
            user=user,
            limit=limit,
            offset=offset,
            connection=connection,
            status=status,
            text=text,
            since=_utc(since),
            until=_utc(until),
            cursor=cursor,
        )
    if fmt is InfoFormat.json:
        print_json(page)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("id", "created", "user", "connection", "status", "rows", "time", "error"):
        table.add_column(
            name,
            no_wrap=True,
            overflow="ellipsis",
            min_width=len(run_id_example) if name == "id" else None,
            justify="right" if name in ("rows", "time") else "left",
        )
    table.add_column("sql", ratio=1, overflow="ellipsis", no_wrap=True)
    for run in page.items:
        table.add_row(
            run.id,
            timestamp(run.created_at),
            Text(run.user),
            Text(run.connection or ""),
            run.status.value,
            rows_text(run),
            milliseconds(run.duration_ms),
            run.error_code or "",
            Text(sql_preview(run.sql)),
        )
    if page.items:
        stdout_console().print(table)
    if cursor is None:
        page_footer(len(page.items), offset, page.total, "runs")
    else:
        message(f"{len(page.items)} of {page.total} runs")
    if page.next_cursor:
        message(f"next page: --cursor {page.next_cursor}")


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def run_table(run: RunInfo) -> Table:
    """One run as a two-column table of fields and values."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    fields: list[tuple[str, str]] = [
        ("id", run.id),
        ("status", run.status.value),
        ("connection", f"{run.connection or ''} ({run.driver or '?'})"),
        ("user", run.user),
        ("created", timestamp(run.created_at)),
        ("started", timestamp(run.started_at)),
        ("finished", timestamp(run.finished_at)),
        ("queued", milliseconds(run.queue_ms)),
        ("executing", milliseconds(run.execution_ms)),
        ("rows", rows_text(run)),
        ("result", run.result_state or ""),
        ("row cap", f"{run.max_rows:,}"),
        ("timeout", f"{run.timeout_s:g} s"),
    ]
    for note in run.limits_applied:
        fields.append((f"{note.limit} lowered", note.reason))
    if run.columns:
        fields.append(("columns", ", ".join(f"{c.name} {c.type}" for c in run.columns)))
    if run.error_code:
        fields.append(("error", f"[{run.error_code}] {run.error_message or ''}"))
    fields.append(("sql", run.sql))
    if run.executed_sql and run.executed_sql != run.sql:
        fields.append(("executed sql", run.executed_sql))
    for name, value in fields:
        table.add_row(name, Text(value))
    return table


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id (or a unique prefix).")],
    fmt: Annotated[InfoFormat, typer.Option("--format", "-f")] = InfoFormat.table,
) -> None:
    """Show one run: status, timings, rows, error and SQL."""
    with open_client() as workbench:
        run = workbench.runs.get(run_id)
    if fmt is InfoFormat.json:
        print_json(run)
    else:
        stdout_console().print(run_table(run))


@app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id (or a unique prefix).")],
) -> None:
    """Cancel a run in flight (here: only runs started by this same process; with --server:
    your runs on that server)."""
    with open_client() as workbench:
        run = workbench.runs.cancel(run_id)
    typer.echo(f"{run.id}: {run.status.value}")


@app.command("rerun")
def rerun(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id (or a unique prefix).")],
    fmt: Annotated[
        DataFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Format of the rows (as `query`): a table on a terminal, CSV when piped.",
        ),
    ] = None,
    info: Annotated[
        bool,
        typer.Option("--info", help="Show the new run's details instead of its rows."),
    ] = False,
) -> None:
    """Run a past run's statement again (same connection, row cap and timeout) and write
    the new run's rows, as `query` does; `querydeck export NEW_ID` writes them again."""
    from querydeck.cli.query import cancel as cancel_run
    from querydeck.cli.query import choose_format, summary, wait_for, write_result

    with open_client() as workbench:
        old = workbench.runs.get(run_id)
        started = time.monotonic()
        new_id = workbench.runs.rerun(old.id)
        try:
            run = wait_for(workbench, new_id, old.connection or "", started)
        except KeyboardInterrupt:
            cancel_run(workbench, new_id)
            raise typer.Exit(1) from None
        if info:
            if fmt is DataFormat.json:
                print_json(run)
            else:
                stdout_console().print(run_table(run))
        elif run.status is RunStatus.succeeded:
            if fmt is DataFormat.parquet:
                raise typer.BadParameter("Parquet needs a file: use `querydeck export`")
            write_result(workbench, run, choose_format(fmt, None), None)
    if run.status is not RunStatus.succeeded:
        code = run.error_code or run.status.value.upper()
        print_error(code, run.error_message or f"The run ended {run.status.value}.")
        raise typer.Exit(1)
    message(f"new run {run.id}: {summary(run, None)}")
