"""The same Chinook queries through the SQLite, PostgreSQL and MySQL drivers give the same rows.

Each query is written once in MySQL syntax with Chinook's CamelCase names; sqlglot
transpiles it for SQLite and PostgreSQL, and for PostgreSQL also renames identifiers to the
snake_case of its script (``InvoiceLine.UnitPrice`` → ``invoice_line.unit_price``). Values
are normalised before comparing: every number becomes a ``Decimal`` rounded to cents,
timestamps become naive UTC text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from querydeck.app.workbench import Workbench
from querydeck.drivers.arrow_rows import native_type
from querydeck.drivers.base import EngineSession
from querydeck.drivers.mysql.driver import MySQLDriver, MySQLOptions
from querydeck.drivers.postgres.driver import PostgresDriver, PostgresOptions
from querydeck.drivers.sqlite.driver import SQLiteDriver, SQLiteOptions
from querydeck.runs.models import RunRequest, RunStatus
from querydeck.settings import Settings
from tests import chinook
from tests.services import mysql_database, postgres_database, services_required

pytestmark = pytest.mark.services

if not (chinook.chinook_dir() / "Chinook_Sqlite.sqlite").exists():
    _MISSING = f"the Chinook dataset is not at {chinook.chinook_dir()} (QUERYDECK_TEST_CHINOOK_DIR)"
    if services_required():
        raise RuntimeError(_MISSING)  # a collection error fails the run in CI
    pytest.skip(_MISSING, allow_module_level=True)

CENT = Decimal("0.01")

QUERIES: dict[str, str] = {
    "join_group_top_artists": """
        SELECT ar.ArtistId, ar.Name, COUNT(*) AS tracks
        FROM Artist ar JOIN Album al ON al.ArtistId = ar.ArtistId
        JOIN Track t ON t.AlbumId = al.AlbumId
        GROUP BY ar.ArtistId, ar.Name ORDER BY tracks DESC, ar.ArtistId LIMIT 10""",
    "having_revenue_by_country": """
        SELECT BillingCountry AS country, SUM(Total) AS revenue, COUNT(*) AS invoices
        FROM Invoice GROUP BY BillingCountry HAVING SUM(Total) > 40
        ORDER BY revenue DESC, country""",
    "date_extraction_by_year": """
        SELECT CAST(DATE_FORMAT(InvoiceDate, '%Y') AS SIGNED) AS yr, COUNT(*) AS n,
               SUM(Total) AS total
        FROM Invoice GROUP BY yr ORDER BY yr""",
    "date_extraction_by_month": """
        SELECT DATE_FORMAT(InvoiceDate, '%Y-%m') AS ym, SUM(Total) AS total
        FROM Invoice GROUP BY ym ORDER BY ym LIMIT 14""",
    "row_number_longest_per_genre": """
        SELECT GenreId, TrackId, Name, rn FROM (
            SELECT GenreId, TrackId, Name,
                   ROW_NUMBER() OVER (PARTITION BY GenreId
                                      ORDER BY Milliseconds DESC, TrackId) AS rn
            FROM Track) ranked
        WHERE rn <= 2 ORDER BY GenreId, rn""",
    "rank_customers_by_spend": """
        SELECT CustomerId, ROUND(SUM(Total), 2) AS spent,
               RANK() OVER (ORDER BY ROUND(SUM(Total), 2) DESC) AS rnk
        FROM Invoice GROUP BY CustomerId ORDER BY rnk, CustomerId LIMIT 12""",
    "running_sum_per_customer": """
        SELECT CustomerId, InvoiceId, Total,
               SUM(Total) OVER (PARTITION BY CustomerId ORDER BY InvoiceDate, InvoiceId)
                 AS running
        FROM Invoice WHERE CustomerId IN (1, 2, 3) ORDER BY CustomerId, InvoiceDate, InvoiceId""",
    "nulls_first_in_sort_key": """
        SELECT TrackId, Composer FROM Track
        ORDER BY (Composer IS NULL) DESC, Composer, TrackId LIMIT 20""",
    "nulls_last_in_sort_key": """
        SELECT CustomerId, Company FROM Customer
        ORDER BY (Company IS NULL), Company DESC, CustomerId""",
    "like_unicode": """
        SELECT ArtistId, Name FROM Artist
        WHERE Name LIKE '%ã%' OR Name LIKE '%é%' OR Name LIKE 'Jo_o %'
        ORDER BY ArtistId""",
    "scalar_subquery_above_average": """
        SELECT COUNT(*) AS n, MIN(Milliseconds) AS shortest FROM Track
        WHERE Milliseconds > (SELECT AVG(Milliseconds) FROM Track)""",
    "exists_jazz_buyers": """
        SELECT c.CustomerId, c.Country FROM Customer c
        WHERE EXISTS (
            SELECT 1 FROM Invoice i JOIN InvoiceLine il ON il.InvoiceId = i.InvoiceId
            JOIN Track t ON t.TrackId = il.TrackId JOIN Genre g ON g.GenreId = t.GenreId
            WHERE i.CustomerId = c.CustomerId AND g.Name = 'Jazz')
        ORDER BY c.CustomerId""",
    "cte_genre_revenue": """
        WITH genre_sales AS (
            SELECT g.Name AS genre, SUM(il.UnitPrice * il.Quantity) AS revenue
            FROM InvoiceLine il JOIN Track t ON t.TrackId = il.TrackId
            JOIN Genre g ON g.GenreId = t.GenreId GROUP BY g.Name)
        SELECT genre, revenue FROM genre_sales
        WHERE revenue > (SELECT AVG(revenue) FROM genre_sales)
        ORDER BY revenue DESC, genre""",
    "distinct_countries": """
        SELECT DISTINCT BillingCountry FROM Invoice
        WHERE BillingCountry LIKE '%ia' ORDER BY BillingCountry""",
    "count_distinct": """
        SELECT COUNT(DISTINCT BillingCountry) AS countries,
               COUNT(DISTINCT CustomerId) AS customers FROM Invoice""",
    "case_length_buckets": """
        SELECT CASE WHEN Milliseconds < 180000 THEN 'short'
                    WHEN Milliseconds < 300000 THEN 'medium' ELSE 'long' END AS bucket,
               COUNT(*) AS n, ROUND(AVG(UnitPrice), 2) AS avg_price
        FROM Track GROUP BY bucket ORDER BY bucket""",
    "self_join_managers": """
        SELECT e.EmployeeId, e.LastName, m.LastName AS manager,
               CAST(DATE_FORMAT(e.HireDate, '%Y') AS SIGNED) AS hired
        FROM Employee e LEFT JOIN Employee m ON m.EmployeeId = e.ReportsTo
        ORDER BY e.EmployeeId""",
    "left_join_playlist_sizes": """
        SELECT p.PlaylistId, p.Name, COUNT(pt.TrackId) AS tracks
        FROM Playlist p LEFT JOIN PlaylistTrack pt ON pt.PlaylistId = p.PlaylistId
        GROUP BY p.PlaylistId, p.Name ORDER BY tracks, p.PlaylistId""",
    "in_subquery_media_prices": """
        SELECT mt.Name, COUNT(*) AS n, SUM(t.UnitPrice) AS total_price
        FROM Track t JOIN MediaType mt ON mt.MediaTypeId = t.MediaTypeId
        WHERE t.AlbumId IN (SELECT AlbumId FROM Album WHERE ArtistId <= 50)
        GROUP BY mt.Name ORDER BY n DESC, mt.Name""",
    "invoice_timestamps": """
        SELECT InvoiceId, InvoiceDate FROM Invoice
        WHERE InvoiceId IN (1, 100, 412) ORDER BY InvoiceId""",
    "lag_lead_invoice_neighbours": """
        SELECT InvoiceId, Total, LAG(Total) OVER (ORDER BY InvoiceId) AS prev,
               LEAD(Total) OVER (ORDER BY InvoiceId) AS nxt
        FROM Invoice WHERE CustomerId = 5 ORDER BY InvoiceId""",
    "ntile_track_lengths": """
        SELECT bucket, COUNT(*) AS n, MIN(Milliseconds) AS shortest, MAX(Milliseconds) AS longest
        FROM (SELECT Milliseconds, NTILE(4) OVER (ORDER BY Milliseconds, TrackId) AS bucket
              FROM Track) q
        GROUP BY bucket ORDER BY bucket""",
    "dense_rank_genres": """
        SELECT g.Name, COUNT(*) AS n, DENSE_RANK() OVER (ORDER BY COUNT(*) DESC) AS dr
        FROM Track t JOIN Genre g ON g.GenreId = t.GenreId
        GROUP BY g.Name ORDER BY dr, g.Name""",
    "recursive_reporting_chain": """
        WITH RECURSIVE chain AS (
            SELECT EmployeeId, ReportsTo, 0 AS depth FROM Employee WHERE ReportsTo IS NULL
            UNION ALL
            SELECT e.EmployeeId, e.ReportsTo, c.depth + 1
            FROM Employee e JOIN chain c ON e.ReportsTo = c.EmployeeId)
        SELECT EmployeeId, ReportsTo, depth FROM chain ORDER BY EmployeeId""",
    "recursive_months": """
        WITH RECURSIVE months (m) AS (SELECT 1 UNION ALL SELECT m + 1 FROM months WHERE m < 12)
        SELECT m, (SELECT COUNT(*) FROM Invoice
                   WHERE CAST(DATE_FORMAT(InvoiceDate, '%m') AS SIGNED) = m) AS invoices
        FROM months ORDER BY m""",
    "keywords_in_string_literals": """
        SELECT 'DELETE FROM Track; DROP TABLE Album' AS note, COUNT(*) AS n FROM Track
        WHERE Name <> 'INSERT INTO Track VALUES (1); COMMIT' AND Name NOT LIKE '%;--%'""",
    "union_all_counts": """
        SELECT 'albums' AS what, COUNT(*) AS n FROM Album
        UNION ALL SELECT 'artists', COUNT(*) FROM Artist
        UNION ALL SELECT 'tracks', COUNT(*) FROM Track
        ORDER BY what""",
    "two_ctes_per_support_rep": """
        WITH spend AS (SELECT CustomerId, SUM(Total) AS spent FROM Invoice GROUP BY CustomerId),
             reps AS (SELECT SupportRepId, CustomerId FROM Customer)
        SELECT reps.SupportRepId, COUNT(*) AS customers, SUM(spend.spent) AS total
        FROM spend JOIN reps ON spend.CustomerId = reps.CustomerId
        GROUP BY reps.SupportRepId ORDER BY reps.SupportRepId""",
    "coalesce_and_nullif": """
        SELECT CustomerId, COALESCE(Company, 'none') AS company,
               COALESCE(State, Country) AS region, NULLIF(Country, 'USA') AS not_usa
        FROM Customer WHERE CustomerId <= 15 ORDER BY CustomerId""",
    "moving_average_frame": """
        SELECT InvoiceId,
               ROUND(AVG(Total) OVER (ORDER BY InvoiceId ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
                     2) AS moving
        FROM Invoice WHERE InvoiceId <= 20 ORDER BY InvoiceId""",
    "percent_of_total": """
        SELECT MediaTypeId, COUNT(*) AS n,
               ROUND(100.0 * COUNT(*) / (SELECT COUNT(*) FROM Track), 2) AS pct
        FROM Track GROUP BY MediaTypeId ORDER BY MediaTypeId""",
    "having_between": """
        SELECT AlbumId, COUNT(*) AS n FROM Track GROUP BY AlbumId
        HAVING COUNT(*) BETWEEN 20 AND 30 ORDER BY AlbumId""",
    "not_exists_unsold_tracks": """
        SELECT COUNT(*) AS unsold FROM Track t
        WHERE NOT EXISTS (SELECT 1 FROM InvoiceLine il WHERE il.TrackId = t.TrackId)""",
    "first_value_per_country": """
        SELECT DISTINCT BillingCountry,
               FIRST_VALUE(InvoiceId) OVER (PARTITION BY BillingCountry
                                            ORDER BY Total DESC, InvoiceId) AS top_invoice
        FROM Invoice ORDER BY top_invoice""",
}

#: Engine-specific forms where one text cannot mean the same everywhere: Chinook's MySQL
#: script declares ``NVARCHAR`` columns, whose ``utf8mb3_general_ci`` collation makes
#: ``LIKE '%ã%'`` match a plain ``a``; ``LIKE BINARY`` compares characters exactly, as
#: SQLite and PostgreSQL do.
VARIANTS: dict[str, dict[str, str]] = {
    "like_unicode": {
        "mysql": QUERIES["like_unicode"].replace("LIKE '", "LIKE BINARY '"),
    },
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def for_engine(query: str, engine: str) -> str:
    """``query`` (MySQL syntax, Chinook CamelCase names) in the syntax of ``engine``."""
    if engine == "mysql":
        return query
    tree = sqlglot.parse_one(query, read="mysql")
    if engine == "postgres":
        for identifier in tree.find_all(exp.Identifier):
            identifier.set("this", snake(identifier.name))
    return str(tree.sql(dialect=engine))


def normalise_value(value: Any, field: pa.Field) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and (native_type(field) or "").startswith(("numeric", "decimal")):
        value = Decimal(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).quantize(CENT)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def table_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [
        [normalise_value(v, field) for v in column.to_pylist()]
        for column, field in zip(table.columns, table.schema, strict=True)
    ]
    return list(zip(*columns, strict=True))


def run(connection: EngineSession, text: str) -> list[tuple[Any, ...]]:
    stream = connection.execute(text, timeout_s=30)
    return table_rows(pa.Table.from_batches(list(stream), schema=stream.schema))


@pytest.fixture(scope="module")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chinook.sqlite_copy(tmp_path_factory.mktemp("chinook"))


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        chinook.load_postgres(url)
        yield url


@pytest.fixture(scope="module")
def mysql_url() -> Iterator[str]:
    with mysql_database() as url:
        chinook.load_mysql(url)
        yield url


@pytest.fixture(scope="module")
def sqlite_conn(sqlite_path: Path) -> Iterator[EngineSession]:
    with SQLiteDriver(SQLiteOptions(path=str(sqlite_path))).connect(timeout_s=10) as connection:
        yield connection


@pytest.fixture(scope="module")
def postgres_conn(postgres_url: str) -> Iterator[EngineSession]:
    options = PostgresOptions(**PostgresDriver.options_from_url(postgres_url))
    with PostgresDriver(options).connect(timeout_s=10) as connection:
        yield connection


@pytest.fixture(scope="module")
def mysql_conn(mysql_url: str) -> Iterator[EngineSession]:
    options = MySQLOptions(**MySQLDriver.options_from_url(mysql_url))
    with MySQLDriver(options).connect(timeout_s=10) as connection:
        yield connection


@pytest.fixture(scope="module")
def chinook_workbench(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_path: Path,
    postgres_url: str,
    mysql_url: str,
) -> Iterator[Workbench]:
    """A Workbench (guard on) with the three Chinook copies registered by engine name."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("chinook-workbench"), file_roots=[sqlite_path.parent]
    )
    with Workbench(settings) as wb:
        wb.connections.create("sqlite", driver="sqlite", options={"path": str(sqlite_path)})
        # The test logins are superuser/root (they load the data): the admin override.
        wb.connections.create("postgres", url=postgres_url, allow_privileged=True)
        wb.connections.create("mysql", url=mysql_url, allow_privileged=True)
        yield wb


