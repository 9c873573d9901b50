"""A real ``querydeck serve`` process: what it binds is what the outbound policy refuses,
and what its engine sessions leave behind when it is killed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from querydeck.app.workbench import Workbench
from querydeck.settings import load_settings
from tests.served import Served, free_port, served
from tests.services import (
    mysql_connect_args,
    mysql_database,
    mysql_reader,
    postgres_database,
    postgres_reader,
)


@pytest.fixture
def serve_dir(tmp_path: Path, demo_files: Path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(demo_files, path / "demo")
    return path


def test_the_bound_port_is_an_own_listener(serve_dir: Path) -> None:
    """``serve --port P`` with the port setting elsewhere: a connection to 127.0.0.1:P (in
    any spelling) is refused as querydeck's own listener, on save and on test, and the
    server never receives the connection attempt."""
    setting = free_port()
    with served(serve_dir, env={"QUERYDECK_PORT": str(setting)}) as server:
        assert server.port != setting
        for host in ("127.0.0.1", "localhost", "::ffff:127.0.0.1", "2002:7f00:1::"):
            options = {"host": host, "port": server.port, "database": "d", "user": "u"}
            for driver in ("postgres", "mysql"):
                status, body = server.call(
                    "POST",
                    "/api/v1/connections",
                    {"name": "loop", "driver": driver, "options": options},
                )
                assert status == 422, body
                assert body["error"]["code"] == "CONNECTION_TARGET_FORBIDDEN", body
                assert "own listener" in body["error"]["message"]
        status, body = server.call("GET", "/api/v1/connections")
        assert "loop" not in {c["name"] for c in body["items"]}


# --- a killed server leaves nothing running (issue 16, item 10) ----------------------------


#: Statements that run for minutes (a cross join counted, nothing stored or sorted).
PG_LONG = (
    "SELECT count(*) FROM generate_series(1, 200000) a, generate_series(1, 200000) b "
    "WHERE a * b = 7"
)
MARIADB_LONG = "SELECT count(*) FROM seq_1_to_200000 a, seq_1_to_200000 b WHERE a.seq * b.seq = 7"


def _register(data_dir: Path, name: str, url: str) -> None:
    with Workbench(load_settings(data_dir=data_dir)) as wb:
        wb.connections.create(name, url=url)


def _start_long_run(server: Served, connection: str, sql: str, timeout_s: float) -> None:
    body = {"connection": connection, "sql": sql, "timeout_s": timeout_s, "wait_ms": 0}
    status, answer = server.call("POST", "/api/v1/runs", body)
    assert status in (200, 202), answer


def _wait_for(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` holds (raises after ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"still not true after {seconds} s")


def test_postgres_statement_ends_after_kill_9(serve_dir: Path) -> None:
    """The run's limit is 120 s; the server is killed 2 s in: the backend ends within a few
    seconds (the session checks for its vanished client), not after 120 s."""
    import psycopg

    with postgres_database() as url, postgres_reader(url) as login:
        _register(serve_dir, "pg", login)
        role = str(urlsplit(login).username)

        def running(older_than_s: float = 0) -> int:
            """Backends of the reader's login running the statement for that long."""
            with psycopg.connect(url, autocommit=True) as admin:
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                    "AND state = 'active' AND query ILIKE '%%generate_series%%' "
                    "AND now() - query_start >= make_interval(secs => %s)",
                    (role, older_than_s),
                ).fetchone()
                return int(row[0]) if row else 0

        with served(serve_dir) as server:
            _start_long_run(server, "pg", PG_LONG, 120)
            _wait_for(lambda: running(older_than_s=2) == 1, 30)  # the rows' statement
            server.process.kill()  # SIGKILL: no clean-up runs in querydeck
            server.process.wait()
            took = _wait_for(lambda: running() == 0, 30)
        assert took < 10


def test_mariadb_statement_ends_after_kill_9(serve_dir: Path) -> None:
    """MariaDB does not notice a vanished client while it computes: the session's
    max_statement_time (the run's 6 s) ends the statement on the server."""
    import pymysql

    with mysql_database() as url, mysql_reader(url) as login:
        _register(serve_dir, "my", login)
        user = str(urlsplit(login).username)

        def running() -> int:
            conn = pymysql.connect(**mysql_connect_args(url))  # type: ignore[arg-type]
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT count(*) FROM information_schema.processlist "
                        "WHERE user = %s AND command = 'Query'",
                        (user,),
                    )
                    row = cur.fetchone()
                    return int(row[0]) if row else 0
            finally:
                conn.close()

        with served(serve_dir) as server:
            _start_long_run(server, "my", MARIADB_LONG, 6)
            _wait_for(lambda: running() == 1, 20)
            server.process.kill()
            server.process.wait()
            started = time.monotonic()
            _wait_for(lambda: running() == 0, 30)
        assert time.monotonic() - started < 15


# --- a fresh server's first requests arrive at once ----------------------------------------


def test_the_first_requests_of_a_fresh_server_may_come_at_once(serve_dir: Path) -> None:
    """16 runs sent together as the server's first requests all succeed: nothing is
    imported by several request threads at once (the rate limiter's library deadlocked
    on its own circular imports when two threads loaded it together)."""
    from concurrent.futures import ThreadPoolExecutor

    env = {"QUERYDECK_MAX_RUNS_PER_USER": "32", "QUERYDECK_MAX_RUNS_PER_CONNECTION": "32"}
    with served(serve_dir, env=env) as server:
        body = {"connection": "demo", "sql": "SELECT count(*) FROM nation", "wait_ms": 30_000}
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: server.call("POST", "/api/v1/runs", body), range(16)))
    failed = [(status, answer) for status, answer in answers if status != 200]
    assert failed == []
    assert all(answer["run"]["status"] == "succeeded" for _, answer in answers), answers


def test_warm_builds_every_part_and_loads_the_run_path(tmp_path: Path) -> None:
    """What ``serve`` does before it accepts requests: every service built, the rate
    limiter set up, the run path's modules loaded (nothing left for request threads to
    import at the same time)."""
    import sys

    from querydeck.app import workbench as workbench_module

    with Workbench(load_settings(data_dir=tmp_path / "data")) as wb:
        wb.warm()
        parts = [
            name
            for name, value in vars(Workbench).items()
            if isinstance(value, workbench_module._Part)
        ]
        assert parts
        assert [name for name in parts if name not in wb.__dict__] == []
        assert wb.limiter._built is not None
    assert all(name in sys.modules for name in workbench_module._RUN_PATH_MODULES)
