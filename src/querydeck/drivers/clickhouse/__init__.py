"""ClickHouse over its HTTP interface (clickhouse-connect)."""
