"""Engine to result store at the speed of the wire (issue 21): each figure next to its
reference, measured in the same alternated rounds (medians of ``QD_WIRE_ROUNDS``, default 3).

``QD_ENGINES_CASES`` (comma-separated: ``pg``, ``sqlite``, ``mysql``, ``duckdb``, ``e2e``,
``small``) runs only those cases with their references, e.g.
``QD_ENGINES_CASES=sqlite,duckdb python -m bench engines``; unset, every case runs.

The table is the issue's 1,000,000 rows × 10 columns (``bench.wire``), on PostgreSQL and
copied to SQLite, DuckDB and MariaDB (``bench.wire_data``). Every case runs in a process of
its own (``bench.wire_cases``); the references that querydeck does not depend on run in the
references' own environment (``bench.refenv``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import refenv, wire_data
from bench.results import db_url
from bench.wire import ROUNDS, ROWS, wire_table

Row = tuple[str, str, str, str]

#: Each selectable case: querydeck's side and its reference (``got`` keys).
CASES = {
    "pg": ("pg", "adbc"),
    "sqlite": ("sqlite", "scan"),
    "mysql": ("mysql", "cli"),
    "duckdb": ("duck", "fetch"),
    "e2e": ("e2e", "copy"),
    "small": (),
}


def selected() -> set[str]:
    """The cases ``QD_ENGINES_CASES`` names (every case when unset)."""
    named = {c.strip() for c in os.environ.get("QD_ENGINES_CASES", "").split(",") if c.strip()}
    unknown = named - set(CASES)
    if unknown:
        raise SystemExit(
            f"unknown engines case(s) {', '.join(sorted(unknown))}; cases: {', '.join(CASES)}"
        )
    return named or set(CASES)


def case(*args: str, env: dict[str, str], refs: bool = False) -> dict[str, Any]:
    python = refenv.python() if refs else sys.executable
    done = subprocess.run(
        [python, "-m", "bench.wire_cases", *args],
        stdout=subprocess.PIPE,
        env={**os.environ, **env, "PYTHONPATH": refenv.path_with_project()},
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def wire_case(name: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.wire", name],
        stdout=subprocess.PIPE,
        env={**os.environ, "QD_BENCH_URL": db_url(), "PYTHONPATH": refenv.path_with_project()},
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)


def seconds(runs: list[dict[str, Any]], key: str = "seconds") -> str:
    each = ", ".join(f"{r[key]:.2f}" for r in runs)
    return f"{median([r[key] for r in runs]):.2f} s ({each})"


def rss(runs: list[dict[str, Any]]) -> str:
    return f"peak RSS {median([r['peak_rss_mb'] for r in runs]):.0f} MB"


def paired(mine: list[dict[str, Any]], refs: list[dict[str, Any]], key: str = "seconds") -> float:
    """The median of the per-round ratios (rounds are alternated: each pair shares its
    minute of the machine's load)."""
    return median([m[key] / r[key] for m, r in zip(mine, refs, strict=True)])


def _env(tmp: str) -> dict[str, str]:
    return {
        "QUERYDECK_DATA_DIR": str(Path(tmp) / "data"),
        "QUERYDECK_FILE_ROOTS": str(wire_data.CACHE),
        "QUERYDECK_EXPORT_MAX_ROWS": str(max(ROWS, 10_000_000)),
    }


def _small_round(
    smalls: dict[str, list[dict[str, Any]]], sqlite: Path, table: str, env: dict[str, str]
) -> None:
    for which in ("querydeck", "datasette"):
        smalls[which].append(case("small", which, "sq", str(sqlite), table, env=env))


def run_small() -> list[Row]:
    """Only the small-query cases (``python -m bench.engines small``): the SQLite file and
    its connection, then ``ROUNDS`` alternated rounds of querydeck and Datasette."""
    sqlite, table = wire_data.prepare_sqlite(), wire_table()
    smalls: dict[str, list[dict[str, Any]]] = {"querydeck": [], "datasette": []}
    with tempfile.TemporaryDirectory(prefix="qd-wire-") as tmp:
        env = _env(tmp)
        case("connect", "sq", f"sqlite:///{sqlite}", env=env)
        for _ in range(ROUNDS):
            _small_round(smalls, sqlite, table, env)
    return small_rows(smalls)


def run() -> list[Row]:
    wire_data.prepare_all()
    sqlite, duck = wire_data.sqlite_path(), wire_data.duckdb_path()
    table = wire_table()
    names = ("pg", "adbc", "sqlite", "scan", "mysql", "cli", "duck", "fetch", "e2e", "copy")
    got: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    smalls: dict[str, list[dict[str, Any]]] = {"querydeck": [], "datasette": []}
    with tempfile.TemporaryDirectory(prefix="qd-wire-") as tmp:
        env = _env(tmp)
        out = str(Path(tmp) / "out")
        mysql = wire_data.MYSQL_URL
        for name, url in (
            ("pg", db_url()),
            ("sq", f"sqlite:///{sqlite}"),
            ("my", mysql),
            ("dk", f"duckdb:///{duck}"),
        ):
            case("connect", name, url, env=env)
        wanted = selected()
        for _ in range(ROUNDS):
            if "pg" in wanted:
                got["pg"].append(case("store", "pg", table, env=env))
                got["adbc"].append(wire_case("adbc_table"))
            if "sqlite" in wanted:
                got["sqlite"].append(case("store", "sq", table, env=env))
                got["scan"].append(case("duckdb_sqlite", str(sqlite), table, env=env, refs=True))
            if "mysql" in wanted:
                got["mysql"].append(case("store", "my", table, env=env))
                got["cli"].append(case("mariadb_cli", mysql, table, out, env=env))
            if "duckdb" in wanted:
                got["duck"].append(case("store", "dk", table, env=env))
                got["fetch"].append(case("duckdb_fetch", str(duck), table, env=env))
            if "e2e" in wanted:
                got["e2e"].append(case("end_to_end", "pg", table, out + ".csv", env=env))
                got["copy"].append(case("psql_copy", db_url(), table, out + ".csv", env=env))
            if "small" in wanted:
                _small_round(smalls, sqlite, table, env)
    return rows(got, smalls)


def rows(
    got: dict[str, list[dict[str, Any]]], smalls: dict[str, list[dict[str, Any]]]
) -> list[Row]:
    size = f"{ROWS:,} rows × 10 columns"
    out: list[Row] = []
    for label, mine, ref, ref_label, goal in (
        ("PostgreSQL", "pg", "adbc", "ADBC fetch_arrow_table", "goal ≤ 1.5×, RSS ≤ 250 MB"),
        ("SQLite", "sqlite", "scan", "DuckDB's sqlite scanner to Arrow", "goal ≤ 1.5×"),
        ("MariaDB", "mysql", "cli", "mariadb --batch --quick to a file", "goal ≤ 1.5×"),
        ("DuckDB", "duck", "fetch", "DuckDB's own record-batch reader", "goal ≤ 1.2×"),
    ):
        if not got[mine]:
            continue
        out.append(
            (
                f"{label} → result store, SELECT * of {size} (medians of {ROUNDS} "
                "alternated rounds)",
                f"{seconds(got[mine])}, {rss(got[mine])} (a fresh process's first run, "
                f"SELECT 1, before it: {seconds(got[mine], 'first_seconds')})",
                f"{ref_label}: {seconds(got[ref])}, {rss(got[ref])}",
                f"{paired(got[mine], got[ref]):.2f}× ({goal})",
            )
        )
    if got["e2e"]:
        out.append(end_to_end_row(got, size))
    if smalls["querydeck"]:
        out += small_rows(smalls)
    return out


def end_to_end_row(got: dict[str, list[dict[str, Any]]], size: str) -> Row:
    return (
        f"end to end: run + CSV export of {size} through the API (PostgreSQL)",
        f"{seconds(got['e2e'])} (the run alone {seconds(got['e2e'], 'run_seconds')}), "
        f"server {rss(got['e2e'])} (a fresh server's first run and export, SELECT 1, "
        f"before it: {seconds(got['e2e'], 'first_seconds')})",
        f"psql \\copy (SELECT *) TO file CSV: {seconds(got['copy'])}",
        f"{paired(got['e2e'], got['copy']):.2f}× (goal ≤ 2×)",
    )


def small_rows(smalls: dict[str, list[dict[str, Any]]]) -> list[Row]:
    mine, ref = smalls["querydeck"], smalls["datasette"]

    def p50(runs: list[dict[str, Any]]) -> str:
        each = ", ".join(f"{r['p50']:.1f}" for r in runs)
        return f"p50 {median([r['p50'] for r in runs]):.1f} ms ({each})"

    def rps(runs: list[dict[str, Any]]) -> str:
        each = ", ".join(f"{r['rps']:.0f}" for r in runs)
        return f"{median([r['rps'] for r in runs]):.0f} req/s ({each})"

    return [
        (
            "small query on SQLite (10 rows: WHERE, ORDER BY, LIMIT 10), 200 sequential "
            "requests; querydeck's run recorded, guarded and audited",
            p50(mine),
            f"Datasette ?sql=: {p50(ref)}",
            f"{paired(mine, ref, 'p50'):.2f}× (goal ≤ 1.2×)",
        ),
        (
            "small query on SQLite, 16 clients, 10 s",
            f"{rps(mine)}, server {rss(mine)}",
            f"Datasette ?sql=: {rps(ref)}, server {rss(ref)}",
            f"{paired(mine, ref, 'rps'):.2f}× throughput (goal ≥ 0.6×)",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["small"]):
        raise SystemExit("usage: python -m bench.engines [small]")
    for row in run_small() if sys.argv[1:] == ["small"] else run():
        print(" | ".join(row))
