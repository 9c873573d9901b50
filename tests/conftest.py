"""Shared fixtures: an isolated data directory, settings and a Workbench per test."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from querydeck.app import demo
from querydeck.app.workbench import Workbench
from querydeck.settings import Settings, load_settings
from querydeck.store.database import AppDatabase
from tests import s3server
from tests.appdb import migrated_template, seeded
from tests.s3server import S3Server

#: argon2id costs every test runs with (set as environment variables, so the CLI's
#: subprocesses get them too).
CHEAP_ARGON2 = {
    "QUERYDECK_ARGON2_TIME_COST": "1",
    "QUERYDECK_ARGON2_MEMORY_KIB": "1024",
    "QUERYDECK_ARGON2_PARALLELISM": "1",
}
# Module- and session-scoped fixtures are built outside any test's environment (the
# autouse fixture below): they get the cheap costs too, not the production ones.
os.environ.update(CHEAP_ARGON2)


#: Test files that share a server started once per test process (see the session fixtures
#: below) and that `--dist loadfile` therefore sends to one worker together, so that a run
#: starts each server once: two workers each started a Spark Connect JVM (20-26 s of a
#: worker's time each on the loaded machine, and two JVMs' memory and CPU at once), and
#: each worker its own ClickHouse server and S3 server.
SAME_WORKER = {
    "tests/drivers/test_spark.py": "spark",
    "tests/security/test_attacks_spark.py": "spark",
    "tests/drivers/test_clickhouse.py": "clickhouse",
    "tests/security/test_attacks_clickhouse.py": "clickhouse",
    "tests/security/test_unanswering_servers.py": "clickhouse",
    "tests/drivers/test_s3.py": "s3",
    "tests/drivers/test_iceberg.py": "s3",
    "tests/drivers/test_delta.py": "s3",
    "tests/security/test_attacks_s3.py": "s3",
    "tests/test_chinese_text.py": "s3",
}


#: The work units that take longest (tens of seconds each, measured in full runs, whatever
#: their number of tests), sent out first. xdist orders units by their number of tests, so
#: a unit of one long test (schemathesis, 30 s) came last and ran alone at the end.
LONG_FIRST = (
    "clickhouse",
    "s3",
    "spark",
    "tests/test_schemathesis.py",
    "tests/test_serve_process.py",
    "tests/drivers/test_sqlite_columnar.py",
    "tests/security/test_attacks_federated.py",
    "tests/test_hardening.py",
    "tests/test_lazy_imports.py",
    "tests/test_cli.py",
)


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SAME_WORKER.get(path, path)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the files of ``SAME_WORKER`` in one work unit each, sent
    out longest first (see ``pytest_collection_modifyitems``)."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedServerScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # the collection's order is the schedule's
    return SharedServerScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: the units of ``LONG_FIRST`` first, then the others by their
    number of tests (most first, as xdist orders them), each unit's tests in their order."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    sizes = Counter(work_unit(item.nodeid) for item in items)

    def rank(item: pytest.Item) -> tuple[int, int]:
        unit = work_unit(item.nodeid)
        if unit in LONG_FIRST:
            return LONG_FIRST.index(unit), 0
        return len(LONG_FIRST), -sizes[unit]

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A command that configured logging (``serve``, ``--debug``) does not change what the
    next test's output holds."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configured = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**configured)


@pytest.fixture(autouse=True)
def _python_sigint() -> Iterator[None]:
    """Each test starts with Python's own SIGINT handler, as a command run from a terminal
    does, whatever the runner inherited (a runner started in the background by a shell
    without job control ignores SIGINT, and the Ctrl-C tests then failed), and whatever an
    earlier test left behind; the handler found is put back afterwards."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before if before is not None else signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's QUERYDECK_* settings, querydeck.toml or home."""
    for key in list(os.environ):
        if (
            key.startswith("QUERYDECK_")
            and not key.startswith("QUERYDECK_TEST_")
            and key not in ("QUERYDECK_REQUIRE_SERVICES",)
        ):
            monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # Cheap argon2 for the whole suite: production costs take ~0.1 s per hash.
    for key, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session", autouse=True)
