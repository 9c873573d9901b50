"""The guard's work per statement is bounded (SQL_TOO_COMPLEX), so that one user's huge
statement cannot hold the server: issue 16, item 4."""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from querydeck.api import create_app
from querydeck.app.workbench import Workbench
from querydeck.auth.principal import Principal, Role
from querydeck.errors import QueryRejected
from querydeck.runs.models import RunRequest
from querydeck.settings import load_settings
from querydeck.sql.guard import DEFAULT_MAX_TOKENS, guard
from tests.apiauth import bearer_token
from tests.engines import rules
from tests.test_hardening import served

#: 80,000 AND terms, under the 1 MB size limit (640 KB).
EIGHTY_THOUSAND_ANDS = "SELECT 1 WHERE " + " AND ".join("a=1" for _ in range(80_000))


def test_eighty_thousand_and_terms_are_too_complex_fast() -> None:
    assert len(EIGHTY_THOUSAND_ANDS.encode()) < 1_000_000
    for dialect in ("postgres", "mysql", "sqlite", "duckdb"):
        started = time.perf_counter()
        with pytest.raises(QueryRejected) as info:
            guard(EIGHTY_THOUSAND_ANDS, rules=rules(dialect))
        # Refused before the tokenizer and the parser (which took seconds): generous bound.
        assert time.perf_counter() - started < 1.0
        assert info.value.code == "SQL_TOO_COMPLEX"
        assert info.value.http_status == 422
        assert info.value.detail == {"limit_tokens": DEFAULT_MAX_TOKENS}
        assert "too complex" in info.value.message


def test_the_budget_counts_tokens_not_bytes() -> None:
    """A long string literal or comment is one token; a short statement with many tokens
    is refused at the limit given."""
    words = "word " * 150_000
    assert guard(f"SELECT '{words}'", rules=rules("postgres")).sql == f"SELECT '{words}'"
    assert guard(f"SELECT 1 /* {words} */", rules=rules("sqlite"))
    listed = "SELECT 1 WHERE a IN (" + ",".join(str(i) for i in range(60)) + ")"
    assert guard(listed, rules=rules("duckdb"), max_tokens=200)
    with pytest.raises(QueryRejected) as info:
        guard(listed, rules=rules("duckdb"), max_tokens=100)
    assert info.value.code == "SQL_TOO_COMPLEX"
    # the exact count after the tokenizer holds where the rough one undercounts
    quoted = "SELECT 'it''s', " + ", ".join(f"'x{i}'" for i in range(60))
    with pytest.raises(QueryRejected) as info:
        guard(quoted, rules=rules("postgres"), max_tokens=100)
    assert info.value.code == "SQL_TOO_COMPLEX"


def test_the_setting_reaches_runs(data_dir: Path, demo_files: Path) -> None:
    shutil.copytree(demo_files, data_dir / "demo")
    with Workbench(load_settings(data_dir=data_dir, max_sql_tokens=100)).open() as wb:
        wb.admin.create_demo()
        actor = Principal("admin", Role.admin)
        listed = "SELECT 1 WHERE 1 IN (" + ",".join(str(i) for i in range(100)) + ")"
        with pytest.raises(QueryRejected) as info:
            wb.runs.run(RunRequest(connection="chinook", sql=listed), actor=actor)
        assert (info.value.code, info.value.detail["limit_tokens"]) == ("SQL_TOO_COMPLEX", 100)
        assert "run_id" in info.value.detail  # recorded as a rejected run
        assert wb.runs.run(RunRequest(connection="chinook", sql="SELECT 1"), actor=actor)


@pytest.fixture
def served_demo(data_dir: Path, demo_files: Path) -> Iterator[tuple[Workbench, int]]:
    shutil.copytree(demo_files, data_dir / "demo")
    settings = load_settings(
        data_dir=data_dir, rate_limit_runs_user="", rate_limit_runs_address="", run_workers=4
    )
    with Workbench(settings).open() as wb:
        wb.admin.create_demo()
        with served(create_app(wb)) as port:
            yield wb, port


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> float:
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def test_huge_statements_do_not_starve_other_users(served_demo: tuple[Workbench, int]) -> None:
    """While four clients send 80,000-term statements over and over, another user's
    ``SELECT 1`` and ``/healthz`` answer about as fast as without them (a bound relative to
    a baseline measured here, generous for a shared machine)."""
    wb, port = served_demo
    base = f"http://127.0.0.1:{port}"
    mallory = {"Authorization": f"Bearer {bearer_token(wb, username='mallory')}"}
    alice = {"Authorization": f"Bearer {bearer_token(wb, username='alice')}"}
    select_one = {"connection": "chinook", "sql": "SELECT 1", "wait_ms": 10_000}
    with httpx.Client(base_url=base, headers=alice, timeout=60) as client:
        _timed(client, "POST", "/api/v1/runs", json=select_one)  # warm up
        baseline_run = statistics.median(
            _timed(client, "POST", "/api/v1/runs", json=select_one) for _ in range(5)
        )
        baseline_health = statistics.median(_timed(client, "GET", "/healthz") for _ in range(5))

        stop = threading.Event()
        answers: list[tuple[int, str, float]] = []

        def attack() -> None:
            with httpx.Client(base_url=base, headers=mallory, timeout=120) as attacker:
                while not stop.is_set():
                    started = time.perf_counter()
                    response = attacker.post(
                        "/api/v1/runs",
                        json={"connection": "chinook", "sql": EIGHTY_THOUSAND_ANDS},
                    )
                    code = response.json()["error"]["code"]
                    answers.append((response.status_code, code, time.perf_counter() - started))

        threads = [threading.Thread(target=attack) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            while len(answers) < 4:
                time.sleep(0.01)
            runs = [_timed(client, "POST", "/api/v1/runs", json=select_one) for _ in range(5)]
            health = [_timed(client, "GET", "/healthz") for _ in range(5)]
        finally:
            stop.set()
            for thread in threads:
                thread.join(120)
    assert {(status, code) for status, code, _ in answers} == {(422, "SQL_TOO_COMPLEX")}
    assert max(took for *_, took in answers) < 5
    assert statistics.median(runs) < 10 * baseline_run + 0.5, (runs, baseline_run)
    assert statistics.median(health) < 10 * baseline_health + 0.5, (health, baseline_health)
