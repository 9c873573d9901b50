"""Functions a read-only statement may not call on ClickHouse: ``fnmatch`` patterns on the
normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown to
the user. The driver declares this table; the guard applies it, with the entries common to
every engine and an administrator's additions.

Table functions are functions to the guard (``FROM file(…)`` calls ``file``). The ones
listed here read the server's files, reach other hosts or other engines, or run programs;
``readonly=1`` makes the server refuse every table function as well (``numbers()``
included), so a statement that gets past this table still cannot use one. Scalar
functions that sleep are refused because they hold a query slot without doing work.
"""

from __future__ import annotations

from querydeck.sql.policy import FILE_ACCESS, NETWORK, SERVER_PATHS, SIDE_EFFECT, SLEEP_LOCK

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    # the server's files (also file() the scalar function: a file's contents as a string)
    "file": FILE_ACCESS,
    "filecluster": FILE_ACCESS,
    "input": FILE_ACCESS,
    # programs on the server
    "executable": SIDE_EFFECT,
    # other hosts and object stores
    "url": NETWORK,
    "urlcluster": NETWORK,
    "s3*": NETWORK,
    "gcs": NETWORK,
    "oss": NETWORK,
    "cosn": NETWORK,
    "azureblobstorage*": NETWORK,
    "hdfs*": NETWORK,
    "iceberg*": NETWORK,
    "deltalake*": NETWORK,
    "hudi*": NETWORK,
    "paimon*": NETWORK,
    "remote": NETWORK,
    "remotesecure": NETWORK,
    "cluster": NETWORK,
    "clusterallreplicas": NETWORK,
    # other engines, with credentials given in the statement
    "mysql": NETWORK,
    "postgresql": NETWORK,
    "sqlite": FILE_ACCESS,
    "mongodb": NETWORK,
    "redis": NETWORK,
    "odbc": NETWORK,
    "jdbc": NETWORK,
    "arrowflight": NETWORK,
    "ytsaurus": NETWORK,
    # time and server state
    "sleep": SLEEP_LOCK,
    "sleepeachrow": SLEEP_LOCK,
    "generateserialid": SIDE_EFFECT,
}

#: System tables that show the server's paths, disks and configuration sources.
FORBIDDEN_RELATIONS: dict[str, str] = {
    "system.server_settings": SERVER_PATHS,
    "system.disks": SERVER_PATHS,
    "system.user_directories": SERVER_PATHS,
    "system.filesystem_cache*": SERVER_PATHS,
    "system.detached_parts": SERVER_PATHS,
}
