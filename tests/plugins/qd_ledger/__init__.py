"""A third-party querydeck driver, as an outside package would write one: a directory of
CSV files (each file a table named by its stem) queried with SQLite's engine in memory.
It is registered only through an entry point (see ``tests/plugins/install.py``) and runs
the driver compliance suite like the built-in engines."""
