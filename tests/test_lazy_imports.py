"""Engines and libraries the server may never use are imported on first use, not at start:
each costs resident memory for the life of the process (DuckDB about 40 MB). The CLI's
everyday commands load only what they use: each import costs every run of the command its
time (issue 17's goals: `--help` within 0.3 s, `connections list` and `history` within
0.5 s, a one-row query on SQLite within 0.7 s; `make bench` measures them)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from querydeck.app.workbench import Workbench
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings

#: Imported by a fresh interpreter that loads the app, the CLI and the DuckDB driver class.
CHECK = """
import sys
import querydeck.api, querydeck.cli, querydeck.app.workbench
from querydeck.drivers import registry
driver = registry.load("duckdb")
driver.Options.model_validate({"path": "x.duckdb"})
heavy = ["duckdb", "pglast", "pyarrow.parquet", "querydeck.drivers.duckdb.engine"]
heavy += ["tantivy"]  # the assistant's index, on its first question
print(",".join(name for name in heavy if name in sys.modules))
"""


def test_the_app_and_the_duckdb_driver_class_leave_the_engines_unimported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


#: Runs one `querydeck` command (its arguments: argv[1], JSON) in this interpreter, then
#: prints the names of every module loaded as the last line of stderr (JSON).
COMMAND = """
import json, sys
arguments = json.loads(sys.argv[1])
sys.argv = ["querydeck", *arguments]
from querydeck.entry import main
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(
    arguments: list[str], data_dir: Path | None = None, settings: dict[str, str] | None = None
) -> set[str]:
    """The modules a new process loaded to run ``querydeck ARGUMENTS`` (it must succeed),
    with ``settings`` in its environment."""
    env = {**os.environ, **(settings or {})}
    if data_dir is not None:
        env["QUERYDECK_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def among(modules: set[str], names: list[str]) -> list[str]:
    """Those of ``names`` that were loaded (a package or any module inside it)."""
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


#: What no command of the CLI loads before its command runs.
CLI_START_HEAVY = [
    "sqlalchemy.orm",
    "sqlglot",
    "alembic",
    "fastapi",
    "pyarrow",
    "querydeck.app.workbench",
    "limits",  # the rate limits: parsed when counted
    "httpx",  # the client of a server: for --server, login and logout
    "cryptography",  # X.509: when a certificate is read
]


def test_the_cli_starts_without_the_database_layers() -> None:
    """The command tree is built from light modules: the ORM, the guard's parser, the
    migrations and Arrow load when a command needs them (`--help` went from 5.6 s to 1.3 s
    on the benchmark machine, bytecode compilation included)."""
    assert among(loaded_by(["--help"]), CLI_START_HEAVY) == []


#: What listing connections or the history loads on no account: no statement is parsed,
#: no result read and nothing counted, and the app database is read plainly.
LISTING_HEAVY = [
    "alembic",  # the app database is at its head: no migration runs
    "sqlalchemy",  # the listings, the grants, the key check and the start-up reads are
    "querydeck.store.tables",  # plain SQL (store/plain.py): no Core, no ORM, no tables
    "fastapi",
    "sqlglot",  # the guard and the audit's statement summaries: when a statement runs
    "pyarrow",  # results: when one is written or read
    "numpy",
    "limits",
    "httpx",
    "querydeck.assistant",  # built when asked a question
    "querydeck.runs.runner",  # built when a run starts
    "querydeck.catalog.service",
    "structlog",  # the logs: with the first line logged (the server configures them)
    "prometheus_client",  # the server's metrics
]


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a SQLite connection ``items`` and one run in the history."""
    data = tmp_path_factory.mktemp("lazy") / "data"
    files = data / "files"  # the default file root
    files.mkdir(parents=True)
    with sqlite3.connect(files / "items.sqlite") as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO items VALUES (1, 'one')")
    with Workbench(load_settings(data_dir=data)) as wb:
        wb.connections.create(
            "items", driver="sqlite", options={"path": str(files / "items.sqlite")}
        )
        run = wb.runs.run(RunRequest(connection="items", sql="SELECT name FROM items"))
        assert run.status.value == "succeeded", run.error_message
    return data


@pytest.mark.parametrize("arguments", [["connections", "list"], ["history"]])
def test_listings_load_neither_parser_nor_arrow(cli_data: Path, arguments: list[str]) -> None:
    assert among(loaded_by(arguments, cli_data), LISTING_HEAVY) == []


def test_a_listing_with_retention_prunes_without_the_orm(cli_data: Path) -> None:
    """With retention set, every command's start prunes (in a thread its end waits for):
    finding nothing old enough is one plain read."""
    retention = {
        "QUERYDECK_AUDIT_RETENTION_DAYS": "30",
        "QUERYDECK_HISTORY_RETENTION_DAYS": "30",
    }
    loaded = loaded_by(["history"], cli_data, retention)
    assert among(loaded, ["sqlalchemy", "querydeck.store.tables"]) == []


#: What a one-row query on SQLite loads on no account (it needs the guard and Arrow).
QUERY_HEAVY = [
    "alembic",
    "sqlalchemy",  # the run's history row, its audit entries, its connection and the
    "querydeck.store.tables",  # run read back: plain SQL on SQLite (store/fastsql.py)
    "fastapi",
    "limits",
    "httpx",
    "duckdb",
    "querydeck.assistant",
    "querydeck.catalog.service",
    "querydeck.drivers.federated",  # a federated connection's driver: for such a run only
    "structlog",
    "prometheus_client",  # the runs' metrics: kept where /metrics exposes them
]


def test_a_query_loads_only_the_run_path(cli_data: Path) -> None:
    loaded = loaded_by(["query", "items", "SELECT name FROM items WHERE id = 1"], cli_data)
    assert {"sqlglot", "pyarrow", "querydeck.runs.runner"} <= loaded  # it did run
    assert among(loaded, QUERY_HEAVY) == []
    # not on a terminal, the rows are CSV written by the streaming exporter (as to a file)
    assert "querydeck.runs.export.writers" in loaded


#: Prints the modules loaded by a one-row query whose stdout is a terminal (argv[1]: the
#: data directory): the rows are printed as a table from the first page.
ON_TERMINAL = """
import json, os, pty, sys
data = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.environ["QUERYDECK_DATA_DIR"] = data
    sys.argv = ["querydeck", "query", "items", "SELECT name FROM items WHERE id = 1"]
    from querydeck.entry import main
    try:
        main()
    except SystemExit:
        pass
    with open(os.path.join(data, "modules.json"), "w") as out:
        json.dump(sorted(sys.modules), out)
    os._exit(0)
while True:
    try:
        if not os.read(fd, 4096):
            break
    except OSError:
        break
os.waitpid(pid, 0)
"""


def test_a_query_on_a_terminal_loads_no_arrow_kernels(cli_data: Path) -> None:
    """A table of one row needs neither the CSV writer nor Arrow's compute kernels (the
    value caps and page budgets use them only for large values)."""
    subprocess.run([sys.executable, "-c", ON_TERMINAL, str(cli_data)], check=True, timeout=120)
    loaded = set(json.loads((cli_data / "modules.json").read_text()))
    (cli_data / "modules.json").unlink()
    assert {"sqlglot", "pyarrow", "querydeck.runs.runner"} <= loaded  # it did run
    assert among(loaded, ["pyarrow.compute", "querydeck.runs.export.writers"]) == []


@pytest.fixture(scope="module")
def files_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a ``files`` connection ``lake`` over one CSV file."""
    data = tmp_path_factory.mktemp("lazy-files") / "data"
    lake = data / "files" / "lake"  # under the default file root
    lake.mkdir(parents=True)
    (lake / "cities.csv").write_text("id,city\n1,Oslo\n2,Lima\n")
    with Workbench(load_settings(data_dir=data)) as wb:
        wb.connections.create("lake", driver="files", options={"path": str(lake)})
    return data


