"""Groups A and E of SECURITY_TESTS.md against the iceberg driver, guarded and bypassed:
every file under the file root (the connection's table and a neighbour the connection did
not register) is hashed before and after each attempt. Bypassed, the rows about files run
(the session's other layers are the files driver's, whose table runs every row; a failed
run's session is not reused, so each costs a new one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lake_tables import iceberg_table
from tests.security.file_attacks import (
    about_files,
    attacks,
    check_locally,
    check_victim_rows,
    local_bench,
    local_root,
)
from tests.security.harness import Attack, Bench

ATTACKS = attacks("victim", common=False)
VICTIM = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["alpha", "beta", "gamma"]})


@pytest.fixture(scope="module")
def lake_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    def victim(directory: Path) -> None:
        iceberg_table(directory.parent, f"file://{directory}/wh", "victim", [VICTIM])

    with local_bench(tmp_path_factory.mktemp("iceberg-attacks"), "iceberg", victim) as b:
        yield b


def data_file(b: Bench) -> str:
    """A data file of the victim table (relative to the connection's directory)."""
    victim = local_root(b) / "victim"
    return str(next(victim.rglob("*.parquet")).relative_to(victim))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(lake_bench: Bench, attack: Attack) -> None:
    check_locally(lake_bench, attack, data_file(lake_bench), raw=False)


@pytest.mark.parametrize("attack", about_files(ATTACKS), ids=lambda a: a.id)
def test_bypassed(lake_bench: Bench, attack: Attack) -> None:
    check_locally(lake_bench, attack, data_file(lake_bench), raw=True)


def test_the_rows_are_untouched(lake_bench: Bench) -> None:
    check_victim_rows(lake_bench)
