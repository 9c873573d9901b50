"""MySQL and MariaDB through PyMySQL: the driver (:mod:`.driver`), its catalog queries,
privilege probe and type mapping; result rows read off the wire and decoded into Arrow with
numpy (:mod:`.rows`)."""
