"""Functions a read-only statement may not call on the file drivers: DuckDB's table (the
engine is DuckDB), which already denies every reader (``read_*``, ``*_scan``, ``iceberg_*``,
``delta_*``) and the secrets' functions. The tables are views the driver defines, so a
statement never needs one of those."""

from __future__ import annotations

from querydeck.drivers.duckdb.policy import FORBIDDEN_FUNCTIONS as DUCKDB_FORBIDDEN
from querydeck.drivers.duckdb.policy import FORBIDDEN_RELATIONS as DUCKDB_RELATIONS

FORBIDDEN_FUNCTIONS: dict[str, str] = dict(DUCKDB_FORBIDDEN)
FORBIDDEN_RELATIONS: dict[str, str] = dict(DUCKDB_RELATIONS)
