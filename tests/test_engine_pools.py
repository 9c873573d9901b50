"""The per-connection session pool: its rules on a stand-in session, then the runner with
real PostgreSQL and MariaDB servers (reuse, reset between runs, discard after errors and
cancels, options changed, pools closed with the Workbench) and the app-database writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from querydeck.app.workbench import Workbench
from querydeck.drivers.base import EngineSession, ResultStream, ServerInfo
from querydeck.errors import QueryDeckError, UpstreamUnavailable
from querydeck.runs import pools as pool_module
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.runs.pools import EnginePools
from querydeck.settings import load_settings
from tests.security.harness import bypass
from tests.services import POSTGRES_URL, mysql_database, postgres_database, settled

# --- the pool's rules, on a stand-in session (the outermost edge) -------------------------


class FakeSession(EngineSession):
    def __init__(self, *, resets: bool = True, fail_reset: bool = False) -> None:
        self.resets, self.fail_reset = resets, fail_reset
        self.closed = False
        self.is_alive = True
        self.pings = 0
        self.ping_fails = False

    def ping(self) -> ServerInfo:
        self.pings += 1
        if self.ping_fails:
            raise UpstreamUnavailable("gone")
        return ServerInfo(version="1")

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        raise AssertionError("not used")

    def cancel(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def reset(self) -> bool:
        if self.fail_reset:
            raise UpstreamUnavailable("lost")
        return self.resets

    def alive(self) -> bool:
        return self.is_alive


def test_a_clean_session_is_reused_and_the_pool_is_bounded() -> None:
    pools = EnginePools(size=2, idle_timeout_s=60)
    sessions = [FakeSession() for _ in range(3)]
    for s in sessions:
        pools.release("c", "v1", s, reusable=True)
    assert pools.idle_count("c") == 2
    assert pools.idle_count() == 2
    assert sessions[2].closed  # no room left
    got = pools.acquire("c", "v1", lambda: FakeSession())
    assert got is sessions[1]  # the most recently used first
    pools.close()
    assert sessions[0].closed
    assert pools.idle_count() == 0


@pytest.mark.parametrize(
    ("session", "reusable"),
    [
        (FakeSession(), False),  # errored, cancelled or timed out
        (FakeSession(resets=False), True),  # a driver that cannot reset
        (FakeSession(fail_reset=True), True),  # broken while resetting
    ],
    ids=["not-reusable", "cannot-reset", "reset-fails"],
)
def test_sessions_that_cannot_be_trusted_are_closed(session: FakeSession, reusable: bool) -> None:
    pools = EnginePools(size=4, idle_timeout_s=60)
    pools.release("c", "v1", session, reusable=reusable)
    assert session.closed
    assert pools.idle_count() == 0
    fresh = FakeSession()
    assert pools.acquire("c", "v1", lambda: fresh) is fresh


def test_size_zero_pools_nothing() -> None:
    pools = EnginePools(size=0, idle_timeout_s=60)
    session = FakeSession()
    pools.release("c", "v1", session, reusable=True)
    assert session.closed


def test_changed_options_never_reuse_an_old_session() -> None:
    pools = EnginePools(size=4, idle_timeout_s=60)
    old = FakeSession()
    pools.release("c", "v1", old, reusable=True)
    fresh = FakeSession()
    assert pools.acquire("c", "v2", lambda: fresh) is fresh
    assert old.closed
    other = FakeSession()
    pools.release("c", "v1", other, reusable=True)  # a run that began before the change
    pools.release("c", "v3", FakeSession(), reusable=True)
    assert other.closed
    assert pools.idle_count("c") == 1


def test_dead_or_silent_sessions_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    pools = EnginePools(size=4, idle_timeout_s=600)
    dead, stale, good = FakeSession(), FakeSession(), FakeSession()
    for s in (good, stale, dead):
        pools.release("c", "v", s, reusable=True)
    dead.is_alive = False
    assert pools.acquire("c", "v", lambda: FakeSession()) is stale  # dead one skipped
    assert dead.closed
    assert stale.pings == 0
    pools.release("c", "v", stale, reusable=True)
    monkeypatch.setattr(pool_module, "PING_AFTER_IDLE_S", 0.0)
    stale.ping_fails = True
    assert pools.acquire("c", "v", lambda: FakeSession()) is good
    assert stale.closed
    assert good.pings == 1


def test_idle_sessions_expire_and_the_reaper_closes_them() -> None:
    pools = EnginePools(size=4, idle_timeout_s=0.2)
    sessions = [FakeSession(), FakeSession()]
    for s in sessions:
        pools.release("c", "v", s, reusable=True)
    assert pools.expire(now=time.monotonic() - 10) == 0
    deadline = time.monotonic() + 10
    while pools.idle_count() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pools.idle_count() == 0
    assert all(s.closed for s in sessions)
    pools.close()
    late = FakeSession()
    pools.release("c", "v", late, reusable=True)  # after close: closed, not kept
    assert late.closed


# --- the runner on real servers -------------------------------------------------------------


def run(wb: Workbench, sql: str, name: str = "pg") -> Any:
    info = wb.runs.run(RunRequest(connection=name, sql=sql))
    assert info.status is RunStatus.succeeded, info.error_message
    return wb.runs.rows(info.id).rows


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def bench(data_dir: Path, url: str, *, raw: bool = False, **settings: Any) -> Workbench:
    wb = Workbench(
        load_settings(data_dir=data_dir, **settings), checker=bypass if raw else None
    ).open()
    wb.connections.create("pg", url=url, allow_privileged=True)
    return wb


def backends(url: str) -> list[tuple[int, str]]:
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        return [
            (int(r[0]), str(r[1]))
            for r in admin.execute(
                "SELECT pid, state FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'querydeck'",
                (database,),
            ).fetchall()
        ]


def test_runs_reuse_a_reset_session(data_dir: Path, pg_url: str) -> None:
    """The guard is bypassed: what one run leaves in its session (a session-level setting,
    an advisory lock) is gone in the next run, which runs on the same backend."""
    wb = bench(data_dir, pg_url, raw=True)
    try:
        pid = run(wb, "SELECT pg_backend_pid()")[0][0]
        run(wb, "SELECT set_config('default_transaction_read_only', 'off', false)")
        run(wb, "SELECT pg_advisory_lock(77), set_config('qd.marker', 'x', false)")
        assert wb.run_manager.pools.idle_count() == 1
        assert backends(pg_url) == [(pid, "idle")]
        state = run(
            wb,
            "SELECT pg_backend_pid(), current_setting('qd.marker', true), "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')",
        )
        assert state == [[pid, "", 0]]
        assert run(wb, "SELECT current_setting('transaction_read_only')") == [["on"]]
    finally:
        wb.close()
    assert settled(lambda: backends(pg_url) == [])  # closing the Workbench closed its pool


def test_a_session_stays_in_the_pool_across_many_repeated_runs(data_dir: Path, pg_url: str) -> None:
    """Repeated statements (and the driver's own repeated ROLLBACK and DISCARD ALL) never
    break the pooled session: psycopg's automatic prepared statements did not survive the
    reset, and every seventh run or so lost its session and opened a new one. (The guard is
    bypassed for SHOW, which the driver runs as a prepared statement like EXPLAIN.)"""
    wb = bench(data_dir, pg_url, raw=True)
    try:
        pid = run(wb, "SELECT pg_backend_pid()")[0][0]
        repeated = ["SELECT pg_backend_pid()"] * 12
        repeated += ["SHOW server_version", "EXPLAIN SELECT 1"] * 4
        for sql in repeated:
            run(wb, sql)
        assert run(wb, "SELECT pg_backend_pid()")[0][0] == pid
        assert backends(pg_url) == [(pid, "idle")]
    finally:
        wb.close()


def test_failed_and_cancelled_runs_discard_their_session(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url, raw=True)
    try:
        pid = run(wb, "SELECT pg_backend_pid()")[0][0]
        failed = wb.runs.run(RunRequest(connection="pg", sql="SELECT 1 / 0"))
        assert failed.status is RunStatus.failed
        assert wb.run_manager.pools.idle_count() == 0
        second = run(wb, "SELECT pg_backend_pid()")[0][0]
        assert second != pid
        run_id = wb.runs.start(RunRequest(connection="pg", sql="SELECT pg_sleep(30)"))
        deadline = time.monotonic() + 10
        while (second, "active") not in backends(pg_url) and time.monotonic() < deadline:
            time.sleep(0.02)
        cancelled = wb.runs.cancel(run_id)
        assert cancelled.status is RunStatus.cancelled
        assert wb.run_manager.pools.idle_count() == 0
        third = run(wb, "SELECT pg_backend_pid()")[0][0]
        assert third not in (pid, second)
        timed_out = wb.runs.run(
            RunRequest(connection="pg", sql="SELECT pg_sleep(5)", timeout_s=0.5)
        )
        assert timed_out.status is RunStatus.timed_out
        assert wb.run_manager.pools.idle_count() == 0
    finally:
        wb.close()


def test_changed_options_and_terminated_sessions_open_new_ones(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url)
    try:
        pid = run(wb, "SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.1)
        again = run(wb, "SELECT pg_backend_pid()")[0][0]  # the dead one is skipped
        assert again != pid
        wb.connections.update("pg", {"sslmode": "disable"})
        assert wb.run_manager.pools.idle_count() == 0
        assert run(wb, "SELECT pg_backend_pid()")[0][0] != again
        wb.connections.delete("pg")
        assert wb.run_manager.pools.idle_count() == 0
    finally:
        wb.close()


def test_concurrent_runs_share_a_bounded_pool(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url, session_pool_size=2, run_workers=4)
    try:
        pids: list[int] = []
        errors: list[BaseException] = []

        def client() -> None:
            try:
                for _ in range(5):
                    pids.append(run(wb, "SELECT pg_backend_pid()")[0][0])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert len(pids) == 20
        assert len(set(pids)) < 20
        assert wb.run_manager.pools.idle_count() <= 2
        # A closed session's backend leaves pg_stat_activity a moment after the close.
        assert settled(lambda: len(backends(pg_url)) <= 2)
    finally:
        wb.close()


def test_the_pool_keeps_as_many_sessions_as_there_are_workers_by_default(
    data_dir: Path, pg_url: str
) -> None:
    """Unset, the pool holds run_workers sessions: a busy server does not open and close a
    session for each run beyond a smaller pool."""
    wb = bench(data_dir, pg_url, raw=True, run_workers=3)
    try:
        assert wb.run_manager.pools.size == 3
        started = [
            wb.runs.start(RunRequest(connection="pg", sql="SELECT pg_sleep(1), pg_backend_pid()"))
            for _ in range(3)
        ]
        pids = {wb.runs.rows(wb.runs.wait(r, 30).id).rows[0][1] for r in started}
        assert len(pids) == 3
        assert wb.run_manager.pools.idle_count() == 3
        again = {run(wb, "SELECT pg_backend_pid()")[0][0] for _ in range(3)}
        assert again <= pids  # reused, none opened
    finally:
        wb.close()


def test_pool_size_zero_opens_a_session_per_run(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url, session_pool_size=0)
    try:
        first = run(wb, "SELECT pg_backend_pid()")[0][0]
        assert run(wb, "SELECT pg_backend_pid()")[0][0] != first
        assert settled(lambda: backends(pg_url) == [])
    finally:
        wb.close()


def test_mysql_runs_reuse_a_reset_session(data_dir: Path) -> None:
    with mysql_database() as url:
        wb = Workbench(load_settings(data_dir=data_dir), checker=bypass).open()
        try:
            wb.connections.create("my", url=url, allow_privileged=True)
            thread = run(wb, "SELECT CONNECTION_ID()", "my")[0][0]
            run(wb, "SELECT GET_LOCK('qd_pool', 0), @qd := 5", "my")
            state = run(wb, "SELECT CONNECTION_ID(), IS_USED_LOCK('qd_pool'), @qd", "my")
            assert state == [[thread, None, None]]
        finally:
            wb.close()


# --- the app-database writes of a run -------------------------------------------------------


def test_a_short_run_writes_its_row_twice(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url)
    writes: list[str] = []
    original, original_raw = wb.db.write, wb.db.write_raw

    def counting(work: Any) -> Any:
        writes.append("w")
        return original(work)

    def counting_raw(work: Any) -> Any:
        writes.append("c")
        return original_raw(work)

    wb.db.write = counting  # type: ignore[method-assign]
    wb.db.write_raw = counting_raw  # type: ignore[method-assign]
    try:
        info = wb.runs.run(RunRequest(connection="pg", sql="SELECT 1 AS one"))
        assert info.status is RunStatus.succeeded
        assert info.started_at is not None
        assert info.result_state == "stored"
        assert [c.name for c in info.columns or []] == ["one"]
        assert len(writes) == 2  # inserted as running, then finished
        big = wb.runs.run(
            RunRequest(
                connection="pg", sql="SELECT g FROM generate_series(1, 20000) g", max_rows=20000
            )
        )
        assert big.row_count == 20000
        assert len(writes) == 5
    finally:
        wb.close()


def test_a_run_waiting_for_a_worker_is_queued_first(data_dir: Path, pg_url: str) -> None:
    wb = bench(data_dir, pg_url, raw=True, run_workers=1)
    try:
        slow = wb.runs.start(RunRequest(connection="pg", sql="SELECT pg_sleep(0.5)"))
        waiting = wb.runs.start(RunRequest(connection="pg", sql="SELECT 1"))
        info = wb.runs.get(waiting)
        assert info.status is RunStatus.queued
        assert info.started_at is None
        assert wb.runs.wait(waiting, 30).status is RunStatus.succeeded
        assert wb.runs.wait(slow, 30).status is RunStatus.succeeded
    finally:
        wb.close()


def test_errors_while_closing_are_not_raised() -> None:
    class Stubborn(FakeSession):
        def close(self) -> None:
            raise QueryDeckError("cannot close")

    pools = EnginePools(size=1, idle_timeout_s=60)
    pools.release("c", "v", Stubborn(), reusable=False)
    pools.release("c", "v", Stubborn(), reusable=True)
    pools.clear("c")
    assert pools.idle_count() == 0


# --- the shared watchdog thread -------------------------------------------------------------


def test_watchdog_fires_due_actions_once_and_skips_cancelled_ones() -> None:
    from querydeck.runs.watchdog import Watchdog

    dog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    later = dog.schedule(0.3, lambda: fired.append("late"))
    cancelled = dog.schedule(0.05, lambda: fired.append("cancelled"))
    cancelled.cancel()

    def boom() -> None:
        raise RuntimeError("an action that fails")

    dog.schedule(0.01, boom)
    dog.schedule(0.1, lambda: (fired.append("soon"), done.set()))
    assert done.wait(10)
    later.cancel()
    time.sleep(0.4)
    dog.close()
    assert fired == ["soon"]
    dog.schedule(0.0, lambda: fired.append("after close"))
    time.sleep(0.05)
    assert fired == ["soon"]


def test_watchdog_wakes_for_an_earlier_deadline_and_drops_cancelled_ones() -> None:
    from querydeck.runs import watchdog
    from querydeck.runs.watchdog import Watchdog

    dog = Watchdog()
    try:
        fired = threading.Event()
        dog.schedule(60, lambda: None)  # the thread now sleeps for a minute
        started = time.monotonic()
        dog.schedule(0.05, fired.set)  # earlier: the thread must be woken for it
        assert fired.wait(10)
        assert time.monotonic() - started < 5
        # Runs that end cancel their deadlines; the heap does not keep them all.
        for _ in range(3 * watchdog.COMPACT_AT):
            dog.schedule(60, lambda: None).cancel()
        assert dog.pending() <= watchdog.COMPACT_AT + 1
    finally:
        dog.close()
