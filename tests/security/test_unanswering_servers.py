"""A server that never answers cannot hold a run, a worker or a request (issue 16,
item 2). Each network engine meets listeners on 127.0.0.1 that accept the TCP connection
and then stay silent, read without ever answering (half-open), or drip their first bytes
(one every quarter of the connect timeout: no single read waits long enough to time out);
a PostgreSQL "server" that accepts the login and then answers nothing holds a run past its
timeout and its cancel. Every attempt runs in a thread the test waits for with a bound:
before the fix, several never came back.

Each scenario waits out timeouts and does little else: they start when the file's first
test asks (``started``), one lane per engine, the lanes side by side, and each test waits
for its own scenario and fails with its failure (one after another, the file took 74 s of
a worker's time at almost no CPU)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.mysql.driver import connect_error, open_within
from querydeck.errors import QueryDeckError
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import load_settings
from tests.appdb import seeded
from tests.wirefakes import DrippingProxy, MutePostgres, StallingServer

#: Short: every attempt here waits it out, several times over.
CONNECT_TIMEOUT_S = 1.0
#: Generous bounds for "ends in time" (a slow shared machine), far below "never".
BOUND_S = 25.0


class Workbenches:
    """Workbenches on copies of the migrated app database (tests/appdb.py), each in a
    directory of its own; all closed by :meth:`close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.opened: list[Workbench] = []
        self.lock = threading.Lock()

    def new(self, **settings: Any) -> Workbench:
        with self.lock:
            data = seeded(self.root / f"wb{len(self.opened)}")
            wb = Workbench(
                load_settings(data_dir=data, connect_timeout_s=CONNECT_TIMEOUT_S, **settings)
            ).open()
            self.opened.append(wb)
            return wb

    def close(self) -> None:
        for wb in self.opened:
            wb.close()


def within(seconds: float, action: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``action`` in a thread; (seconds it took, its result or exception). Fails when it
    has not ended after ``seconds`` (the thread is a daemon: a hung attempt cannot hang
    the test run)."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # the caller looks at it
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    took = time.monotonic() - started
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    return took, outcome[0]


def options(driver: str, port: int) -> dict[str, Any]:
    if driver == "spark":
        return {"host": "127.0.0.1", "port": port}
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "user": "u", "password": "p"}
    if driver != "clickhouse":
        values["database"] = "d"
    return values


PROTOCOL = {"postgres": "postgres", "mysql": "mysql", "clickhouse": "http", "spark": "http"}
CASES = [
    (driver, behaviour)
    for driver in ("postgres", "mysql", "clickhouse", "spark")
    for behaviour in ("silent", "half-open", "drip")
]
#: The MySQL handshake's read timeouts: longer than its deadline, and the same.
READ_TIMEOUTS = [30, 1]


@dataclass
class Attempts:
    """What one engine met at one stalling server: register, test, run, each in time."""

    made: Any
    error: Any
    run: Any
    accepted: int


def attempt(wb: Workbench, driver: str, behaviour: str) -> Attempts:
    drip_s = CONNECT_TIMEOUT_S / 4
    name = f"{driver}_{behaviour}".replace("-", "_")
    with StallingServer(behaviour, PROTOCOL[driver], drip_s=drip_s) as server:  # type: ignore[arg-type]
        values = options(driver, server.port)
        _, made = within(
            BOUND_S, lambda: wb.connections.create(name, driver=driver, options=values)
        )
        _, error = within(BOUND_S, lambda: wb.connections.test(name))
        _, run = within(
            BOUND_S, lambda: wb.runs.run(RunRequest(connection=name, sql="SELECT 1", timeout_s=3))
        )
        return Attempts(made, error, run, server.accepted)


def mysql_pointed_at_redis(wbs: Workbenches) -> None:
    wb = wbs.new()
    took, made = within(
        BOUND_S,
        lambda: wb.connections.create("redis", driver="mysql", options=options("mysql", 6379)),
    )
    assert not isinstance(made, BaseException), made
    took, error = within(BOUND_S, lambda: wb.connections.test("redis"))
    assert isinstance(error, QueryDeckError), error
    assert error.code == "UPSTREAM_UNAVAILABLE"
    assert "does not speak the MySQL protocol" in error.message
    assert took < CONNECT_TIMEOUT_S * 3 + 5


def mysql_handshake_cut(read_timeout: int) -> None:
    args = {"user": "u", "password": "p", "connect_timeout": 1, "write_timeout": 1}
    with StallingServer("silent", "mysql") as server:
        args |= {"host": "127.0.0.1", "port": server.port, "read_timeout": read_timeout}
        for _ in range(3):
            took, error = within(BOUND_S, lambda: open_within(args, 1.0))
            assert isinstance(error, pymysql.err.OperationalError), error
            message = connect_error(error, "t").message
            assert "does not speak the MySQL protocol" in message, message
            assert took < 1 + 5


def mute_server(wbs: Workbenches) -> None:
    wb = wbs.new(max_runs_per_user=1)
    with MutePostgres() as server:
        wb.connections.create("mute", driver="postgres", options=options("postgres", server.port))
        took, run = within(
            BOUND_S,
            lambda: wb.runs.run(RunRequest(connection="mute", sql="SELECT 1", timeout_s=2)),
        )
        assert not isinstance(run, BaseException), run
        assert run.status is RunStatus.timed_out, run
        assert server.queries >= 1
        run_id = wb.runs.start(RunRequest(connection="mute", sql="SELECT 2", timeout_s=120))
        time.sleep(1)
        wb.runs.cancel(run_id)
        took, ended = within(BOUND_S, lambda: wb.runs.wait(run_id, BOUND_S))
        assert not isinstance(ended, BaseException), ended
        assert ended is not None
        assert ended.status is RunStatus.cancelled, ended
        assert took < BOUND_S
        # The slot (one per user here) is free: a new run is admitted, not 429.
        after = wb.runs.start(RunRequest(connection="mute", sql="SELECT 3", timeout_s=1))
        assert after


def clickhouse_drip(wbs: Workbenches, clickhouse: Any) -> None:
    from tests.clickhouse_server import READER_PASSWORD

    wb = wbs.new(max_runs_per_user=1)
    with DrippingProxy(clickhouse.port, b"qd_drip") as proxy:
        wb.connections.create(
            "ch",
            driver="clickhouse",
            options={
                "host": "127.0.0.1",
                "port": proxy.port,
                "user": "qd_reader",
                "password": READER_PASSWORD,
            },
            allow_privileged=True,  # the test server's logins are not read-only profiles
        )
        request = RunRequest(connection="ch", sql="SELECT 'qd_drip' AS x", timeout_s=2)
        took, run = within(BOUND_S, lambda: wb.runs.run(request))
        print(f"a dripping response with a 2 s timeout ended after {took:.1f} s")
        assert not isinstance(run, BaseException), run
        assert run.status in (RunStatus.failed, RunStatus.timed_out), run
        assert proxy.dripped > 0
        after = wb.runs.run(RunRequest(connection="ch", sql="SELECT 1 AS x", timeout_s=10))
        assert after.status is RunStatus.succeeded, after


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory, clickhouse: Any
) -> Iterator[dict[Any, Future[Any]]]:
    """Every scenario of the file, in one lane per engine: the lanes run side by side, each
    lane's scenarios one after another (several ClickHouse attempts at once, on one client
    library, held one another past the bounds under load). The twelve stalling-server
    cases share a Workbench with a run slot for each; the others have their own."""
    wbs = Workbenches(tmp_path_factory.mktemp("unanswering"))
    shared = wbs.new(
        max_runs_per_user=len(CASES), max_runs_per_connection=len(CASES), run_workers=len(CASES)
    )
    lanes: dict[str, list[tuple[Any, Callable[[], Any]]]] = {}
    for driver, behaviour in CASES:
        lanes.setdefault(driver, []).append(
            ((driver, behaviour), functools.partial(attempt, shared, driver, behaviour))
        )
    lanes["postgres"].append(("mute", functools.partial(mute_server, wbs)))
    lanes["mysql"].append(("redis", functools.partial(mysql_pointed_at_redis, wbs)))
    for read_timeout in READ_TIMEOUTS:
        lanes["mysql"].append(
            (("handshake", read_timeout), functools.partial(mysql_handshake_cut, read_timeout))
        )
    lanes["clickhouse"].append(
        ("clickhouse-drip", functools.partial(clickhouse_drip, wbs, clickhouse))
    )
    futures: dict[Any, Future[Any]] = {
        key: Future() for steps in lanes.values() for key, _ in steps
    }

    def run(steps: list[tuple[Any, Callable[[], Any]]]) -> None:
        for key, step in steps:
            try:
                futures[key].set_result(step())
            except BaseException as exc:  # raised by the scenario's test
                futures[key].set_exception(exc)

    pool = ThreadPoolExecutor(len(lanes))
    for steps in lanes.values():
        pool.submit(run, steps)
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)
        wbs.close()


@pytest.mark.parametrize(("driver", "behaviour"), CASES)
def test_register_test_and_run_end_in_time(
    started: dict[Any, Future[Any]], driver: str, behaviour: str
) -> None:
    seen = started[(driver, behaviour)].result()
    assert not isinstance(seen.made, BaseException), seen.made
    assert seen.made.privileges.checked is False  # saved unverified: the server never spoke
    assert isinstance(seen.error, QueryDeckError), seen.error
    assert seen.error.code in ("UPSTREAM_UNAVAILABLE", "CONNECTION_FAILED"), seen.error
    assert not isinstance(seen.run, BaseException), seen.run
    assert seen.run.status in (RunStatus.failed, RunStatus.timed_out), seen.run
    assert seen.accepted >= 3


def test_mysql_pointed_at_redis_fails_fast_and_clearly(started: dict[Any, Future[Any]]) -> None:
    started["redis"].result()


@pytest.mark.parametrize("read_timeout", READ_TIMEOUTS)
def test_a_mysql_handshake_cut_at_its_deadline_says_it_timed_out(
    started: dict[Any, Future[Any]], read_timeout: int
) -> None:
    """The whole handshake is bounded (a greeting may drip for ever): when the deadline cuts
    the socket, the read it cut reports only a lost connection, and the error must still say
    the server did not answer in time, also when a read timeout of the same length ends the
    read at about the same moment (under load, either may come first)."""
    started[("handshake", read_timeout)].result()


def test_a_mute_server_cannot_hold_a_run_past_timeout_or_cancel(
    started: dict[Any, Future[Any]],
) -> None:
    """The login works, then nothing answers: the run ends timed out after its timeout
    (the cancel request is ignored, the session is cut), and the user's only run slot is
    free again; a cancelled run ends cancelled the same way."""
    started["mute"].result()


def test_a_clickhouse_response_that_drips_is_cut(started: dict[Any, Future[Any]]) -> None:
    """The real ClickHouse server behind a proxy that drips one statement's response a byte
    a second: each read gets its byte in time, so only a cut of the socket (the runner's
    abort after the timeout's cancel) ends the run; the user's one run slot is free again.
    Before, the run stayed ``running`` for as long as the response dripped (minutes)."""
    started["clickhouse-drip"].result()
