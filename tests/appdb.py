"""An app database (SQLite) migrated once per test process, copied into the data
directories that start with one: running the migrations took 0.2-1.2 s of wall time per
data directory, mostly SQLite's syncs of one transaction per migration. A Workbench opened
on a copy still runs the key check and everything after the migrations."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from querydeck.store.database import AppDatabase

_LOCK = threading.Lock()
_TEMPLATE: list[Path] = []


def migrated_template() -> Path:
    """The migrated app database of this process (made on first use, removed at exit)."""
    with _LOCK:
        if not _TEMPLATE:
            directory = Path(tempfile.mkdtemp(prefix="qd-app-database-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            path = directory / "querydeck.db"
            database = AppDatabase(f"sqlite:///{path}")
            database.migrate()
            database.dispose()
            _TEMPLATE.append(path)
        return _TEMPLATE[0]


def seeded(data_dir: Path) -> Path:
    """``data_dir`` (made private when missing) holding a copy of the migrated database."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(migrated_template(), data_dir / "querydeck.db")
    return data_dir
