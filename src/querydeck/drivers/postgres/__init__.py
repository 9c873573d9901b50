"""PostgreSQL through psycopg 3: the driver (:mod:`.driver`), its catalog queries, privilege
probe and type mapping."""
