"""The ``querydeck`` command line against real SQLite and DuckDB files (no mocks).

Each test has its own data directory; the demo files (TPC-H in DuckDB, Chinook in SQLite)
are built once per module and copied into it, so ``querydeck demo`` only registers them.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from querydeck.app.workbench import Workbench
from querydeck.cli import app
from querydeck.runs.models import RunStatus

LINEITEM_COUNT = 60175
LONG_QUERY = "SELECT count(*) FROM range(100000000) a, range(1000) b"
SENTINEL = "s3cr3t-SENTINEL-7f2c"
TRACKS_SQL = (
    "SELECT TrackId, Name, Composer, UnitPrice, Milliseconds FROM Track "
    "WHERE TrackId BETWEEN 60 AND 66 ORDER BY TrackId"
)

Invoke = Callable[..., Result]


@pytest.fixture
def data_dir(
    tmp_path: Path,
    demo_files: Path,
    migrated_app_database: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    for key in list(os.environ):
        if key.startswith("QUERYDECK_"):
            monkeypatch.delenv(key)
    path = tmp_path / "data"
    shutil.copytree(demo_files, path / "demo")
    shutil.copyfile(migrated_app_database, path / "querydeck.db")
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(path))
    monkeypatch.setenv("QUERYDECK_FILE_ROOTS", str(tmp_path / "userfiles"))
    (tmp_path / "userfiles").mkdir()
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def cli(data_dir: Path) -> Invoke:
    """Run ``querydeck ARGS`` in-process; stdout and stderr stay apart."""
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=stdin)

    return invoke


@pytest.fixture
def with_demo(cli: Invoke) -> Invoke:
    result = cli("demo")
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture
def chinook_file(data_dir: Path) -> Path:
    return data_dir / "demo" / "chinook.sqlite"


def fails_with(result: Result, code: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, result.output
    assert f"Error [{code}]" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def query_json(cli: Invoke, connection: str, sql: str) -> list[dict[str, Any]]:
    result = cli("query", connection, sql, "--format", "json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = orjson.loads(result.stdout)
    return rows


# --- connections --------------------------------------------------------------------------


def test_connection_lifecycle(
    cli: Invoke, tmp_path: Path, data_dir: Path, chinook_file: Path
) -> None:
    shutil.copyfile(chinook_file, tmp_path / "userfiles" / "music.db")
    added = cli("connections", "add", "music", "sqlite:///userfiles/music.db", "--format", "json")
    assert added.exit_code == 0, added.output
    expected = str(Path.cwd() / "userfiles" / "music.db")
    assert orjson.loads(added.stdout)["options"] == {"path": expected}
    tpch_path = data_dir / "demo" / "tpch.duckdb"
    tpch = cli(
        "connections", "add", "tpch", "-d", "duckdb", "-o", f"path={tpch_path}", "-o", "threads=1"
    )
    assert tpch.exit_code == 0, tpch.output
    assert "threads" in tpch.stdout

    listed = orjson.loads(cli("connections", "list", "--format", "json").stdout)
    assert [c["name"] for c in listed["items"]] == ["music", "tpch"]
    assert listed["total"] == 2
    assert "showing 1–1 of 2" in cli("connections", "list", "--limit", "1").stderr

    shown = cli("connections", "show", "music")
    assert shown.exit_code == 0
    assert "music.db" in shown.stdout
    assert "ok (" in shown.stdout  # tested when it was added

    for name in ("music", "tpch"):
        tested = cli("connections", "test", name)
        assert tested.exit_code == 0, tested.output
        assert tested.stdout.startswith("ok: ")
        assert "server version" in tested.stdout
    version = sqlite3.connect(":memory:").execute("SELECT sqlite_version()").fetchone()[0]
    assert version in cli("connections", "test", "music").stdout
    status = orjson.loads(cli("connections", "show", "music", "-f", "json").stdout)["status"]
    assert status["ok"] is True

    updated = cli("connections", "update", "tpch", "--option", "threads=3", "-f", "json")
    assert orjson.loads(updated.stdout)["options"]["threads"] == 3
    reset = cli("connections", "update", "tpch", "--unset", "threads", "-f", "json")
    assert orjson.loads(reset.stdout)["options"]["threads"] == 2

    renamed = cli("connections", "rename", "music", "songs")
    assert renamed.exit_code == 0
    assert "'songs'" in renamed.stderr
    fails_with(cli("connections", "show", "music"), "CONNECTION_NOT_FOUND")
    removed = cli("connections", "remove", "songs", "--yes")
    assert removed.exit_code == 0, removed.output
    listed = orjson.loads(cli("connections", "list", "--format", "json").stdout)
    assert [c["name"] for c in listed["items"]] == ["tpch"]


def test_remove_asks_on_a_terminal_only(cli: Invoke, chinook_file: Path) -> None:
    added = cli("connections", "add", "c", "--driver", "sqlite", "-o", f"path={chinook_file}")
    assert added.exit_code == 0, added.output
    refused = cli("connections", "remove", "c")  # CliRunner's stdin is not a terminal
    assert refused.exit_code == 2
    assert "querydeck connections remove c --yes" in refused.stderr
    assert "Invalid value" not in refused.stderr
    assert cli("connections", "show", "c").exit_code == 0
    # From a script (a real process, no terminal anywhere): --yes removes at once.
    done = subprocess.run(
        [*_querydeck_command(), "connections", "remove", "c", "--yes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Removed connection 'c'." in done.stderr
    fails_with(cli("connections", "show", "c"), "CONNECTION_NOT_FOUND")


def test_help_reads_as_text() -> None:
    """No type label after a flag, no reStructuredText ``code`` marks."""
    shown = {}
    for args in (["--help"], ["serve", "--help"], ["connections", "remove", "--help"]):
        done = shown[args[0]] = subprocess.run(
            [*_querydeck_command(), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "120", "TERM": "dumb"},
        )
        assert done.returncode == 0, done.stderr
        assert "<bool>" not in done.stdout
        assert "``" not in done.stdout
    assert "administrator `admin`" in shown["serve"].stdout
    assert "--yes" in shown["connections"].stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["dup", "sqlite:///x.db"], "CONNECTION_NAME_TAKEN"),
        (["x", "--driver", "oracle9", "-o", "path=x"], "UNKNOWN_DRIVER"),
        (["x", "-d", "sqlite", "-o", "path=x.db", "-o", "cache=1"], "CONNECTION_OPTION_UNKNOWN"),
        (["x", "--driver", "duckdb", "-o", "threads=many"], "CONNECTION_OPTIONS_INVALID"),
        (["x", "sqlite://"], "CONNECTION_URL_INVALID"),
        (["x", "sqlite:///x.db?mode=rwc"], "CONNECTION_PARAM_FORBIDDEN"),
        (["x"], "INVALID_INPUT"),
    ],
)
def test_add_refused(cli: Invoke, args: list[str], code: str) -> None:
    assert cli("connections", "add", "dup", "sqlite:///userfiles/x.db", "--no-test").exit_code == 0
    fails_with(cli("connections", "add", *args), code)


def test_test_reports_a_missing_file(cli: Invoke) -> None:
    added = cli("connections", "add", "gone", "sqlite:///userfiles/missing.db", "--no-test")
    assert added.exit_code == 0, added.output
    fails_with(cli("connections", "test", "gone"), "FILE_NOT_FOUND")
    shown = orjson.loads(cli("connections", "show", "gone", "-f", "json").stdout)
    assert shown["status"]["error_code"] == "FILE_NOT_FOUND"


def test_secrets_never_printed(cli: Invoke) -> None:
    outputs: list[str] = []

    def run(*args: str, stdin: str | None = None) -> Result:
        result = cli(*args, stdin=stdin)
        outputs.append(result.stdout + result.stderr)
        return result

    pg = ["--driver", "postgres", "-o", "host=127.0.0.1", "-o", "port=1", "-o", "database=d"]
    pg.append("--no-test")
    added = run("connections", "add", "pg", *pg, "-o", "user=u", "-o", f"password={SENTINEL}")
    assert added.exit_code == 0, added.output
    prompted = run(
        "connections", "add", "pg2", *pg, "-o", "user=u", "--password-prompt", stdin=SENTINEL + "\n"
    )
    assert prompted.exit_code == 0, prompted.output
    for name in ("pg", "pg2"):
        info = orjson.loads(run("connections", "show", name, "-f", "json").stdout)
        assert info["secrets_set"] == ["password"]
        run("connections", "show", name)
        fails_with(run("connections", "test", name), "UPSTREAM_UNAVAILABLE")
    run("connections", "list")
    run("connections", "list", "-f", "json")
    run("connections", "update", "pg", "-o", "sslmode=disable")
    # A forgotten '=' is a usage error that must not echo the value either.
    assert run("connections", "update", "pg", "-o", f"password{SENTINEL}").exit_code == 2
    assert len(outputs) == 12
    for text in outputs:
        assert SENTINEL not in text


# --- queries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", f"count_star()\r\n{LINEITEM_COUNT}\r\n"),
        ("json", f'[{{"count_star()":{LINEITEM_COUNT}}}]\n'),
        ("ndjson", f'{{"count_star()":{LINEITEM_COUNT}}}\n'),
        (None, f"count_star()\r\n{LINEITEM_COUNT}\r\n"),  # not a terminal: CSV
    ],
)
def test_query_formats(with_demo: Invoke, fmt: str | None, expected: str) -> None:
    args = ["query", "demo", "SELECT count(*) FROM lineitem"]
    result = with_demo(*args, *(["--format", fmt] if fmt else []))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == expected
    assert result.stderr.startswith("1 row in ")


def test_query_table(with_demo: Invoke) -> None:
    result = with_demo("query", "demo", "SELECT count(*) FROM lineitem", "--format", "table")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == "count_star()"
    assert lines[-1] == str(LINEITEM_COUNT)
    assert "1 row in" in result.stderr
    sql = "SELECT '[bold]x' AS v, NULL AS n, 'a' || chr(10) || 'b' AS nl, repeat('y', 500) AS w"
    markup = with_demo("query", "demo", sql, "-f", "table")
    assert "y" * 59 + "…" in markup.stdout  # a long cell is cut
    assert "y" * 61 not in markup.stdout
    assert "a↵b" in markup.stdout  # a newline does not break the row
    assert "[bold]x" in markup.stdout
    assert "NULL" in markup.stdout


def test_query_rows_match_sqlite3(with_demo: Invoke, chinook_file: Path) -> None:
    with sqlite3.connect(chinook_file) as conn:
        cursor = conn.execute(TRACKS_SQL)
        names = [d[0] for d in cursor.description]
        expected = cursor.fetchall()

    rows = query_json(with_demo, "chinook", TRACKS_SQL)
    assert [tuple(r[n] for n in names) for r in rows] == expected
    assert list(rows[0]) == names

    ndjson = with_demo("query", "chinook", TRACKS_SQL, "-f", "ndjson").stdout
    assert [orjson.loads(line) for line in ndjson.splitlines()] == rows

    text = with_demo("query", "chinook", TRACKS_SQL, "-f", "csv").stdout_bytes.decode()
    # stdout gets the export's bytes, the same as a file (text quoted in a batch that needs it)
    assert with_demo("query", "chinook", TRACKS_SQL, "-o", "tracks.csv").exit_code == 0
    assert Path("tracks.csv").read_bytes().decode("utf-8") == text
    assert text.splitlines(keepends=True)[1] == (
        '60,"Confusion","Jerry Cantrell, Michael Starr, Layne Staley",0.99,344163\r\n'
    )
    assert '\r\n63,"Desafinado",,0.99,185338\r\n' in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == names
    assert parsed[1:] == [["" if v is None else str(v) for v in row] for row in expected]


def test_json_keys_stay_unique(with_demo: Invoke) -> None:
    rows = query_json(with_demo, "chinook", "SELECT 1 AS a, 2 AS a, 3 AS a_2")
    assert rows == [{"a": 1, "a_2": 2, "a_2_2": 3}]


def test_max_rows_truncation_is_reported(with_demo: Invoke) -> None:
    sql = "SELECT ArtistId FROM Artist ORDER BY ArtistId"
    result = with_demo("query", "chinook", sql, "--max-rows", "3", "-f", "ndjson")
    assert result.exit_code == 0, result.output
    assert result.stdout == '{"ArtistId":1}\n{"ArtistId":2}\n{"ArtistId":3}\n'
    assert "3 rows in" in result.stderr
    assert "truncated at 3 rows (the row cap" in result.stderr
    untruncated = with_demo("query", "chinook", sql, "--max-rows", "1000", "-f", "csv")
    assert "truncated" not in untruncated.stderr


def test_output_file(with_demo: Invoke, tmp_path: Path) -> None:
    sql = "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a"
    result = with_demo("query", "demo", sql, "--output", "out.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "written to out.json" in result.stderr
    assert (tmp_path / "out.json").read_bytes() == b'[{"a":1,"b":"x"},{"a":2,"b":null}]\n'
    assert with_demo("query", "demo", sql, "-o", "out.csv").exit_code == 0
    assert (tmp_path / "out.csv").read_bytes() == b"a,b\r\n1,x\r\n2,\r\n"
    assert with_demo("query", "demo", sql, "-o", "t.txt", "-f", "table").exit_code == 0
    table = (tmp_path / "t.txt").read_text()
    assert "\x1b" not in table
    assert table.split()[:2] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "out.csv",
        "out.json",
        "t.txt",
    ]


def test_failed_query_writes_no_file(with_demo: Invoke, tmp_path: Path) -> None:
    result = with_demo("query", "demo", "SELECT no_such_column FROM lineitem", "-o", "o.csv")
    fails_with(result, "QUERY_FAILED")
    assert not (tmp_path / "o.csv").exists()


def test_write_statement_rejected(with_demo: Invoke) -> None:
    result = with_demo("query", "chinook", "SELECT 1;\nDELETE FROM Artist")
    fails_with(result, "SQL_MULTIPLE_STATEMENTS")
    result = with_demo("query", "chinook", "DELETE FROM Artist")
    fails_with(result, "SQL_NOT_READ_ONLY")
    assert "line 1, column 1" in result.stderr
    assert "1 | DELETE FROM Artist\n    | ^" in result.stderr
    assert query_json(with_demo, "chinook", "SELECT count(*) AS n FROM Artist") == [{"n": 275}]


def test_empty_sql_rejected(with_demo: Invoke) -> None:
    fails_with(with_demo("query", "chinook", ""), "SQL_EMPTY")
    fails_with(with_demo("query", "chinook", "-", stdin="  -- nothing\n"), "SQL_EMPTY")


def test_sql_from_stdin(with_demo: Invoke) -> None:
    result = with_demo("query", "chinook", "-", "-f", "csv", stdin="SELECT 40 + 2 AS n\n")
    assert result.stdout_bytes == b"n\r\n42\r\n"


def test_timeout(with_demo: Invoke) -> None:
    started = time.monotonic()
    result = with_demo("query", "demo", LONG_QUERY, "--timeout", "1")
    fails_with(result, "QUERY_TIMEOUT")
    assert time.monotonic() - started < 10


def test_ctrl_c_cancels_the_run(with_demo: Invoke) -> None:
    # A real SIGINT, sent once the run is executing (the watcher's Workbench is opened
    # first: two Workbenches migrating at once in one process trip over Alembic's globals).
    watcher = Workbench().open()

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if watcher.runs.listing(status=RunStatus.running).total:
                # the run is marked running before start_run has returned its id to the
                # command; give the command a moment to reach its wait loop
                time.sleep(0.5)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=interrupt_when_running)
    thread.start()
    try:
        result = with_demo("query", "demo", LONG_QUERY, "--timeout", "60")
    finally:
        thread.join()
        watcher.close()
    assert result.exit_code == 1, result.output
    assert "The run was cancelled" in result.stderr
    runs = orjson.loads(with_demo("history", "--format", "json").stdout)["items"]
    assert runs[0]["status"] == "cancelled"


def test_history_and_runs(with_demo: Invoke) -> None:
    assert with_demo("query", "chinook", "SELECT 1").exit_code == 0
    assert with_demo("query", "chinook", "DROP TABLE Artist").exit_code == 1
    assert with_demo("query", "demo", "SELECT 2").exit_code == 0

    page = orjson.loads(with_demo("history", "--format", "json").stdout)
    assert page["total"] == 3
    assert [(r["connection"], r["status"]) for r in page["items"]] == [
        ("demo", "succeeded"),
        ("chinook", "rejected"),
        ("chinook", "succeeded"),
    ]
    rejected = page["items"][1]
    assert rejected["error_code"] == "SQL_NOT_READ_ONLY"

    table = with_demo("history", "--connection", "chinook")
    assert table.exit_code == 0
    assert "rejected" in table.stdout
    assert "DROP TABLE Artist" in table.stdout
    assert "SELECT 2" not in table.stdout
    assert "showing 1–2 of 2 runs" in table.stderr
    only = orjson.loads(with_demo("history", "--status", "rejected", "-f", "json").stdout)
    assert [r["id"] for r in only["items"]] == [rejected["id"]]
    assert (
        orjson.loads(with_demo("history", "--limit", "1", "--offset", "2", "-f", "json").stdout)[
            "items"
        ][0]["sql"]
        == "SELECT 1"
    )

    shown = with_demo("runs", "show", rejected["id"])
    assert shown.exit_code == 0
    assert "SQL_NOT_READ_ONLY" in shown.stdout
    assert "DROP TABLE Artist" in shown.stdout
    assert orjson.loads(with_demo("runs", "show", rejected["id"], "-f", "json").stdout) == rejected
    fails_with(with_demo("runs", "cancel", rejected["id"]), "RUN_NOT_RUNNING")
    fails_with(with_demo("runs", "show", "no-such-run"), "RUN_NOT_FOUND")


# --- exit codes and start-up errors -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["querx"],
        ["query", "demo"],
        ["query", "demo", "SELECT 1", "--format", "xml"],
        ["query", "demo", "SELECT 1", "--max-rows", "0"],
        ["query", "demo", "SELECT 1", "--timeout", "0"],
        ["connections", "add", "x", "--option", "novalue"],
        ["history", "--status", "sleeping"],
    ],
)
def test_usage_errors_exit_2(cli: Invoke, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_bad_settings_exit_1(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERYDECK_NO_SUCH_SETTING", "1")
    fails_with(cli("connections", "list"), "CONFIG_INVALID")
    monkeypatch.delenv("QUERYDECK_NO_SUCH_SETTING")
    monkeypatch.setenv("QUERYDECK_PORT", "99999999")
    fails_with(cli("connections", "list"), "CONFIG_INVALID")


def test_unexpected_error_is_one_line(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("QUERYDECK_DATA_DIR", str(tmp_path / "not-a-dir"))
    result = cli("connections", "list")
    fails_with(result, "INTERNAL_ERROR")
    assert "FileExistsError" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_drivers(cli: Invoke) -> None:
    result = cli("drivers")
    assert result.exit_code == 0
    for text in (
        "sqlite",
        "duckdb",
        "postgres",
        "PostgreSQL",
        "postgresql://",
        "clickhouse",
        "sc://",
    ):
        assert text in result.stdout
    listed = orjson.loads(cli("drivers", "--format", "json").stdout)
    assert {"sqlite", "duckdb", "clickhouse", "spark"} <= {d["name"] for d in listed}


# --- serve --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _querydeck_command() -> list[str]:
    script = Path(sys.executable).with_name("querydeck")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from querydeck.cli import main; main()"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_serve_on_a_busy_port_stops_before_doing_anything(data_dir: Path, how: str) -> None:
    before = _contents(data_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        argv, env = [*_querydeck_command(), "serve"], dict(os.environ)
        if how == "option":
            argv += ["--port", str(port)]
        else:
            env["QUERYDECK_PORT"] = str(port)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"Error [ADDRESS_UNAVAILABLE]: Port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr
    assert "QUERYDECK_PORT=" in done.stderr
    assert "serving at" not in done.stderr
    assert "Traceback" not in done.stderr
    # Checked first: no migration, no administrator, no demo connections (the data
    # directory, which the fixture starts with a migrated app database, is untouched).
    assert not (data_dir / "initial-admin-password").exists()
    assert _contents(data_dir) == before


def _contents(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a directory)."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def test_serve(data_dir: Path) -> None:
    script = Path(sys.executable).with_name("querydeck")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from querydeck.cli import main; main()"]
    )
    port = free_port()
    proc = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    body = b""
    try:
        while not body and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.2)
        if body:  # the first administrator's password logs in
            password_file = data_dir / "initial-admin-password"
            password = password_file.read_text().strip()
            login = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                data=orjson.dumps({"username": "admin", "password": password}),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(login, timeout=10) as r:
                cookie = r.headers["set-cookie"]
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=20)
    assert body, f"the server never answered /healthz; its stderr:\n{err}"
    assert proc.returncode == 0, err
    assert out == ""
    assert password in err  # printed once, on stderr
    assert "initial-admin-password" in err
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert "httponly" in cookie.lower()
    assert "demo (duckdb), chinook (sqlite)" in err
    assert f"http://127.0.0.1:{port}" in err
    assert f"http://127.0.0.1:{port}/api/docs" in err
