"""SQLite files, read-only and sandboxed: the driver (:mod:`.driver`) and its catalog
queries."""
