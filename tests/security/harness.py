"""Shared parts of the attack tables (SECURITY_TESTS.md groups A–E).

Every attack runs through a real :class:`~querydeck.app.workbench.Workbench` twice where the
row concerns an engine layer: once with the guard, once with the guard bypassed (a checker
that passes the text through unchanged, the test hook described in DEVELOPERS.md). Each
attempt asserts the app database afterwards: exactly one new history row and nothing
else changed. The engine's own state (victim rows, sequences, files, backends) is checked
by each module with its engine's client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from querydeck.app.workbench import Workbench
from querydeck.errors import QueryRejected
from querydeck.runs.models import RunInfo, RunRequest, RunStatus
from querydeck.settings import Settings
from querydeck.sql.rules import EngineRules
from querydeck.store.tables import AuditRow, Base, RunRow
from tests.appdb import seeded


def bypass(sql: str, *, rules: EngineRules, max_rows: int) -> str:
    """The test hook: no guard, no auto-LIMIT — the text goes to the driver as it is."""
    return sql


@dataclass(frozen=True, kw_only=True)
class Attack:
    """One row of an attack table.

    ``guarded``: the codes the guard may answer with (the first that applies to the
    dialect). ``engine``: the codes acceptable when the guard is bypassed; ``None`` when
    the row is the guard's alone (nothing to ask of the engine), ``()`` when any outcome is
    acceptable as long as nothing changed (the statement is harmless once the session is
    read-only).
    """

    row: str
    sql: str
    guarded: tuple[str, ...]
    engine: tuple[str, ...] | None = None
    timeout_s: float | None = None

    @property
    def id(self) -> str:
        return f"{self.row}:{' '.join(self.sql.split())[:60]}"


@dataclass
class Bench:
    """A guarded and a guard-bypassed Workbench with the same connection registered."""

    guarded: Workbench
    raw: Workbench
    connection: str = "victim"
    outside: Path = field(default_factory=lambda: outside_dir())


def outside_dir() -> Path:
    """A directory outside every allowed root, named uniquely, for files attacks try to
    create; it starts empty and writable by anyone, so anything found there afterwards was
    created by an attack."""
    return Path(tempfile.gettempdir()) / f"qd-outside-{uuid.uuid4().hex[:12]}"


def workbench(root: Path, *, raw: bool, **settings: Any) -> Workbench:
    """A Workbench on a data directory at ``root`` that starts with a migrated app database
    (see tests/appdb.py)."""
    values: dict[str, Any] = {"data_dir": seeded(root), "default_timeout_s": 10.0, **settings}
    return Workbench(Settings(**values), checker=bypass if raw else None).open()


@contextmanager
def bench(root: Path, driver: str, options: dict[str, Any], **settings: Any) -> Iterator[Bench]:
    # The app data lives beside ``root`` (a file root must not contain the data directory);
    # the victim files live in ``root``, the one allowed file root.
    app = root.parent / f"{root.name}-app"
    settings = {"file_roots": [root], **settings}
    guarded = workbench(app / "guarded", raw=False, **settings)
    raw = workbench(app / "raw", raw=True, **settings)
    outside = outside_dir()
    outside.mkdir()
    outside.chmod(0o777)  # a database server running as another user could write here
    try:
        for wb in (guarded, raw):
            # The PostgreSQL attack tables log in as a superuser on purpose (to show what
            # holds even then), so the admin override is given.
            wb.connections.create("victim", driver=driver, options=options, allow_privileged=True)
        yield Bench(guarded, raw, outside=outside)
    finally:
        guarded.close()
        raw.close()
        shutil.rmtree(outside, ignore_errors=True)


#: The app database's tables whose every row :func:`app_state` compares (history and the
#: audit log apart), with their columns in a fixed order.
_TABLES = [
    (table.name, ", ".join(f'"{column.name}"' for column in table.columns))
    for table in Base.metadata.sorted_tables
    if table.name not in (RunRow.__tablename__, AuditRow.__tablename__)
]


def app_state(wb: Workbench) -> tuple[int, list[Any]]:
    """Number of history rows, and every row of every other table of the app database
    (the audit log apart: :func:`attempt` checks its one new entry), as stored: plain SQL,
    a few hundred of these a run through the ORM were a tenth of the suite's GIL time."""
    with wb.db.read_plain() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{RunRow.__tablename__}"')
        runs = int(cursor.fetchone()[0])
        others = []
        for name, columns in _TABLES:
            cursor.execute(f'SELECT {columns} FROM "{name}"')
            others.append(sorted(tuple(str(v) for v in row) for row in cursor.fetchall()))
    return runs, others


