"""S3-compatible object storage: the ``s3`` driver (a bucket prefix whose objects are
tables, like a ``files`` directory) and the storage options the lake drivers share."""