def test_a_query_on_files_loads_no_pandas(files_data: Path) -> None:
    """Where pandas is installed (the dev environment, the Spark extra), neither pyarrow's
    datasets (ORC and non-UTF-8 CSV files only) nor a statement with parameters (DuckDB's
    client imports pandas to convert the first one) load it for a session over files."""
    pytest.importorskip("pandas")
    loaded = loaded_by(["query", "lake", "SELECT city FROM cities WHERE id = 2"], files_data)
    assert {"duckdb", "querydeck.drivers.files.session"} <= loaded  # it did run
    assert among(loaded, ["pandas", "pyarrow.dataset"]) == []


@pytest.fixture(scope="module")
def duckdb_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a DuckDB connection ``ducks`` over a file under a file root."""
    import duckdb

    data = tmp_path_factory.mktemp("lazy-duckdb") / "data"
    folder = data / "files"  # the default file root: the session sets allowed_directories
    folder.mkdir(parents=True)
    native = duckdb.connect(str(folder / "ducks.duckdb"))
    native.execute("CREATE TABLE birds AS SELECT 1 AS id, 'heron' AS name")
    native.close()
    with Workbench(load_settings(data_dir=data)) as wb:
        wb.connections.create(
            "ducks", driver="duckdb", options={"path": str(folder / "ducks.duckdb")}
        )
    return data


@pytest.mark.parametrize(
    "arguments",
    [
        # repeat() makes the guard read DuckDB's own tree of the statement
        pytest.param(["query", "ducks", "SELECT repeat(name, 2) FROM birds"], id="query"),
        pytest.param(["schema", "show", "ducks", "main"], id="schema"),
    ],
)
def test_duckdb_statements_of_querydecks_own_load_no_pandas(
    duckdb_data: Path, arguments: list[str]
) -> None:
    """querydeck's own DuckDB statements (allowed directories, the guard's tree, catalog
    reads) carry their values as literals: DuckDB's client imports pandas on the first
    statement with parameters in a process."""
    pytest.importorskip("pandas")
    loaded = loaded_by(arguments, duckdb_data)
    assert "duckdb" in loaded  # it did run
    assert among(loaded, ["pandas"]) == []


#: Warms a Workbench over the data directory argv[1] as `querydeck serve` does before it
#: accepts requests, then prints whether the SQLite columnar reader was loaded.
WARM = """
import sys
from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings
with Workbench(load_settings(data_dir=sys.argv[1])) as wb:
    wb.warm()
print(",".join(m for m in ("adbc_driver_sqlite", "querydeck.drivers.sqlite.columnar")
               if m in sys.modules))
"""


def test_a_server_loads_a_registered_drivers_run_path_before_requests(
    cli_data: Path, files_data: Path
) -> None:
    """A SQLite connection's big scans import ADBC and Arrow's kernels (about 0.4 s) on
    first use: a server with such a connection loads them at start, one without none."""

    def warmed(data: Path) -> str:
        done = subprocess.run(
            [sys.executable, "-c", WARM, str(data)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout.strip()

    assert warmed(cli_data) == "adbc_driver_sqlite,querydeck.drivers.sqlite.columnar"
    assert warmed(files_data) == ""