def _cli_command_built_once() -> Iterator[None]:
    """Typer's ``CliRunner.invoke(app, ...)`` builds the click command of the whole
    ``querydeck`` app again on every call (every command's signature inspected; ~0.06 s of
    CPU, hundreds of times a run): build it once per app and test process. Each
    invocation still parses its arguments into a fresh click context."""
    import typer.testing

    name = "_get_command"  # what CliRunner.invoke calls, as typer.testing imports it
    build = getattr(typer.testing, name, None)
    if build is None:  # another Typer: nothing to share
        yield
        return
    built: dict[int, tuple[object, object]] = {}

    def once(app: Any) -> Any:
        key = id(app)
        if key not in built:
            built[key] = (app, build(app))  # the app is kept: its id stays its own
        return built[key][1]

    setattr(typer.testing, name, once)
    try:
        yield
    finally:
        setattr(typer.testing, name, build)


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo files (TPC-H DuckDB, Chinook SQLite), made once per test run: the xdist
    workers of a run share them (the first builds them under a lock, in the temporary
    directory the workers' own ones live in). Tests copy them into their own data
    directory before use and never change these."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by this run's workers
    directory = root / "demo-files"
    with open(root / "demo-files.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        demo.prepare(directory)  # builds what is missing; TPC-H is written atomically
    return directory


@pytest.fixture(scope="session")
def migrated_app_database() -> Path:
    """The app database (SQLite) migrated once per test process; see tests/appdb.py."""
    return migrated_template()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory holding a migrated app database (as the Workbench's first open
    leaves it: the key check and everything after it still run in the test)."""
    return seeded(tmp_path / "data")


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    """The file root of the ``settings`` fixture (next to the data directory)."""
    path = tmp_path / "files"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def settings(data_dir: Path, files_dir: Path, tmp_path: Path) -> Settings:
    return load_settings(data_dir=data_dir, file_roots=[files_dir, tmp_path / "cwd"])


@pytest.fixture
def workbench(settings: Settings) -> Iterator[Workbench]:
    wb = Workbench(settings).open()
    try:
        yield wb
    finally:
        wb.close()


@pytest.fixture
def demo_workbench(data_dir: Path, demo_files: Path) -> Iterator[Workbench]:
    """A Workbench with the demo connections (their files copied into its data directory)."""
    shutil.copytree(demo_files, data_dir / "demo")
    wb = Workbench(load_settings(data_dir=data_dir)).open()
    wb.admin.create_demo()
    try:
        yield wb
    finally:
        wb.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_app_database: Path
) -> Iterator[AppDatabase]:
    """A migrated app database, on SQLite (a copy of the one migrated for the test
    process) and on PostgreSQL (a database of its own, migrated here)."""
    from tests.services import postgres_database

    if request.param == "sqlite":
        shutil.copyfile(migrated_app_database, tmp_path / "app.db")
        database = AppDatabase(f"sqlite:///{tmp_path / 'app.db'}")
        database.migrate()
        yield database
        database.dispose()
        return
    with postgres_database() as url:
        database = AppDatabase(url)
        database.migrate()
        yield database
        database.dispose()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A local S3 server (moto) on 127.0.0.1, one per test process."""
    server = s3server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_connect() -> Iterator[object]:
    """One Spark Connect server per test process, shared by the modules that need one
    (its JVM takes about ten seconds to start); see tests/spark_server.py."""
    from tests.spark_server import spark_server

    with spark_server() as server:
        yield server


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[object]:
    """One ClickHouse server per test process; see tests/clickhouse_server.py."""
    from tests.clickhouse_server import clickhouse_server

    with clickhouse_server() as server:
        yield server
