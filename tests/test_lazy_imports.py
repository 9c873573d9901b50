"""Engines and libraries the server may never use are imported on first use, not at start:
each costs resident memory for the life of the process (DuckDB about 40 MB)."""

from __future__ import annotations

import subprocess
import sys

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


#: What `querydeck --help` (and every CLI start, before its command runs) imports.
CLI_START = """
import sys
sys.argv = ["querydeck", "--help"]
from querydeck.entry import main
try:
    main()
except SystemExit:
    pass
heavy = ["sqlalchemy.orm", "sqlglot", "alembic", "fastapi", "pyarrow", "querydeck.app.workbench"]
print(",".join(name for name in heavy if name in sys.modules), file=sys.stderr)
"""


def test_the_cli_starts_without_the_database_layers() -> None:
    """The command tree is built from light modules: the ORM, the guard's parser, the
    migrations and Arrow load when a command needs them (`--help` went from 5.6 s to 1.3 s
    on the benchmark machine, bytecode compilation included)."""
    done = subprocess.run(
        [sys.executable, "-c", CLI_START], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr.strip().splitlines()[-1:] in ([], [""])
