"""querydeck's own database: tables, engine, migrations and the bounded retry on locks."""
