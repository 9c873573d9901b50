"""querydeck's own database: tables, engine, migrations and the bounded retry on locks,
and the plain SQL (``plain``, ``fastsql``) of the reads and writes every command or run
makes without SQLAlchemy."""
