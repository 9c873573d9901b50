"""Engines and libraries the server may never use are imported on first use, not at start:
each costs resident memory for the life of the process (DuckDB about 40 MB)."""

from __future__ import annotations

import subprocess
import sys

#: Imported by a fresh interpreter that loads the app, the CLI and the DuckDB driver class.
CHECK = """
import sys
import querydeck.api, querydeck.cli, querydeck.workbench
from querydeck.drivers import registry
driver = registry.load("duckdb")
driver.Options.model_validate({"path": "x.duckdb"})
heavy = ["duckdb", "pglast", "pyarrow.parquet", "querydeck.drivers.duckdb_engine"]
print(",".join(name for name in heavy if name in sys.modules))
"""


def test_the_app_and_the_duckdb_driver_class_leave_the_engines_unimported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
