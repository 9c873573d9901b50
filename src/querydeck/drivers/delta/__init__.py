"""Delta Lake tables on disk or on S3, read by DuckDB's delta extension."""
