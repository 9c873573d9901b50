"""Apache Iceberg tables on disk or on S3, read by DuckDB's iceberg extension."""
