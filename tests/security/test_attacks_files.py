"""Groups A and E of SECURITY_TESTS.md against the files driver, guarded and bypassed:
every file under the file root (the connection's directory and a neighbour the
connection did not register) is hashed before and after each attempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from querydeck.runs.models import RunStatus
from tests.security.file_attacks import (
    FILES,
    NOT_READ,
    PARSE,
    attacks,
    check_locally,
    check_victim_rows,
    local_bench,
)
from tests.security.harness import (
    Attack,
    Bench,
    Listener,
    attempt,
)

ATTACKS = attacks("victim")


@pytest.fixture(scope="module")
def files_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    def victim(directory: Path) -> None:
        (directory / "victim.csv").write_text("id,name\n1,alpha\n2,beta\n3,gamma\n")

    with local_bench(tmp_path_factory.mktemp("files-attacks"), "files", victim) as b:
        yield b


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(files_bench: Bench, attack: Attack) -> None:
    check_locally(files_bench, attack, "victim.csv", raw=False)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(files_bench: Bench, attack: Attack) -> None:
    check_locally(files_bench, attack, "victim.csv", raw=True)


def test_the_rows_are_untouched(files_bench: Bench) -> None:
    check_victim_rows(files_bench)


SSRF = [
    "SELECT * FROM read_parquet('http://127.0.0.1:{port}/latest/meta-data.parquet')",
    "SELECT * FROM 'http://127.0.0.1:{port}/x.csv'",
    "SELECT * FROM delta_scan('http://127.0.0.1:{port}/lake')",
    "SET s3_endpoint = '127.0.0.1:{port}'",
    "SELECT * FROM 's3://bucket/x.parquet'",
]


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e6_ssrf_never_reaches_a_listener(files_bench: Bench, raw: bool) -> None:
    listener = Listener()
    wb = files_bench.raw if raw else files_bench.guarded
    try:
        for text in SSRF:
            info = attempt(wb, "victim", text.format(port=listener.port))
            assert info.status in (RunStatus.rejected, RunStatus.failed), text
            assert info.error_code in (FILES, NOT_READ, PARSE), info.error_message
    finally:
        listener.close()
    assert listener.accepted == 0


@pytest.mark.parametrize("raw", [False, True], ids=["guarded", "bypassed"])
def test_e7_memory_bomb_and_runaway_join_are_stopped(files_bench: Bench, raw: bool) -> None:
    wb = files_bench.raw if raw else files_bench.guarded
    bomb = attempt(
        wb,
        "victim",
        "SELECT max(length(s)) FROM "
        "(SELECT string_agg(range::VARCHAR, ',') AS s FROM range(60000000))",
        timeout_s=60,
    )
    assert (bomb.status, bomb.error_code) == (RunStatus.failed, "RESOURCE_LIMIT")
    join = attempt(
        wb,
        "victim",
        # A right side that fits memory_limit: with no spill files, a 1e8-row one could end
        # at the memory limit before the timeout.
        "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1",
        timeout_s=1.0,
    )
    assert (join.status, join.error_code) == (RunStatus.timed_out, "QUERY_TIMEOUT")
