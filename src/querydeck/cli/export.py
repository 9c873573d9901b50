"""``querydeck export``: write a run's stored rows to a file (or stdout), never re-running
the query; a Rich progress bar on a terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from querydeck.cli.common import message, open_client, stderr_console
from querydeck.runs.export.formats import ExportFormat

if TYPE_CHECKING:
    from querydeck.cli.backend import Client, ExportStream

_SUFFIX_FORMATS = {
    ".csv": ExportFormat.csv,
    ".tsv": ExportFormat.tsv,
    ".tab": ExportFormat.tsv,
    ".json": ExportFormat.json,
    ".ndjson": ExportFormat.ndjson,
    ".jsonl": ExportFormat.ndjson,
    ".parquet": ExportFormat.parquet,
    ".pq": ExportFormat.parquet,
}


def format_for(fmt: ExportFormat | None, output: Path | None) -> ExportFormat:
    """The format asked for, else the output file's suffix, else CSV."""
    if fmt is not None:
        return fmt
    if output is not None:
        return _SUFFIX_FORMATS.get(output.suffix.lower(), ExportFormat.csv)
    return ExportFormat.csv


def write_export(export: ExportStream, output: Path | None) -> None:
    """Write every chunk to ``output`` (through a temporary file renamed at the end, so a
    failure leaves no half file) or to stdout; a progress bar on a terminal."""
    console = stderr_console()
    progress = Progress(
        TextColumn("exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with progress:
        task = progress.add_task("export", total=export.total_rows)
        if output is None:
            sink = sys.stdout.buffer
            for chunk in export.chunks():
                sink.write(chunk)
                progress.update(task, completed=export.rows_written)
            sink.flush()
            return
        partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as handle:
                for chunk in export.chunks():
                    handle.write(chunk)
                    progress.update(task, completed=export.rows_written)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)


def export_to(workbench: Client, run_id: str, fmt: ExportFormat, output: Path | None) -> int:
    export = workbench.runs.export(run_id, fmt)
    write_export(export, output)
    return export.total_rows


def check_output(output: Path | None) -> None:
    if output is not None and not output.parent.is_dir():
        raise typer.BadParameter(
            f"the folder {output.parent} does not exist", param_hint="--output"
        )


def export(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run's id (or a unique prefix).")
    ],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", "-f", help="File format. Default: from the --output suffix."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write to this file (else stdout)."),
    ] = None,
) -> None:
    """Export a succeeded run's stored rows as CSV, TSV, JSON, NDJSON or Parquet."""
    check_output(output)
    chosen = format_for(fmt, output)
    if output is None and chosen is ExportFormat.parquet and sys.stdout.isatty():
        raise typer.BadParameter("Parquet is binary: give --output", param_hint="--format")
    with open_client() as workbench:
        rows = export_to(workbench, run_id, chosen, output)
    if output is not None:
        message(f"{rows:,} row{'' if rows == 1 else 's'} written to {output}")
