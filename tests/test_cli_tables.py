"""Table output streams: the first page is written before the next is read, widths are
terminal cells (Chinese text lines up), long values are cut, and on a terminal the table
goes through the pager, which may be quit early without an error."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len

from querydeck.cli.output import cell_text
from querydeck.cli.tables import paged, pager_command, write_table_stream
from querydeck.runs.models import ColumnInfo

COLUMNS = [
    ColumnInfo(name="id", type="int64", json_type="number"),
    ColumnInfo(name="名字", type="string", json_type="string"),
]


def test_columns_line_up_in_terminal_cells() -> None:
    out = io.StringIO()
    pages = [[[1, "小明"], [22, "a much longer name"], [3, None]], [[4, "x" * 200]]]
    write_table_stream(out, COLUMNS, pages, cell=cell_text)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["id", "名字"]
    assert set(lines[1].replace(" ", "")) == {"━"}
    assert lines[2] == " 1  小明"
    assert lines[3] == "22  a much longer name"
    assert lines[4] == " 3  NULL"
    assert lines[5].endswith("…")  # wider than the first page measured: cut
    assert cell_len(lines[5]) == cell_len(lines[1])


def test_the_first_page_is_written_before_the_next_is_read() -> None:
    out = io.StringIO()
    seen: list[str] = []

    def pages() -> Iterator[list[list[object]]]:
        yield [[1, "first"]]
        seen.append(out.getvalue())
        yield [[2, "second"]]

    write_table_stream(out, COLUMNS, pages(), cell=cell_text)
    assert "first" in seen[0]
    assert "second" not in seen[0]


def test_the_pager_gets_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "paged.txt"
    script = f"import shutil, sys; shutil.copyfileobj(sys.stdin, open({str(target)!r}, 'w'))"
    monkeypatch.setenv("PAGER", f"{sys.executable} -c {script!r}")
    with paged(terminal=True) as stream:
        write_table_stream(stream, COLUMNS, [[[1, "小明"]]], cell=cell_text)
    assert target.read_text(encoding="utf-8").splitlines()[2] == " 1  小明"


def test_quitting_the_pager_early_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGER", f"{sys.executable} -c 'import sys; sys.stdin.readline()'")
    many = ([[i, "row " * 20] for i in range(1000)] for _ in range(200))
    with paged(terminal=True) as stream:
        write_table_stream(stream, COLUMNS, many, cell=cell_text)  # no BrokenPipeError


def test_no_pager_off_a_terminal_or_with_cat(monkeypatch: pytest.MonkeyPatch) -> None:
    with paged(terminal=False) as stream:
        assert stream is sys.stdout
    monkeypatch.setenv("PAGER", "cat")
    assert pager_command() is None
    monkeypatch.delenv("PAGER")
    command = pager_command()
    assert command is None or command[1:] == ["-FRSX"]


def test_a_large_table_through_the_cli(
    demo_workbench: object, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 rows as a table: every row, one line each (it took 17-29 s and 263 MB as one
    Rich table; a generous bound only says it finishes)."""
    import time

    from typer.testing import CliRunner

    from querydeck.cli import app as cli_app

    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(data_dir))
    sql = "SELECT l_orderkey, l_comment FROM lineitem ORDER BY l_orderkey, l_linenumber"
    started = time.monotonic()
    result = CliRunner().invoke(
        cli_app, ["query", "demo", sql, "--max-rows", "10000", "-f", "table"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 10_000
    assert lines[0].split() == ["l_orderkey", "l_comment"]
    assert time.monotonic() - started < 60
