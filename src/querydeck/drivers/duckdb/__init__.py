"""DuckDB, read-only and sandboxed: the driver (:mod:`.driver`, which never imports the
engine), the engine side (:mod:`.engine`, imported on first connect) and its catalog
queries."""
