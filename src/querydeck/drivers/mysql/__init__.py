"""MySQL and MariaDB through PyMySQL: the driver (:mod:`.driver`), its catalog queries,
privilege probe and type mapping."""
