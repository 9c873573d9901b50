"""The built-in engines' guard rules by dialect name, for tests that guard statements
without a Workbench."""

from __future__ import annotations

from querydeck.drivers.clickhouse.driver import ClickHouseDriver
from querydeck.drivers.duckdb.driver import DuckDBDriver
from querydeck.drivers.mysql.driver import MySQLDriver
from querydeck.drivers.postgres.driver import PostgresDriver
from querydeck.drivers.spark.driver import SparkDriver
from querydeck.drivers.sqlite.driver import SQLiteDriver
from querydeck.sql.rules import EngineRules

BUILT_IN = {
    d.dialect: d
    for d in (
        PostgresDriver,
        MySQLDriver,
        SQLiteDriver,
        DuckDBDriver,
        ClickHouseDriver,
        SparkDriver,
    )
}


def rules(dialect: str) -> EngineRules:
    """The rules the built-in driver of ``dialect`` declares."""
    return BUILT_IN[dialect].sql_rules()


def forbidden_reason(dialect: str, name: str) -> str | None:
    """Why the built-in policy of ``dialect``'s engine refuses ``name`` (None: allowed)."""
    return rules(dialect).default_policy.reason(name)
