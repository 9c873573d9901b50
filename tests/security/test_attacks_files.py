"""Groups A and E of SECURITY_TESTS.md against the files driver, guarded and bypassed:
every file under the file root (the connection's directory and a neighbour the
connection did not register) is hashed before and after each attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from querydeck.runs.models import RunStatus
from tests.security.file_attacks import (
    FILES,
    NOT_READ,
    PARSE,
    attacks,
    local_root,
    local_state,
    placed_locally,
)
from tests.security.harness import (
    Attack,
    Bench,
    Listener,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
)

ATTACKS = attacks("victim")


@pytest.fixture(scope="module")
def files_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("files-attacks")
    victim = root / "victim"
    victim.mkdir()
    (victim / "victim.csv").write_text("id,name\n1,alpha\n2,beta\n3,gamma\n")
    other = root / "other"
    other.mkdir()
    (other / "secret.csv").write_text("secret\nqd-canary-7f3a\n")
    write_deltalake(str(other / "lake"), pa.table({"secret": ["qd-canary-7f3a"]}))
    with bench(root, "files", {"path": str(victim), "memory_limit": "256MB"}) as b:
        yield b


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(files_bench: Bench, attack: Attack) -> None:
    before = local_state(files_bench)
    info = check_guarded(files_bench, placed_locally(files_bench, attack, "victim.csv"))
    assert "qd-canary" not in (info.error_message or "")
    assert local_state(files_bench) == before
    assert_nothing_outside(files_bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(files_bench: Bench, attack: Attack) -> None:
    before = local_state(files_bench)
    info = check_bypassed(files_bench, placed_locally(files_bench, attack, "victim.csv"))
    assert "qd-canary" not in (info.error_message or "")
    assert str(local_root(files_bench)) not in (info.error_message or "")
    assert local_state(files_bench) == before
    assert_nothing_outside(files_bench)


def test_the_rows_are_untouched(files_bench: Bench) -> None:
    info = attempt(files_bench.raw, "victim", "SELECT count(*) AS n FROM victim")
    assert info.status is RunStatus.succeeded
    assert files_bench.raw.runs.rows(info.id).rows == [[3]]


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
        "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1",
        timeout_s=1.0,
    )
    assert (join.status, join.error_code) == (RunStatus.timed_out, "QUERY_TIMEOUT")
