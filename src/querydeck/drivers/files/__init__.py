"""Files as tables: a directory (``files``) or a bucket prefix (``s3``) whose files DuckDB
reads, sandboxed to exactly those files. :mod:`.layout` maps file names to tables,
:mod:`.options` holds the options every file driver shares, :mod:`.session` (imported on
first connect) opens the DuckDB session and :mod:`.statement` is the driver's own check of
the table functions a statement calls."""
