"""Attack rows shared by the file-reading drivers (files, s3, iceberg, delta): groups A
and E of SECURITY_TESTS.md as DuckDB reads them, with the codes the guard gives and those
the driver and DuckDB give when the guard is bypassed (the driver's own table-function
check answers ``FILE_ACCESS_DENIED``, its statement-type check ``SQL_NOT_READ_ONLY``).

``{outside}`` is a directory outside every root; ``{elsewhere}`` a path or URL of a file the
connection did not register (another folder, another prefix of the bucket)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from querydeck.runs.models import RunStatus
from tests.security.harness import (
    Attack,
    Bench,
    assert_nothing_outside,
    attempt,
    bench,
    check_bypassed,
    check_guarded,
    common_attacks,
)

NOT_READ = "SQL_NOT_READ_ONLY"
PARSE = "SQL_PARSE_ERROR"
MULTI = "SQL_MULTIPLE_STATEMENTS"
FILES = "FILE_ACCESS_DENIED"
FUNC = "SQL_FORBIDDEN_FUNCTION"


def attacks(table: str, *, common: bool = True) -> list[Attack]:
    """The rows against a connection whose table ``table`` has columns (id, name).
    ``common``: with the guard's rows that read the same on every engine (A1 repeats,
    A10–A12: the guard answers before any session opens, so the files table runs them
    for every file driver, whose guard rules are the same)."""
    return [
        *(common_attacks(table) if common else []),
        Attack(
            row="A1/E5",
            sql=f"SELECT 1; INSERT INTO {table} VALUES (9, 'x')",
            guarded=(MULTI,),
            engine=(MULTI,),
        ),
        Attack(
            row="A1/E5",
            sql=f"SELECT 1; COPY {table} TO '{{elsewhere}}'",
            guarded=(MULTI,),
            engine=(MULTI,),
        ),
        Attack(
            row="A2",
            sql=f"WITH d AS (DELETE FROM {table} RETURNING *) SELECT * FROM d",
            guarded=(NOT_READ, PARSE),
            engine=(),
        ),
        Attack(
            row="A3", sql=f"SELECT * INTO t2 FROM {table}", guarded=(NOT_READ, PARSE), engine=()
        ),
        Attack(
            row="A4", sql=f"/* c */ DELETE FROM {table}", guarded=(NOT_READ,), engine=(NOT_READ,)
        ),
        Attack(
            row="A4", sql=f"UPDATE {table} SET name = 'x'", guarded=(NOT_READ,), engine=(NOT_READ,)
        ),
        Attack(row="A5", sql="SET threads = 64", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(row="A5", sql="RESET allowed_paths", guarded=(NOT_READ, PARSE), engine=(NOT_READ,)),
        Attack(row="A6", sql="CREATE TABLE x AS SELECT 1", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(
            row="A6",
            sql=f"CREATE OR REPLACE VIEW {table} AS SELECT 1",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(row="A6", sql=f"DROP VIEW {table}", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(
            row="A6",
            sql="CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
            guarded=(NOT_READ, PARSE),
            engine=(NOT_READ,),
        ),
        Attack(row="A7", sql="SELECT * FROM query('SELECT 1')", guarded=(FUNC,), engine=(FILES,)),
        Attack(row="A7", sql="SELECT getenv('HOME')", guarded=(FUNC,), engine=()),
        Attack(
            row="A8",
            sql="SELECT * FROM \"READ_CSV\" /* x */ ('{elsewhere}')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(
            row="A8",
            sql="SELECT * FROM main.read_text('{elsewhere}')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(
            row="E1", sql="SELECT * FROM read_csv('/etc/passwd')", guarded=(FILES,), engine=(FILES,)
        ),
        Attack(
            row="E1",
            sql="SELECT * FROM read_text('/proc/self/environ')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(row="E1", sql="SELECT * FROM glob('/etc/*')", guarded=(FILES,), engine=(FILES,)),
        Attack(
            row="E1",
            sql="SELECT * FROM '/etc/passwd'",
            guarded=(FILES,),
            engine=(FILES, "QUERY_FAILED"),
        ),
        Attack(
            row="E1",
            sql="SELECT * FROM sniff_csv('/etc/passwd')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(
            row="E1", sql="SELECT * FROM duckdb_secrets()", guarded=(FUNC, FILES), engine=(FILES,)
        ),
        Attack(
            row="E1",
            sql="SELECT * FROM delta_scan('{elsewhere_dir}')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(
            row="E1",
            sql="SELECT * FROM iceberg_scan('{elsewhere_dir}')",
            guarded=(FILES,),
            engine=(FILES,),
        ),
        Attack(row="E2", sql="SELECT * FROM '{elsewhere}'", guarded=(FILES,), engine=(FILES,)),
        Attack(
            row="E2", sql="SELECT * FROM read_csv('{dotdot}')", guarded=(FILES,), engine=(FILES,)
        ),
        Attack(row="E2", sql="SELECT * FROM '{dotdot}'", guarded=(FILES,), engine=(FILES,)),
        Attack(
            row="E3",
            sql=f"COPY {table} TO '{{outside}}/x.csv'",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(row="E3", sql=f"COPY {table} TO '{{own}}'", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(
            row="E3",
            sql="COPY (SELECT 1) TO '{new}' (FORMAT parquet)",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(
            row="E3",
            sql="EXPORT DATABASE '{outside}/d'",
            guarded=(NOT_READ, PARSE),
            engine=(NOT_READ,),
        ),
        Attack(
            row="E3",
            sql="ATTACH '{outside}/new.duckdb' AS n",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(row="E3", sql="ATTACH '{elsewhere}' AS n", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(row="E4", sql="INSTALL httpfs", guarded=(NOT_READ,), engine=(NOT_READ,)),
        Attack(
            row="E4",
            sql="LOAD '{outside}/evil.duckdb_extension'",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(
            row="E4",
            sql="SET enable_external_access = true",
            guarded=(NOT_READ,),
            engine=(NOT_READ,),
        ),
        Attack(
            row="E4", sql="SET lock_configuration = false", guarded=(NOT_READ,), engine=(NOT_READ,)
        ),
        Attack(
            row="E4",
            sql="SET GLOBAL allowed_paths = ['/']",
            guarded=(NOT_READ, PARSE),
            engine=(NOT_READ,),
        ),
        Attack(row="E4", sql="SELECT current_setting('allowed_paths')", guarded=(FUNC,), engine=()),
    ]


def local_root(b: Bench) -> Path:
    """The file root of a bench whose connection is a directory right under it."""
    return Path(b.guarded.connections.get("victim").options["path"]).parent


def local_state(b: Bench) -> dict[str, str]:
    """Every path under the root, with the SHA-256 of each file."""
    root = local_root(b)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def placed_locally(b: Bench, attack: Attack, own: str) -> Attack:
    """``attack`` with its paths: the connection is ``<root>/victim``, whose file ``own``
    (relative) the rows may target; ``<root>/other`` holds a CSV and a Delta table the
    connection did not register."""
    root = local_root(b)
    sql = attack.sql.format(
        outside=b.outside,
        elsewhere=root / "other" / "secret.csv",
        elsewhere_dir=root / "other" / "lake",
        dotdot=f"{root}/victim/../other/secret.csv",
        own=root / "victim" / own,
        new=root / "victim" / "new.parquet",
    )
    return dataclasses.replace(attack, sql=sql)


#: Text of the files a connection did not register; no answer may show it.
CANARY = "qd-canary-7f3a"


def about_files(rows: list[Attack]) -> list[Attack]:
    """The rows to run bypassed on a driver whose session is the files driver's (whose
    table runs every row): multiple statements, reads elsewhere, writes, the scans."""
    return [
        a
        for a in rows
        if a.engine is not None and (a.row in ("A1/E5", "E2", "E3") or "_scan" in a.sql)
    ]


@contextmanager
def local_bench(root: Path, driver: str, write_victim: Callable[[Path], object]) -> Iterator[Bench]:
    """A bench over the directory ``<root>/victim`` (filled by ``write_victim``), beside
    ``<root>/other`` holding a CSV file and a Delta table it did not register."""
    victim = root / "victim"
    victim.mkdir()
    write_victim(victim)
    other = root / "other"
    other.mkdir()
    (other / "secret.csv").write_text(f"secret\n{CANARY}\n")
    write_deltalake(str(other / "lake"), pa.table({"secret": [CANARY]}))
    with bench(root, driver, {"path": str(victim), "memory_limit": "256MB"}) as b:
        yield b


def check_locally(b: Bench, attack: Attack, own: str, *, raw: bool) -> None:
    """Run ``attack`` (guarded, or bypassed with ``raw``) and check that no file under the
    root changed, nothing was created outside, and no answer shows the canary (nor, from
    the engine, the root's path: the guard may quote the statement's own text)."""
    before = local_state(b)
    placed = placed_locally(b, attack, own)
    info = check_bypassed(b, placed) if raw else check_guarded(b, placed)
    message = info.error_message or ""
    assert CANARY not in message
    if raw:
        assert str(local_root(b)) not in message
    assert local_state(b) == before
    assert_nothing_outside(b)


def check_victim_rows(b: Bench) -> None:
    info = attempt(b.raw, "victim", "SELECT count(*) AS n FROM victim")
    assert info.status is RunStatus.succeeded, info.error_message
    assert b.raw.runs.rows(info.id).rows == [[3]]