def test_there_are_enough_queries() -> None:
    assert len(QUERIES) >= 30


def test_identifiers_become_snake_case_for_postgres() -> None:
    text = for_engine("SELECT il.UnitPrice FROM InvoiceLine il", "postgres")
    assert text == "SELECT il.unit_price FROM invoice_line AS il"


def test_loaded_databases_have_every_row(
    sqlite_conn: EngineSession, postgres_conn: EngineSession, mysql_conn: EngineSession
) -> None:
    counts = "SELECT (SELECT COUNT(*) FROM Track), (SELECT COUNT(*) FROM InvoiceLine)"
    expected = [(Decimal("3503.00"), Decimal("2240.00"))]
    assert run(sqlite_conn, counts) == expected
    assert run(postgres_conn, for_engine(counts, "postgres")) == expected
    assert run(mysql_conn, counts) == expected


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_engines_agree(
    name: str, sqlite_conn: EngineSession, postgres_conn: EngineSession, mysql_conn: EngineSession
) -> None:
    query = QUERIES[name]
    mysql_query = VARIANTS.get(name, {}).get("mysql", query)
    reference = run(sqlite_conn, for_engine(query, "sqlite"))
    assert reference, "the query must return rows to compare"
    assert run(postgres_conn, for_engine(query, "postgres")) == reference
    assert run(mysql_conn, for_engine(mysql_query, "mysql")) == reference


