"""The guard's cost per statement, next to sqlglot parsing the same text alone."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import duckdb
import sqlglot

from querydeck.drivers import registry
from querydeck.drivers.duckdb.engine import load_packaged_extension
from querydeck.sql.guard import guard
from querydeck.sql.rules import EngineRules


def rules(dialect: str) -> EngineRules:
    """The guard rules of the installed driver of ``dialect``."""
    for name in registry.names():
        driver = registry.load(name)
        if driver.dialect == dialect:
            return driver.sql_rules()
    raise LookupError(dialect)


CHINOOK = [
    "SELECT a.Title, ar.Name FROM Album a JOIN Artist ar ON ar.ArtistId = a.ArtistId "
    "ORDER BY a.Title LIMIT 20",
    "SELECT g.Name, count(*) AS tracks, avg(t.Milliseconds) / 1000.0 AS avg_s FROM Track t "
    "JOIN Genre g ON g.GenreId = t.GenreId GROUP BY g.Name HAVING count(*) > 10 ORDER BY 2 DESC",
    "SELECT c.Country, sum(i.Total) AS revenue, rank() OVER (ORDER BY sum(i.Total) DESC) AS r "
    "FROM Invoice i JOIN Customer c ON c.CustomerId = i.CustomerId GROUP BY c.Country",
    "WITH monthly AS (SELECT strftime('%Y-%m', InvoiceDate) AS m, sum(Total) AS t FROM Invoice "
    "GROUP BY 1) SELECT m, t, sum(t) OVER (ORDER BY m) AS running FROM monthly ORDER BY m",
    "SELECT e.FirstName, e.LastName, m.FirstName AS manager FROM Employee e "
    "LEFT JOIN Employee m ON m.EmployeeId = e.ReportsTo ORDER BY e.EmployeeId",
    "SELECT Name FROM Artist WHERE Name LIKE '%é%' ORDER BY Name",
    "SELECT p.Name, count(pt.TrackId) FROM Playlist p LEFT JOIN PlaylistTrack pt "
    "ON pt.PlaylistId = p.PlaylistId GROUP BY p.PlaylistId, p.Name ORDER BY 2 DESC NULLS LAST",
    "SELECT t.Name, t.UnitPrice FROM Track t WHERE t.TrackId IN (SELECT il.TrackId FROM "
    "InvoiceLine il GROUP BY il.TrackId HAVING count(*) > 1) ORDER BY t.Name LIMIT 50",
]


def tpch_queries() -> list[str]:
    with duckdb.connect() as conn:
        load_packaged_extension(conn, "tpch")
        return [q for (q,) in conn.execute("SELECT query FROM tpch_queries()").fetchall()]


def _medians_us(
    work: Callable[[], object], reference: Callable[[], object], statements: int, repeats: int
) -> tuple[float, float]:
    """Median CPU µs per statement of ``work`` and of ``reference``, measured alternately
    so that load from other processes falls on both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for index, action in enumerate((work, reference)):
            started = time.process_time()
            action()
            samples[index].append((time.process_time() - started) / statements * 1e6)
    return statistics.median(samples[0]), statistics.median(samples[1])


def run(repeats: int = 30) -> list[tuple[str, str, str, str]]:
    corpus = [(q, "duckdb") for q in tpch_queries()] + [(q, "sqlite") for q in CHINOOK]

    def parse_only() -> None:
        for sql, dialect in corpus:
            sqlglot.parse(sql, read=dialect)

    def guarded() -> None:
        for sql, dialect in corpus:
            guard(sql, rules=rules(dialect))

    postgres = [(q, "postgres") for q in tpch_queries()]

    def parse_postgres() -> None:
        for sql, dialect in postgres:
            sqlglot.parse(sql, read=dialect)

    def guarded_postgres() -> None:
        for sql, dialect in postgres:
            guard(sql, rules=rules(dialect))

    guarded()  # warm caches of both
    guarded_postgres()
    full, parse = _medians_us(guarded, parse_only, len(corpus), repeats)
    pg_full, pg_parse = _medians_us(guarded_postgres, parse_postgres, len(postgres), repeats)
    return [
        (
            f"guard, {len(corpus)} statements (22 TPC-H as DuckDB, with DuckDB's parser; "
            f"{len(CHINOOK)} Chinook as SQLite)",
            f"{full:.0f} µs/statement",
            f"sqlglot.parse alone: {parse:.0f} µs/statement",
            f"{full / parse:.2f}× (goal ≤ 2×)",
        ),
        (
            "guard, 22 TPC-H as PostgreSQL (with pglast)",
            f"{pg_full:.0f} µs/statement",
            f"sqlglot.parse alone: {pg_parse:.0f} µs/statement",
            f"{pg_full / pg_parse:.2f}× (goal ≤ 2×)",
        ),
    ]
