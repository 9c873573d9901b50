"""``querydeck drivers`` and ``querydeck demo``."""

from __future__ import annotations

from rich import box
from rich.table import Table

from querydeck.cli.common import (
    InfoFormat,
    open_client,
    open_workbench,
    print_json,
    stdout_console,
)
from querydeck.cli.connections import FormatOption, connections_table


def drivers(fmt: FormatOption = InfoFormat.table) -> None:
    """List the installed drivers (with --server: the server's)."""
    with open_client() as workbench:
        found = workbench.connections.drivers()
    if fmt is InfoFormat.json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("name", "title", "dialect", "url schemes"):
        table.add_column(column)
    for d in found:
        table.add_row(d.name, d.title, d.dialect, ", ".join(f"{s}://" for s in d.url_schemes))
    stdout_console().print(table)


def demo(fmt: FormatOption = InfoFormat.table) -> None:
    """Create the demo connections: TPC-H in DuckDB (demo) and Chinook in SQLite (chinook)."""
    with open_workbench() as workbench:
        made = workbench.admin.create_demo()
    if fmt is InfoFormat.json:
        print_json([c.model_dump(mode="json") for c in made])
        return
    stdout_console().print(connections_table(made))
