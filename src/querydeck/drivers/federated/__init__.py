"""Joins across sources: one DuckDB session attaching, read-only, the registered
connections a user may query (:mod:`.driver`; the engine side in :mod:`.session`)."""
