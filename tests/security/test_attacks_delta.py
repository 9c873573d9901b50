"""Groups A and E of SECURITY_TESTS.md against the delta driver, guarded and bypassed:
every file under the file root (the connection's table and a neighbour the connection did
not register) is hashed before and after each attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from querydeck.runs.models import RunStatus
from tests.lake_tables import delta_table
from tests.security.file_attacks import attacks, local_root, local_state, placed_locally
from tests.security.harness import (
    Attack,
    Bench,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
)

ATTACKS = attacks("victim", common=False)
#: Bypassed, the rows about files: the session's other layers are the files driver's, whose
#: table runs every row (a failed run's session is not reused, so each costs a new one).
BYPASSED = [
    a
    for a in ATTACKS
    if a.engine is not None and (a.row in ("A1/E5", "E2", "E3") or "_scan" in a.sql)
]
VICTIM = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["alpha", "beta", "gamma"]})


@pytest.fixture(scope="module")
def lake_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("delta-attacks")
    victim = root / "victim"
    victim.mkdir()
    delta_table(str(victim / "victim"), [VICTIM])
    other = root / "other"
    other.mkdir()
    (other / "secret.csv").write_text("secret\nqd-canary-7f3a\n")
    write_deltalake(str(other / "lake"), pa.table({"secret": ["qd-canary-7f3a"]}))
    with bench(root, "delta", {"path": str(victim), "memory_limit": "256MB"}) as b:
        yield b


def own_file(b: Bench) -> str:
    """A data file of the victim table (relative to the connection's directory)."""
    victim = local_root(b) / "victim"
    return str(next(victim.rglob("*.parquet")).relative_to(victim))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(lake_bench: Bench, attack: Attack) -> None:
    before = local_state(lake_bench)
    info = check_guarded(lake_bench, placed_locally(lake_bench, attack, own_file(lake_bench)))
    assert "qd-canary" not in (info.error_message or "")
    assert local_state(lake_bench) == before
    assert_nothing_outside(lake_bench)


@pytest.mark.parametrize("attack", BYPASSED, ids=lambda a: a.id)
def test_bypassed(lake_bench: Bench, attack: Attack) -> None:
    before = local_state(lake_bench)
    info = check_bypassed(lake_bench, placed_locally(lake_bench, attack, own_file(lake_bench)))
    assert "qd-canary" not in (info.error_message or "")
    assert str(local_root(lake_bench)) not in (info.error_message or "")
    assert local_state(lake_bench) == before
    assert_nothing_outside(lake_bench)


def test_the_rows_are_untouched(lake_bench: Bench) -> None:
    info = attempt(lake_bench.raw, "victim", "SELECT count(*) AS n FROM victim")
    assert info.status is RunStatus.succeeded, info.error_message
    assert lake_bench.raw.runs.rows(info.id).rows == [[3]]
