"""Groups A and E of SECURITY_TESTS.md against the federated driver, guarded and bypassed:
a session attaching a PostgreSQL source (a read-only login) and a files source. After
every attempt the PostgreSQL table's rows and every file under the root are as before."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from querydeck.runs.models import RunStatus
from tests.security.file_attacks import FILES, FUNC, NOT_READ, PARSE, attacks
from tests.security.harness import (
    Attack,
    Bench,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
)
from tests.services import postgres_database, postgres_reader

ATTACKS = [
    *attacks("victim", common=False),
    Attack(
        row="A7",
        sql="SELECT * FROM postgres_query('pg', 'DELETE FROM victim')",
        guarded=(FUNC,),
        engine=(FILES,),
    ),
    Attack(
        row="A7",
        sql="CALL postgres_execute('pg', 'DELETE FROM victim')",
        guarded=(NOT_READ, PARSE),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A4",
        sql="INSERT INTO pg.public.victim VALUES (9, 'x')",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(
        row="A4",
        sql="UPDATE pg.public.victim SET name = 'x'",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="E3", sql="DETACH pg", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(
        row="E3",
        sql="ATTACH '' AS other (TYPE postgres, SECRET qd_source_0)",
        guarded=(NOT_READ,),
        engine=(NOT_READ,),
    ),
    Attack(row="E3", sql="USE lake", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
    Attack(
        row="E1",
        sql="SELECT * FROM duckdb_databases()",
        guarded=(FILES, FUNC),
        engine=(FILES,),
    ),
    Attack(
        row="E1",
        sql="SELECT * FROM which_secret('s3://x/y', 's3')",
        guarded=(FUNC,),
        engine=(FILES,),
    ),
]


@dataclasses.dataclass
class FederatedBench:
    bench: Bench
    pg_url: str
    root: Path


@pytest.fixture(scope="module")
def fed_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FederatedBench]:
    root = tmp_path_factory.mktemp("federated-attacks")
    lake = root / "lake"
    lake.mkdir()
    (lake / "cities.csv").write_text("id,city\n1,x\n")
    other = root / "other"
    other.mkdir()
    (other / "secret.csv").write_text("secret\nqd-canary-7f3a\n")
    with postgres_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE victim (id int, name text)")
            conn.execute("INSERT INTO victim VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma')")
        with (
            postgres_reader(url) as reader,
            bench(root, "federated", {"sources": ["pg", "lake"], "memory_limit": "256MB"}) as b,
        ):
            for wb in (b.guarded, b.raw):
                wb.connections.create("pg", url=reader)
                wb.connections.create("lake", driver="files", options={"path": str(lake)})
            yield FederatedBench(b, url, root)


def engine_state(f: FederatedBench) -> tuple[Any, dict[str, str]]:
    with psycopg.connect(f.pg_url) as conn:
        rows = conn.execute("SELECT id, name FROM victim ORDER BY id").fetchall()
    files = {
        str(p.relative_to(f.root)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else ""
        for p in sorted(f.root.rglob("*"))
    }
    return rows, files


def placed(f: FederatedBench, attack: Attack) -> Attack:
    sql = attack.sql.format(
        outside=f.bench.outside,
        elsewhere=f.root / "other" / "secret.csv",
        elsewhere_dir=f.root / "other",
        dotdot=f"{f.root}/lake/../other/secret.csv",
        own=f.root / "lake" / "cities.csv",
        new=f.root / "lake" / "new.parquet",
    )
    return dataclasses.replace(attack, sql=sql)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_guarded(fed_bench: FederatedBench, attack: Attack) -> None:
    before = engine_state(fed_bench)
    info = check_guarded(fed_bench.bench, placed(fed_bench, attack))
    assert "qd-canary" not in (info.error_message or "")
    assert engine_state(fed_bench) == before
    assert_nothing_outside(fed_bench.bench)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.engine is not None], ids=lambda a: a.id)
def test_bypassed(fed_bench: FederatedBench, attack: Attack) -> None:
    before = engine_state(fed_bench)
    info = check_bypassed(fed_bench.bench, placed(fed_bench, attack))
    assert "qd-canary" not in (info.error_message or "")
    assert str(fed_bench.root) not in (info.error_message or "")
    assert engine_state(fed_bench) == before
    assert_nothing_outside(fed_bench.bench)


def test_the_rows_are_read_and_untouched(fed_bench: FederatedBench) -> None:
    raw = fed_bench.bench.raw
    info = attempt(
        raw, "victim", "SELECT count(*) AS n FROM victim JOIN lake.main.cities USING (id)"
    )
    assert info.status is RunStatus.succeeded, info.error_message
    assert raw.runs.rows(info.id).rows == [[1]]
