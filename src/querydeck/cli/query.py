"""``querydeck query``: run one read-only statement and write its rows."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.status import Status

from querydeck.cli.common import (
    message,
    milliseconds,
    open_client,
    print_error,
    stderr_console,
)
from querydeck.cli.export import write_export
from querydeck.cli.output import DataFormat, Rows, write_rows
from querydeck.cli.tables import paged
from querydeck.errors import Conflict, InvalidInput, QueryDeckError
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import RunInfo, RunRequest, RunStatus

if TYPE_CHECKING:
    from querydeck.cli.backend import Client

#: Seconds between two looks at a run in flight.
POLL_S = 0.2
#: Time before a run started (checks, waiting for a worker) shown from this many ms.
QUEUE_SHOWN_MS = 1000
#: Rows read from the result store per page while writing.
PAGE_ROWS = 5000
_SUFFIX_FORMATS = {
    ".csv": DataFormat.csv,
    ".json": DataFormat.json,
    ".ndjson": DataFormat.ndjson,
    ".jsonl": DataFormat.ndjson,
    ".tsv": DataFormat.tsv,
    ".parquet": DataFormat.parquet,
}
#: Formats written from the stored result by the streaming exporter.
_EXPORTED = {
    DataFormat.csv: ExportFormat.csv,
    DataFormat.tsv: ExportFormat.tsv,
    DataFormat.json: ExportFormat.json,
    DataFormat.ndjson: ExportFormat.ndjson,
    DataFormat.parquet: ExportFormat.parquet,
}


def choose_format(fmt: DataFormat | None, output: Path | None) -> DataFormat:
    """The format asked for; else from the output file's suffix (CSV when unknown); else a
    table on a terminal and CSV when stdout is piped."""
    if fmt is not None:
        return fmt
    if output is not None:
        return _SUFFIX_FORMATS.get(output.suffix.lower(), DataFormat.csv)
    return DataFormat.table if sys.stdout.isatty() else DataFormat.csv


def _positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise typer.BadParameter("must be greater than 0")
    return value


def utf8_stdout() -> TextIO:
    """stdout, switched to UTF-8 when the locale says otherwise."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and out.encoding.lower().replace("-", "") != "utf8":
        out.reconfigure(encoding="utf-8")
    return out


def pages(workbench: Client, run_id: str) -> Iterator[Rows]:
    """Every stored row of a succeeded run, one page at a time."""
    offset = 0
    while True:
        page = workbench.runs.rows(run_id, offset=offset, limit=PAGE_ROWS)
        if not page.rows:
            return
        yield page.rows
        offset += len(page.rows)
        if offset >= page.total:
            return


def wait_for(workbench: Client, run_id: str, connection: str, started: float) -> RunInfo:
    """Wait for the run to end, with a spinner and the elapsed seconds on a terminal."""
    run = workbench.runs.wait(run_id, POLL_S)
    if run.status.finished:
        return run
    console = stderr_console()
    spinner: AbstractContextManager[Status | None] = (
        console.status("") if console.is_terminal else nullcontext()
    )
    with spinner as status:
        while not run.status.finished:
            if status is not None:
                status.update(progress_line(run, connection, time.monotonic() - started))
            run = workbench.runs.wait(run_id, POLL_S)
    return run


def progress_line(run: RunInfo, connection: str, elapsed_s: float) -> str:
    """``running on demo: 120,000 rows, 3 s (Ctrl-C cancels)``."""
    rows = run.row_count or 0
    count = f"{rows:,} row{'' if rows == 1 else 's'}, " if run.status is RunStatus.running else ""
    return f"{run.status.value} on {connection}: {count}{elapsed_s:.0f} s (Ctrl-C cancels)"


def cancel(workbench: Client, run_id: str) -> None:
    """Cancel the run after Ctrl-C and say how it ended."""
    message("Cancelling the run…")
    try:
        run = workbench.runs.cancel(run_id)
    except Conflict:  # it ended on its own meanwhile
        run = workbench.runs.get(run_id)
    if run.status is RunStatus.cancelled:
        message(f"The run was cancelled (run {run_id}).")
    else:
        message(f"The run is {run.status.value}, not cancelled (run {run_id}).")


