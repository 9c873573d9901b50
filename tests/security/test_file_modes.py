"""querydeck's own files are private (issue 16, item 10): the app database (and its
journal files), the key file and every result file are created with mode 0600, whatever
the umask, inside a 0700 data directory."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.app.workbench import Workbench
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import load_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The laxest usual umask (files 0666 by default): modes come from querydeck itself."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_own_files_are_0600(tmp_path: Path, demo_files: Path, open_umask: None) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    shutil.copytree(demo_files, data_dir / "demo")
    with Workbench(load_settings(data_dir=data_dir)) as wb:
        wb.admin.create_demo()
        run = wb.runs.run(RunRequest(connection="chinook", sql="SELECT * FROM Artist"))
        assert run.status is RunStatus.succeeded
        results = [p for p in wb.settings.results_dir.rglob("*") if p.is_file()]
        assert any(p.suffix == ".arrow" for p in results)
        assert mode(data_dir) == 0o700
        for path in [data_dir / "querydeck.db", data_dir / "secret.key", *results]:
            assert mode(path) == 0o600, path
        for extra in data_dir.glob("querydeck.db-*"):  # journal, WAL, shared memory
            assert mode(extra) == 0o600, extra


def test_an_existing_database_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Workbench(load_settings(data_dir=data_dir)):
        pass
    (data_dir / "querydeck.db").chmod(0o644)
    with Workbench(load_settings(data_dir=data_dir)):
        assert mode(data_dir / "querydeck.db") == 0o600
