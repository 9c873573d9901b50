"""MySQL and MariaDB through PyMySQL: typed options, read-only transactions, Arrow batches.

The client never enables ``MULTI_STATEMENTS`` (so one text is one statement) nor
``LOCAL INFILE``. Every :meth:`MySQLSession.execute` sets the server-side time limit,
opens ``START TRANSACTION READ ONLY``, streams rows with an unbuffered cursor and always
ends with ``ROLLBACK``.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

import pymysql
import pymysql.cursors
from pydantic import Field, SecretStr, field_validator, model_validator
from pymysql.constants import CLIENT

from querydeck.drivers import arrow_rows
from querydeck.drivers.base import (
    BATCH_ROWS,
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    ResultStream,
    ServerInfo,
    split_url,
)
from querydeck.drivers.catalog_model import DdlStyle, SchemaMeta
from querydeck.drivers.mysql import catalog as mysql_catalog
from querydeck.drivers.mysql import rows as mysql_rows
from querydeck.drivers.mysql import types as mysql_types
from querydeck.drivers.mysql.flavours import BASE, FLAVOURS, MySQLFlavour, flavour
from querydeck.drivers.mysql.policy import (
    FORBIDDEN_FUNCTIONS,
    FORBIDDEN_RELATIONS,
    FORBIDDEN_SETTINGS,
)
from querydeck.drivers.network import (
    HandshakeDeadline,
    check_host,
    keep_alive,
    server_url_options,
    shut_down,
    socket_readable,
)
from querydeck.drivers.statements import require_query
from querydeck.drivers.tls import ca_file, ca_sslmode, client_context, is_untrusted
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionParamForbidden,
    ConnectionUntrusted,
    DatabaseAccessDenied,
    DatabaseNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    SqlForbiddenSyntax,
    SqlNotReadOnly,
    UpstreamUnavailable,
)

#: Client options that read local files, run extra SQL or change the protocol.
FORBIDDEN_PARAMS = frozenset(
    {
        "local_infile",
        "read_default_file",
        "read_default_group",
        "init_command",
        "client_flag",
        "unix_socket",
        "named_pipe",
        "ssl_ca",
        "ssl_cert",
        "ssl_key",
        "conv",
        "cursorclass",
        "bind_address",
    }
)
_EXECUTABLE_COMMENT = re.compile(r"/\*[mM]?!")
#: Seconds a statement's reads may wait past its time limit (the server's limit and the
#: watchdog's cancel come first; this ends a read from a server that honours neither).
STATEMENT_READ_MARGIN_S = 10.0
#: MariaDB max_statement_time, MySQL max_execution_time, OceanBase ob_query_timeout.
_TIMEOUT_ERRNOS = frozenset({1969, 3024, 4012})
_INTERRUPTED = 1317
_UNREACHABLE = frozenset({2003, 2005})
_LOST_ERRNOS = frozenset({2006, 2013, 2014, 2055, 1053, 1927})
_AUTH_ERRNOS = frozenset({1045, 1698, 1251})
#: Access denied for user to database: the login is valid, the database is not theirs.
_DATABASE_DENIED = 1044
_LOST = "The connection to MySQL/MariaDB was lost; open a new one."
#: The protocol command that resets a session (MySQL 5.7.3+, MariaDB 10.2.4+).
_COM_RESET_CONNECTION = 0x1F


class MySQLOptions(DriverOptions):
    host: str
    port: int = Field(3306, ge=1, le=65535)
    database: str | None = None
    user: str
    password: SecretStr | None = None
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] = "disable"
    ssl_ca_certificate: str | None = Field(
        default=None,
        description="Id of an uploaded CA certificate to verify the server with; sslmode "
        "then defaults to verify-full.",
    )
    flavour: Literal["tidb", "oceanbase", "doris", "starrocks"] | None = Field(
        default=None,
        description="A database that speaks MySQL's protocol (see docs/connections.md): its "
        "time limit, transactions, privileges, system schemas and functions.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_forbidden(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refuse_params(data)
        return ca_sslmode(data, "MySQL")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value, "MySQL")


#: SELECT … INTO OUTFILE writes files (Doris and StarRocks export to object stores that way).
_INTO_FILE = re.compile(r"\binto\s+(?:outfile|dumpfile)\b", re.I)


def refuse_writes(sql: str, engine: str) -> None:
    """The driver's own read layer for a flavour without read-only transactions (Doris,
    StarRocks): a statement is sent only when it starts like a query and writes no file.
    A text check, after the guard; the privilege probe is the other layer."""
    require_query(sql, engine)
    if _INTO_FILE.search(sql):
        raise SqlNotReadOnly(
            f"{engine} connections do not write files (INTO OUTFILE).",
            detail={"construct": "INTO OUTFILE"},
        )


def refuse_params(names: Any) -> None:
    """Raise ``ConnectionParamForbidden`` for any forbidden client option among ``names``."""
    for name in names:
        if str(name).lower().replace("-", "_") in FORBIDDEN_PARAMS:
            raise ConnectionParamForbidden(
                f"The MySQL option {name!r} is not allowed.", detail={"parameter": str(name)}
            )


class MySQLDriver(Driver[MySQLOptions]):
    """MySQL and MariaDB through PyMySQL."""

    name: ClassVar[str] = "mysql"
    title: ClassVar[str] = "MySQL / MariaDB"
    dialect: ClassVar[str] = "mysql"
    Options: ClassVar[type[DriverOptions]] = MySQLOptions
    capabilities: ClassVar[Capabilities] = Capabilities()
    url_schemes: ClassVar[tuple[str, ...]] = ("mysql", "mariadb")
    forbidden_functions: ClassVar[Mapping[str, str]] = FORBIDDEN_FUNCTIONS
    forbidden_relations: ClassVar[Mapping[str, str]] = FORBIDDEN_RELATIONS
    forbidden_settings: ClassVar[Mapping[str, str]] = FORBIDDEN_SETTINGS
    secret_free_options: ClassVar[frozenset[str]] = frozenset({"flavour"})
    flavour_functions: ClassVar[Mapping[str, Mapping[str, str]]] = {
        name: each.forbidden_functions for name, each in FLAVOURS.items()
    }
    executable_comments: ClassVar[bool] = True
    # Each runs in the session's read-only transaction; flavours without one (Doris,
    # StarRocks) refuse them in the driver's own query check.
    metadata_reads: ClassVar[frozenset[str]] = frozenset(
        {"SHOW TABLES", "SHOW COLUMNS", "SHOW DATABASES", "SHOW CREATE", "SHOW INDEX", "DESCRIBE"}
    )
    ddl_style: ClassVar[DdlStyle] = DdlStyle(comments="inline")

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        parts = split_url(url, cls.url_schemes)
        refuse_params(key for key, _ in parse_qsl(parts.query, keep_blank_values=True))
        return server_url_options(parts, "MySQL", "mysql://host/database")

    def target(self) -> str:
        return f"{self.options.host}:{self.options.port}/{self.options.database or ''}"

    def connect_args(self, timeout_s: float) -> dict[str, Any]:
        """Keyword arguments for ``pymysql.connect``; only safe settings are ever passed."""
        opts = self.options
        args: dict[str, Any] = {
            "host": self.sandbox.addresses.pin(check_host(opts.host, "MySQL"), opts.port, "MySQL"),
            "port": opts.port,
            "user": opts.user,
            "password": opts.password.get_secret_value() if opts.password else "",
            "database": opts.database,
            "charset": "utf8mb4",
            "connect_timeout": max(1, math.ceil(timeout_s)),
            # Every read and write of the session is bounded (a statement's reads by its
            # own limit, see MySQLSession.execute): a server that accepts the connection
            # and stays silent (or is no MySQL server at all) ends the attempt in time.
            "read_timeout": max(1, math.ceil(timeout_s)),
            "write_timeout": max(1, math.ceil(timeout_s)),
            "autocommit": True,
            "local_infile": False,
            "client_flag": 0,
            "program_name": "querydeck",
        }
        if opts.sslmode == "disable":
            args["ssl_disabled"] = True  # else PyMySQL tries TLS without verifying
        else:
            cafile = ca_file(self.sandbox, opts.ssl_ca_certificate)
            args["ssl"] = client_context(opts.sslmode, cafile, opts.host)
        return args

    def connect(self, *, timeout_s: float) -> MySQLSession:
        args = self.connect_args(timeout_s)
        try:
            conn = open_within(args, timeout_s)
        except pymysql.Error as exc:
            raise connect_error(exc, self.target()) from None
        if conn.client_flag & (CLIENT.MULTI_STATEMENTS | CLIENT.LOCAL_FILES):
            conn.close()
            raise ConnectionFailed("The MySQL client enabled multi-statements or local files.")
        connection = MySQLSession(conn, args, flavour(self.options.flavour))
        try:
            connection.setup()
        except QueryDeckError:
            connection.close()
            raise
        return connection


def open_within(args: dict[str, Any], timeout_s: float) -> pymysql.connections.Connection[Any]:
    """``pymysql.connect(**args)``, with the whole handshake bounded by ``timeout_s``:
    PyMySQL's timeouts bound each read, so a server that sends its greeting one byte at a
    time would otherwise hold the attempt for as long as it likes. The socket is made here
    (keepalives on) and shut down when the deadline passes first."""
    conn = pymysql.connect(**args, defer_connect=True)
    try:
        sock = socket.create_connection((args["host"], args["port"]), args["connect_timeout"])
    except OSError as exc:
        raise pymysql.err.OperationalError(
            2003, f"Can't connect to MySQL server ({exc.strerror or type(exc).__name__})"
        ) from None
    keep_alive(sock)
    deadline = HandshakeDeadline(sock, max(1.0, timeout_s))
    try:
        conn.connect(sock)
    except pymysql.Error as exc:
        deadline.end()
        sock.close()
        if deadline.expired:
            raise pymysql.err.OperationalError(2013, "handshake timed out") from exc
        raise
    finally:
        deadline.end()
    return conn


def _errno(exc: BaseException) -> int:
    code = exc.args[0] if exc.args else 0
    return code if isinstance(code, int) else 0


def _message(exc: BaseException) -> str:
    if len(exc.args) > 1 and isinstance(exc.args[1], str):
        return exc.args[1]
    return str(exc) or type(exc).__name__


def connect_error(exc: pymysql.Error, target: str) -> ConnectionFailed:
    """A querydeck error for a failed connection attempt."""
    errno = _errno(exc)
    detail = {"target": target, "errno": errno}
    if errno in _AUTH_ERRNOS:
        return AuthenticationFailed(
            f"MySQL at {target} rejected the user name or password.", detail=detail
        )
    if errno == _DATABASE_DENIED:
        return DatabaseAccessDenied(
            f"MySQL at {target} accepted the login, but it has no access to that database: "
            "grant it on the server, or choose a database this login may use.",
            detail=detail,
        )
    if errno == 1049:
        return DatabaseNotFound(f"The database of {target} does not exist.", detail=detail)
    if is_untrusted(_message(exc)):
        return ConnectionUntrusted(
            f"The TLS certificate of MySQL at {target} did not verify: "
            + _message(exc).rsplit("] ", 1)[-1].rstrip(")"),
            detail=detail,
        )
    if "timed out" in _message(exc):
        return UpstreamUnavailable(
            f"MySQL at {target} did not answer in time: the address accepts connections but "
            "does not speak the MySQL protocol (another service, or a server that hangs).",
            detail=detail,
        )
    reason = _message(exc).split(" (", 1)[0]
    return UpstreamUnavailable(f"Cannot reach MySQL at {target}: {reason}", detail=detail)


class MySQLSession(EngineSession):
    """One PyMySQL session; each execute runs in its own read-only transaction."""

    def __init__(
        self,
        conn: pymysql.connections.Connection[Any],
        args: dict[str, Any],
        kind: MySQLFlavour = BASE,
    ) -> None:
        self._args = args
        self.flavour = kind
        self._attach(conn)
        self._lock = threading.Lock()
        self._busy = False
        self._cancel_requested = False
        self._broken = False
        self._stream: ResultStream | None = None

    def _attach(self, conn: pymysql.connections.Connection[Any]) -> None:
        self._conn = conn
        untyped: Any = conn  # the stubs leave these two methods untyped
        self._thread_id = int(untyped.thread_id())
        self._mariadb = "mariadb" in str(untyped.get_server_info()).lower()

    def setup(self) -> None:
        """Session settings: UTC timestamps, read-only transactions by default (where the
        flavour has them)."""
        self._run("SET SESSION time_zone = '+00:00'")
        if self.flavour.read_only_transaction:
            self._run("SET SESSION TRANSACTION READ ONLY")

    def timeout_statement(self, timeout_s: float) -> str:
        """The statement limiting the next statement's time on this server."""
        if self.flavour.timeout is not None:
            return self.flavour.timeout(timeout_s)
        if self._mariadb:
            return f"SET SESSION max_statement_time = {max(0.001, timeout_s):.3f}"
        return f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}"

    def ping(self) -> ServerInfo:
        return ServerInfo(version=str(self._run("SELECT VERSION()")[0][0]))

    def privileges(self) -> list[str]:
        def action() -> tuple[list[tuple[Any, ...]], list[str]]:
            with self._conn.cursor() as cursor:
                cursor.execute("SHOW GRANTS")
                names = [str(d[0]) for d in cursor.description or ()]
                return list(cursor.fetchall()), names

        rows, names = self.call(action)
        return self.flavour.grants(rows, names)

    def _run(self, statement: str) -> Sequence[tuple[Any, ...]]:
        """Run one of querydeck's own statements and return its rows."""

        def action() -> Sequence[tuple[Any, ...]]:
            with self._conn.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())

        result: Sequence[tuple[Any, ...]] = self.call(action)
        return result

    def call(self, action: Callable[[], Any]) -> Any:
        """Run one round trip, mapping PyMySQL errors to querydeck errors."""
        if self._broken or not self._conn.open:
            raise UpstreamUnavailable(_LOST)
        with self._lock:
            self._busy = True
        try:
            return action()
        except pymysql.Error as exc:
            raise self._map_error(exc) from None
        finally:
            with self._lock:
                self._busy = False

    def _map_error(self, exc: BaseException) -> QueryDeckError:
        errno = _errno(exc)
        message = _message(exc)
        if errno in _TIMEOUT_ERRNOS:
            return QueryTimeout("The statement ran past its time limit.")
        if errno == _INTERRUPTED:
            return QueryCancelled("The statement was cancelled.")
        if (
            errno in _LOST_ERRNOS | _UNREACHABLE
            or isinstance(exc, pymysql.err.InterfaceError)
            or not self._conn.open
        ):
            self._broken = True
            return UpstreamUnavailable(f"{_LOST} ({message})")
        return QueryFailed(message, detail={"errno": errno} if errno else {})

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        if _EXECUTABLE_COMMENT.search(sql):
            raise SqlForbiddenSyntax(
                "MySQL executable comments (/*! … */) are not allowed.",
                detail={"construct": "executable comment"},
            )
        if "\x00" in sql:
            raise QueryFailed("The statement contains a NUL character.")
        if not self.flavour.read_only_transaction:
            refuse_writes(sql, self.flavour.title)
        if self._stream is not None:
            self._stream.close()
        self._cancel_requested = False
        cursor = pymysql.cursors.SSCursor(self._conn)
        rows = _Rows(self, cursor)
        try:
            self._run(self.timeout_statement(timeout_s))
            if self.flavour.read_only_transaction:
                self._run("SET SESSION TRANSACTION READ ONLY")
                self._run("START TRANSACTION READ ONLY")
            started = time.monotonic()
            self._read_timeout(timeout_s + STATEMENT_READ_MARGIN_S)
            self.call(lambda: cursor.execute(sql))
            description = getattr(cursor, "_result", None)
            fields = getattr(description, "fields", None) or []
            schema, converters = mysql_types.schema_of(fields)
            if mysql_rows.readable(schema, converters):
                wire = mysql_rows.TextResultStream(self, cursor, schema, self.end_transaction)
                self._stream = wire
                wire.prefetch()
                self._timed_out_at_limit(started, timeout_s)
                return wire
            rows.started()
            rows.converters = converters
            first = rows.fetchmany(BATCH_ROWS) if fields else []
            self._timed_out_at_limit(started, timeout_s)
        except BaseException:
            if self._stream is not None:
                self._stream.close()
            rows.close()
            self.end_transaction()
            raise
        stream = arrow_rows.DbApiResultStream(
            rows, schema, self._map_error, first_rows=first, on_close=self.end_transaction
        )
        if not fields:
            stream.close()
        self._stream = stream
        return stream

    @staticmethod
    def _timed_out_at_limit(started: float, timeout_s: float) -> None:
        """The server interrupts SLEEP() and BENCHMARK() at the limit without an error and
        returns a made-up value: a statement that used its whole time limit has timed
        out."""
        if time.monotonic() - started >= timeout_s:
            raise QueryTimeout("The statement ran past its time limit.")

    def end_transaction(self) -> None:
        """Roll back; a failure leaves the connection marked broken."""
        self._stream = None
        if self._broken or not self._conn.open:
            return
        try:
            self._conn.rollback()
        except pymysql.Error:
            self._broken = True

    def _read_timeout(self, seconds: float | None) -> None:
        """Bound each read of the session (None: the connect timeout it was opened with);
        PyMySQL applies it to the socket before every read."""
        untyped: Any = self._conn
        untyped._read_timeout = seconds if seconds is not None else self._args["read_timeout"]

    def abort(self) -> None:
        """Shut the socket down: a read waiting on a server that ignored ``KILL QUERY``
        (or cannot be reached for it) returns at once."""
        self._broken = True
        sock = getattr(self._conn, "_sock", None)
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                shut_down(sock.fileno())

    def kill_query(self) -> None:
        """``KILL QUERY`` this session's statement from a second short connection."""
        if self._broken or not self._conn.open:
            return
        args = {**self._args, "connect_timeout": 5, "read_timeout": 5, "database": None}
        with contextlib.suppress(pymysql.Error):
            side = open_within(args, 5)
            try:
                with side.cursor() as cursor:
                    cursor.execute(f"KILL QUERY {int(self._thread_id)}")
            finally:
                side.close()

    def cancel(self) -> None:
        with self._lock:
            busy = self._busy
            self._cancel_requested = busy or self._stream is not None
        if busy:
            self.kill_query()

    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def reset(self) -> bool:
        """``COM_RESET_CONNECTION`` (rolls back; drops user and session variables, role,
        temporary tables, prepared statements and ``GET_LOCK`` locks), then the session
        settings of :meth:`setup` again. PyMySQL has no call for it: the command is sent
        with its packet helpers."""
        if self._stream is not None:
            self._stream.close()
        self._read_timeout(None)
        if not self.flavour.reset_command:
            self._reconnect()
            self._cancel_requested = False
            return True
        untyped: Any = self._conn  # PyMySQL's packet helpers are private and untyped

        def action() -> None:
            untyped._execute_command(_COM_RESET_CONNECTION, b"")
            untyped._read_ok_packet()

        self.call(action)
        self.setup()
        self._cancel_requested = False
        return True

    def _reconnect(self) -> None:
        """A flavour without ``COM_RESET_CONNECTION``: the fresh session is a new one."""
        with contextlib.suppress(pymysql.Error):
            self._conn.close()
        try:
            self._attach(open_within(self._args, float(self._args["connect_timeout"])))
        except pymysql.Error as exc:
            self._broken = True
            raise UpstreamUnavailable(f"{_LOST} ({_message(exc)})") from None
        self._broken = False
        self.setup()

    def alive(self) -> bool:
        sock = getattr(self._conn, "_sock", None)
        if self._broken or not self._conn.open or sock is None:
            return False
        return not socket_readable(sock.fileno())

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        with contextlib.suppress(pymysql.Error):
            self._conn.close()

    # --- catalog: the queries live in mysql_catalog ----------------------------------

    @property
    def native(self) -> pymysql.connections.Connection[Any]:
        return self._conn

    @property
    def mariadb(self) -> bool:
        return self._mariadb

    def schemas(self) -> list[str]:
        return mysql_catalog.schemas(self)

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        return mysql_catalog.describe_schema(self, schema, timeout_s)


class _Rows:
    """An unbuffered cursor that converts values, notices cancellation, and on an early
    close stops the server from sending the rest instead of reading it all."""

    def __init__(self, owner: MySQLSession, cursor: pymysql.cursors.SSCursor) -> None:
        self._owner = owner
        self._cursor = cursor
        self._done = True
        self.converters: list[Callable[[Any], Any] | None] = []

    def started(self) -> None:
        """The server has begun sending this statement's rows."""
        self._done = False

    def fetchmany(self, size: int = BATCH_ROWS, /) -> list[tuple[Any, ...]]:
        if self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        rows: Sequence[tuple[Any, ...]] = self._owner.call(lambda: self._cursor.fetchmany(size))
        if len(rows) < size:
            self._done = True
            if self._owner.cancel_requested():
                raise QueryCancelled("The statement was cancelled.")
        if not any(self.converters):
            return list(rows)
        return [
            tuple(
                v if v is None or convert is None else convert(v)
                for v, convert in zip(row, self.converters, strict=True)
            )
            for row in rows
        ]

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._owner.kill_query()
        with contextlib.suppress(pymysql.Error, QueryDeckError):
            self._cursor.close()
