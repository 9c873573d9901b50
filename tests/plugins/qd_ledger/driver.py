"""The ``ledger`` driver: its options, its declarations and its sessions, built on
querydeck's public driver pieces (the contract, the URL helpers, SQLite's sandboxed
session)."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from querydeck.drivers.base import (
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    file_url_path,
)
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.drivers.sqlite.driver import SQLiteSession
from querydeck.errors import ConnectionFailed, ConnectionUrlInvalid, DataFileNotFound
from querydeck.sql.policy import FILE_ACCESS, SIDE_EFFECT


class LedgerOptions(DriverOptions):
    path: str = Field(min_length=1, description="A directory of CSV files (one per table).")


class LedgerDriver(Driver[LedgerOptions]):
    """CSV ledgers, read-only."""

    name = "ledger"
    title = "Ledger (CSV)"
    dialect = "sqlite"
    Options = LedgerOptions
    capabilities = Capabilities(server_timeout=False, schemas=False, file_based=True)
    url_schemes = ("ledger",)
    forbidden_functions: ClassVar[Mapping[str, str]] = {
        "load_extension": FILE_ACCESS,
        "readfile": FILE_ACCESS,
        "writefile": FILE_ACCESS,
        "fts3_tokenizer": SIDE_EFFECT,
    }
    ddl_style = DdlStyle(schema_qualified=False, named_constraints=False)

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        path = file_url_path(url, cls.url_schemes, cls.title, "ledger:///path/to/dir")
        if not path:
            raise ConnectionUrlInvalid("The ledger URL names no directory.")
        return {"path": path}

    def connect(self, *, timeout_s: float) -> EngineSession:
        root = Path(self.options.path)
        if self.sandbox.files is not None:
            self.sandbox.files.check(self.options.path, self.title)
        if not root.is_dir():
            raise DataFileNotFound(f"The ledger directory {root.name!r} does not exist.")
        native = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        try:
            for file in sorted(root.glob("*.csv")):
                _load(native, file)
        except (OSError, csv.Error, UnicodeDecodeError, sqlite3.Error) as exc:
            native.close()
            raise ConnectionFailed(f"A ledger file cannot be read: {exc}.") from None
        native.execute("PRAGMA query_only = 1")
        return SQLiteSession(native)


def _load(native: sqlite3.Connection, file: Path) -> None:
    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    integer = [all(r[i].lstrip("-").isdigit() for r in body) for i in range(len(header))]
    columns = ", ".join(
        f'"{name}" {"INTEGER" if whole else "TEXT"}'
        for name, whole in zip(header, integer, strict=True)
    )
    native.execute(f'CREATE TABLE "{file.stem}" ({columns})')
    marks = ", ".join("?" * len(header))
    native.executemany(
        f'INSERT INTO "{file.stem}" VALUES ({marks})',
        [[int(v) if whole else v for v, whole in zip(r, integer, strict=True)] for r in body],
    )
