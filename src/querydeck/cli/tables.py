"""Table output for people, streamed: the first rows are on screen at once and the rest
follow page by page, in memory bounded by a page whatever the number of rows.

Column widths are measured on the first page (names, and values up to
:data:`querydeck.cli.output.MAX_CELL_CHARS` characters); a later value wider than its
column is cut with an ellipsis. Widths count terminal cells, so Chinese text lines up. On
a terminal the table goes through a pager (``$PAGER``, else ``less -FRSX``: it quits at
once when the table fits on the screen and scrolls sideways for wide tables); elsewhere it
is written as it comes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO, cast

from rich.cells import cell_len, set_cell_size

from querydeck.runs.models import ColumnInfo

Rows = list[list[Any]]
#: Characters between two columns.
GAP = "  "


def _fit(text: str, width: int, right: bool) -> str:
    """``text`` in exactly ``width`` cells: cut with an ellipsis, or padded."""
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - size)
    return pad + text if right else text + pad


def write_table_stream(
    stream: TextIO, columns: list[ColumnInfo], pages: Iterable[Rows], *, cell: Any
) -> None:
    """Every page as aligned text lines: a header, a rule, then the rows. ``cell`` turns a
    value into its text (NULL shown as ``NULL``, control characters made visible)."""
    if not columns:
        return
    pending = iter(pages)
    first = next(pending, [])
    texts = [[cell(v) for v in row] for row in first]
    widths = [
        max([cell_len(c.name), *(cell_len(row[i]) for row in texts)], default=1)
        for i, c in enumerate(columns)
    ]
    right = [c.json_type == "number" for c in columns]
    stream.write(GAP.join(_fit(c.name, w, False) for c, w in zip(columns, widths, strict=True)))
    stream.write("\n" + GAP.join("━" * w for w in widths) + "\n")

    def lines(rows: Iterable[list[str]]) -> Iterator[str]:
        for row in rows:
            fitted = (_fit(t, w, r) for t, w, r in zip(row, widths, right, strict=True))
            yield GAP.join(fitted).rstrip() + "\n"

    stream.write("".join(lines(texts)))
    stream.flush()
    for rows in pending:
        stream.write("".join(lines([cell(v) for v in row] for row in rows)))
        stream.flush()


def pager_command() -> list[str] | None:
    """The pager to use: ``$PAGER`` (empty or ``cat``: none), else ``less -FRSX`` when it
    is installed."""
    chosen = os.environ.get("PAGER")
    if chosen is not None:
        words = shlex.split(chosen)
        return words if words and words[0] != "cat" else None
    found = shutil.which("less")
    return [found, "-FRSX"] if found else None


@contextmanager
def paged(terminal: bool | None = None) -> Iterator[TextIO]:
    """stdout through the pager when it is a terminal (``terminal``: whether it is; None
    asks stdout), else stdout itself. When the person quits the pager early, writing stops
    quietly (the rest is never read)."""
    on_terminal = sys.stdout.isatty() if terminal is None else terminal
    command = pager_command() if on_terminal else None
    if command is None:
        yield sys.stdout
        return
    try:
        # The person's own $PAGER (or less), given no input of ours but the table.
        pager = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.PIPE, text=True, encoding="utf-8"
        )
    except OSError:  # no such pager: write directly
        yield sys.stdout
        return
    sink = cast(TextIO, pager.stdin)
    try:
        yield sink
    except BrokenPipeError:
        pass  # the pager was quit before the end
    finally:
        with suppress(BrokenPipeError):
            sink.close()
        pager.wait()
