"""``querydeck upload``: a CSV, Parquet or Excel file as a table of your own connection
(``uploads-<username>``), on this machine or, with ``--server``, on the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from querydeck.cli.common import InfoFormat, open_client, print_json, stdout_console
from querydeck.errors import FileUnreadable

#: Bytes read from the file at a time.
CHUNK_BYTES = 1024 * 1024


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def upload(
    file: Annotated[Path, typer.Argument(help="The CSV, Parquet or .xlsx file.")],
    table: Annotated[
        str | None, typer.Option("--table", help="The table's name (default: the file's stem).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite your table of that name.")
    ] = False,
    fmt: Annotated[InfoFormat, typer.Option("--format", help="How to print it.")] = (
        InfoFormat.table
    ),
) -> None:
    """Upload a file as a table of your connection uploads-<username>; its type is read from
    its content (CSV, Parquet or Excel .xlsx)."""
    if not file.is_file():
        raise FileUnreadable(f"Cannot read {file.name!r}: not a file.")
    with open_client() as client:
        try:
            info = client.uploads.upload(file.name, _chunks(file), table=table, replace=replace)
        except OSError as exc:
            raise FileUnreadable(
                f"Cannot read {file.name!r}: {exc.strerror or 'unreadable'}."
            ) from None
    if fmt is InfoFormat.json:
        print_json(info)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in (
        ("connection", info.connection),
        ("table", info.table),
        ("format", info.format),
        ("bytes", str(info.bytes)),
        ("sha256", info.sha256),
        ("replaced", "yes" if info.replaced else "no"),
    ):
        grid.add_row(name, Text(value))
    stdout_console().print(grid)
