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

from querydeck.drivers.arrow_rows import native_type
from querydeck.drivers.base import Connection
from querydeck.drivers.mysql import MySQLDriver, MySQLOptions
from querydeck.drivers.postgres import PostgresDriver, PostgresOptions
from querydeck.drivers.sqlite import SQLiteDriver, SQLiteOptions
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


def run(connection: Connection, text: str) -> list[tuple[Any, ...]]:
    stream = connection.execute(text, timeout_s=30)
    table = pa.Table.from_batches(list(stream), schema=stream.schema)
    columns = [
        [normalise_value(v, field) for v in column.to_pylist()]
        for column, field in zip(table.columns, stream.schema, strict=True)
    ]
    return list(zip(*columns, strict=True))


@pytest.fixture(scope="module")
def sqlite_conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    path: Path = chinook.sqlite_copy(tmp_path_factory.mktemp("chinook"))
    with SQLiteDriver(SQLiteOptions(path=str(path))).connect(timeout_s=10) as connection:
        yield connection


@pytest.fixture(scope="module")
def postgres_conn() -> Iterator[Connection]:
    with postgres_database() as url:
        chinook.load_postgres(url)
        options = PostgresOptions(**PostgresDriver.options_from_url(url))
        with PostgresDriver(options).connect(timeout_s=10) as connection:
            yield connection


@pytest.fixture(scope="module")
def mysql_conn() -> Iterator[Connection]:
    with mysql_database() as url:
        chinook.load_mysql(url)
        options = MySQLOptions(**MySQLDriver.options_from_url(url))
        with MySQLDriver(options).connect(timeout_s=10) as connection:
            yield connection


def test_there_are_enough_queries() -> None:
    assert len(QUERIES) >= 15


def test_identifiers_become_snake_case_for_postgres() -> None:
    text = for_engine("SELECT il.UnitPrice FROM InvoiceLine il", "postgres")
    assert text == "SELECT il.unit_price FROM invoice_line AS il"


def test_loaded_databases_have_every_row(
    sqlite_conn: Connection, postgres_conn: Connection, mysql_conn: Connection
) -> None:
    counts = "SELECT (SELECT COUNT(*) FROM Track), (SELECT COUNT(*) FROM InvoiceLine)"
    expected = [(Decimal("3503.00"), Decimal("2240.00"))]
    assert run(sqlite_conn, counts) == expected
    assert run(postgres_conn, for_engine(counts, "postgres")) == expected
    assert run(mysql_conn, counts) == expected


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_engines_agree(
    name: str, sqlite_conn: Connection, postgres_conn: Connection, mysql_conn: Connection
) -> None:
    query = QUERIES[name]
    mysql_query = VARIANTS.get(name, {}).get("mysql", query)
    reference = run(sqlite_conn, for_engine(query, "sqlite"))
    assert reference, "the query must return rows to compare"
    assert run(postgres_conn, for_engine(query, "postgres")) == reference
    assert run(mysql_conn, for_engine(mysql_query, "mysql")) == reference


def test_unicode_matches_are_the_accented_artists(sqlite_conn: Connection) -> None:
    names = [row[1] for row in run(sqlite_conn, for_engine(QUERIES["like_unicode"], "sqlite"))]
    assert "João Gilberto" in names
    assert "Titãs" in names
    assert "Habib Koité and Bamada" in names
