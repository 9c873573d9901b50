"""PostgreSQL through psycopg 3: the driver (:mod:`.driver`), its catalog queries, privilege
probe and type mapping; query rows read with binary ``COPY`` (:mod:`.copy_stream`) and
decoded into Arrow with numpy (:mod:`.binary`)."""