def test_unicode_matches_are_the_accented_artists(sqlite_conn: EngineSession) -> None:
    names = [row[1] for row in run(sqlite_conn, for_engine(QUERIES["like_unicode"], "sqlite"))]
    assert "João Gilberto" in names
    assert "Titãs" in names
    assert "Habib Koité and Bamada" in names


@pytest.mark.parametrize("engine", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_guarded_runs_give_the_engines_answer(
    name: str,
    engine: str,
    chinook_workbench: Workbench,
    sqlite_conn: EngineSession,
    postgres_conn: EngineSession,
    mysql_conn: EngineSession,
) -> None:
    """False-positive corpus (A9): every query passes the guard (sqlglot and, for
    PostgreSQL, pglast) and the Workbench returns what the engine itself answers."""
    direct = {"sqlite": sqlite_conn, "postgres": postgres_conn, "mysql": mysql_conn}[engine]
    text = for_engine(VARIANTS.get(name, {}).get(engine, QUERIES[name]), engine)
    info = chinook_workbench.runs.run(RunRequest(connection=engine, sql=text, max_rows=100_000))
    assert info.status is RunStatus.succeeded, info.error_message
    assert info.truncated is False
    stored = chinook_workbench.results.read(info.id, 0, 100_000)
    assert table_rows(stored) == run(direct, text)
