"""Apache Spark through Spark Connect (pyspark's Connect client)."""
