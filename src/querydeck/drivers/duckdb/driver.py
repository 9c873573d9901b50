"""DuckDB database files (read-only) and in-memory databases, sandboxed.

The session never touches the file system or the network beyond its own database file:
``enable_external_access`` is off, extensions are never installed or loaded automatically,
and the configuration is locked after the session time zone is set to UTC, so a statement
cannot change any setting. Exactly one statement runs per call (the text is split with
DuckDB's own parser), and only if DuckDB classifies it as ``SELECT`` or ``EXPLAIN``.
DuckDB has no statement timeout, so a timer interrupts the statement at the deadline.

This module is what the driver registry loads; the engine itself (the ``duckdb`` package)
is imported by :mod:`querydeck.drivers.duckdb.engine` when a session is first opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field

from querydeck.drivers.base import (
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    file_url_path,
)
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.drivers.duckdb.native import check_duckdb
from querydeck.drivers.duckdb.policy import FORBIDDEN_FUNCTIONS, FORBIDDEN_RELATIONS
from querydeck.errors import ConnectionFailed, DataFileNotFound

MEMORY_LIMIT_PATTERN = r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"


class DuckDBOptions(DriverOptions):
    path: str | None = Field(
        default=None, description="Path of the DuckDB database file; empty for in-memory."
    )
    memory_limit: str = Field(default="1GB", pattern=MEMORY_LIMIT_PATTERN)
    threads: int = Field(default=2, ge=1, le=256)


class DuckDBDriver(Driver[DuckDBOptions]):
    """DuckDB database files (read-only) or an in-memory database."""

    name = "duckdb"
    title = "DuckDB"
    dialect = "duckdb"
    Options = DuckDBOptions
    capabilities = Capabilities(server_timeout=False, arrays=True, file_based=True)
    url_schemes = ("duckdb",)
    forbidden_functions = FORBIDDEN_FUNCTIONS
    forbidden_relations = FORBIDDEN_RELATIONS
    native_check = check_duckdb
    quoted_names_read_files = True
    # DuckDB's parser reads each as a SELECT (native_check requires it), in the sandbox.
    metadata_reads = frozenset(
        {"DESCRIBE", "SUMMARIZE", "SHOW TABLES", "SHOW ALL TABLES", "SHOW TABLE", "SHOW DATABASES"}
    )
    ddl_style = DdlStyle(comments="statements")

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``duckdb:///relative.duckdb``, ``duckdb:////abs.duckdb``, or ``duckdb://`` /
        ``duckdb:///:memory:`` for in-memory; no parameters."""
        path = file_url_path(url, cls.url_schemes, cls.title, "duckdb:///relative.duckdb")
        return {"path": None if path in ("", ":memory:") else path}

    def allowed_directories(self) -> list[str]:
        """The connection's roots (the one holding its file; all of them in memory), each
        ending with a separator, after checking the file is inside one."""
        files = self.sandbox.files
        if files is None:
            return []
        if self.options.path is None:
            return [os.path.join(root, "") for root in files.roots]
        return [os.path.join(files.check(self.options.path, self.title), "")]

    def target(self) -> str:
        if self.options.path is None:
            return ":memory:"
        return Path(self.options.path).name or self.options.path

    def connect(self, *, timeout_s: float) -> EngineSession:
        path = self.options.path
        shown = self.target()
        roots = self.allowed_directories()
        if path is not None:
            if not Path(path).exists():
                raise DataFileNotFound(f"The DuckDB file {shown!r} does not exist.")
            if not Path(path).is_file():
                raise ConnectionFailed(f"{shown!r} is not a file, so it is not a DuckDB database.")
        from querydeck.drivers.duckdb import engine as duckdb_engine  # imported on first use

        return duckdb_engine.connect(
            path, shown, roots, self.options.memory_limit, self.options.threads
        )