def write_result(workbench: Client, run: RunInfo, fmt: DataFormat, output: Path | None) -> None:
    """The run's rows in ``fmt``: the data formats by the streaming exporter (to a file or
    to stdout alike, the same bytes at the same speed); a table for people streamed page by
    page, through a pager on a terminal."""
    columns = run.columns or []
    if fmt in _EXPORTED:
        write_export(workbench.runs.export(run.id, _EXPORTED[fmt]), output)
        return
    rows = pages(workbench, run.id)
    if output is None:
        utf8_stdout()
        with paged() as stream:
            write_rows(fmt, stream, columns, rows)
        return
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            write_rows(fmt, stream, columns, rows)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def limit_notes(run: RunInfo) -> list[str]:
    """A line per limit the server lowered: asked for, got, and why."""
    notes = []
    for note in run.limits_applied:
        if note.limit == "max_rows":
            asked, got = f"{note.requested:,.0f} rows", f"{note.applied:,.0f}"
        else:
            asked, got = f"{note.requested:g} s", f"{note.applied:g} s"
        notes.append(f"note: {note.limit} {asked} lowered to {got}: {note.reason}")
    return notes


def summary(run: RunInfo, output: Path | None) -> str:
    count = run.row_count or 0
    text = f"{count:,} row{'' if count == 1 else 's'} in {milliseconds(run.duration_ms)}"
    if run.queue_ms is not None and run.queue_ms >= QUEUE_SHOWN_MS:
        text += f" (started after {milliseconds(run.queue_ms)} of checks and queue)"
    if output is not None:
        text += f", written to {output}"
    if run.truncated:
        text += f"\ntruncated at {run.max_rows:,} rows (the row cap; raise it with --max-rows)"
    return text


def query(
    connection: Annotated[str, typer.Argument(help="Name of the connection.")],
    sql: Annotated[str, typer.Argument(help="One read-only statement; '-' reads it from stdin.")],
    fmt: Annotated[
        DataFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: from the --output suffix; else a table on a "
            "terminal, CSV when piped.",
        ),
    ] = None,
    max_rows: Annotated[
        int | None, typer.Option("--max-rows", min=1, help="Row cap (the server caps it too).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", callback=_positive, help="Timeout in seconds."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help='Write the rows to this file: an "export all" run, whose row cap is '
            "the larger export_max_rows setting.",
        ),
    ] = None,
    export_all: Annotated[
        bool,
        typer.Option("--all", help='An "export all" run (the export_max_rows cap).'),
    ] = False,
) -> None:
    """Run one read-only statement and write its rows to stdout (or --output)."""
    text = sys.stdin.read() if sql == "-" else sql
    fmt = choose_format(fmt, output)
    if output is not None and not output.parent.is_dir():
        raise typer.BadParameter(
            f"the folder {output.parent} does not exist", param_hint="--output"
        )
    if fmt is DataFormat.parquet and output is None and sys.stdout.isatty():
        raise typer.BadParameter("Parquet is binary: give --output", param_hint="--format")
    try:
        request = RunRequest(
            connection=connection,
            sql=text,
            max_rows=max_rows,
            timeout_s=timeout,
            export_all=export_all or output is not None,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"Invalid query: {problems}.") from None
    with open_client() as workbench:
        started = time.monotonic()
        try:
            run_id = workbench.runs.start(request)
        except QueryDeckError as exc:  # rejected by the guard: show where, under the SQL
            print_error(exc.code, exc.message, exc.detail, sql=text)
            raise typer.Exit(1) from None
        try:
            run = wait_for(workbench, run_id, connection, started)
        except KeyboardInterrupt:
            cancel(workbench, run_id)
            raise typer.Exit(1) from None
        for note in limit_notes(run):
            message(note)
        if run.status is not RunStatus.succeeded:
            code = run.error_code or run.status.value.upper()
            reason = run.error_message or f"The run ended {run.status.value}."
            print_error(code, reason, run.error_detail, sql=text)
            raise typer.Exit(1)
        write_result(workbench, run, fmt, output)
        message(summary(run, output))