def audit_ids(wb: Workbench) -> list[tuple[int, str, str | None]]:
    with wb.db.read_plain() as cursor:
        cursor.execute(f'SELECT id, action, target_id FROM "{AuditRow.__tablename__}" ORDER BY id')
        return [(int(id_), str(action), target) for id_, action, target in cursor.fetchall()]


def attempt(wb: Workbench, connection: str, sql: str, timeout_s: float | None = None) -> RunInfo:
    """Run ``sql``; returns its history row. Asserts that the app database gained exactly
    that row and nothing else, and that a guard rejection is recorded as ``rejected``."""
    runs, others = app_state(wb)
    audited = audit_ids(wb)
    request = RunRequest(connection=connection, sql=sql, timeout_s=timeout_s)
    rejection: QueryRejected | None = None
    try:
        info = wb.runs.run(request)
    except QueryRejected as exc:
        rejection = exc
        info = wb.runs.get(str(exc.detail["run_id"]))
    if rejection is not None:
        assert info.status is RunStatus.rejected
        assert info.executed_sql is None
        assert (info.error_code, info.error_status) == (rejection.code, rejection.http_status)
    assert app_state(wb) == (runs + 1, others)
    after = audit_ids(wb)
    assert after[:-1] == audited  # and one audit entry: the run's
    assert after[-1][1:] == ("run.finish", info.id)
    return info


def check_guarded(b: Bench, attack: Attack) -> RunInfo:
    info = attempt(b.guarded, b.connection, attack.sql.format(outside=b.outside), attack.timeout_s)
    assert info.status is RunStatus.rejected, (info.status, info.error_message)
    assert info.error_code in attack.guarded, (info.error_code, info.error_message)
    assert info.error_status in (403, 413, 422)
    if info.error_code not in ("SQL_EMPTY", "SQL_TOO_LARGE") and info.error_detail:
        assert int(info.error_detail.get("line", 1)) >= 1
    return info


def check_bypassed(b: Bench, attack: Attack) -> RunInfo:
    assert attack.engine is not None
    sql = attack.sql.format(outside=b.outside)
    info = attempt(b.raw, b.connection, sql, attack.timeout_s)
    if attack.engine:
        assert info.status is not RunStatus.succeeded, f"the engine ran {sql!r}"
        assert info.error_code in attack.engine, (info.error_code, info.error_message)
    return info


def assert_nothing_outside(b: Bench) -> None:
    assert os.listdir(b.outside) == [], f"an attack created {sorted(os.listdir(b.outside))}"


StateProbe = Callable[[], Any]


def common_attacks(victim: str = "victim") -> list[Attack]:
    """Guard rows that read the same on every engine (A1 repeats, A10–A12)."""
    parse, empty, complex_ = "SQL_PARSE_ERROR", "SQL_EMPTY", "SQL_TOO_COMPLEX"
    return [
        Attack(row="A1", sql="SELECT 1;;", guarded=("SQL_MULTIPLE_STATEMENTS",)),
        Attack(row="A1", sql="SELECT 1; -- x", guarded=("SQL_MULTIPLE_STATEMENTS",)),
        Attack(row="A10", sql="SELECT FROM WHERE (", guarded=(parse,)),
        Attack(row="A10", sql="", guarded=(empty,)),
        Attack(row="A10", sql="  \n\t ", guarded=(empty,)),
        Attack(row="A10", sql="/* only a comment */", guarded=(empty,)),
        Attack(row="A10", sql="-- only a comment", guarded=(empty,)),
        Attack(row="A11", sql=f"SELECT 1\x00; DELETE FROM {victim}", guarded=(parse,)),
        Attack(row="A11", sql="SELECT '\ud800'", guarded=(parse,)),
        Attack(row="A12", sql="SELECT 1 -- " + "x" * 5_000_000, guarded=("SQL_TOO_LARGE",)),
        Attack(row="A12", sql="SELECT " + "(" * 50_000 + "1" + ")" * 50_000, guarded=(complex_,)),
        Attack(row="A12", sql="SELECT " + "(" * 10_000 + "1" + ")" * 10_000, guarded=(parse,)),
        Attack(
            row="A12", sql="SELECT 1 WHERE " + " AND ".join(["a=1"] * 80_000), guarded=(complex_,)
        ),
    ]


class Listener:
    """A loopback TCP listener on a free port that counts the connections it accepts."""

    def __init__(self) -> None:
        import socket
        import threading

        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = int(self._socket.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()
