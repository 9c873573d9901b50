"""PostgreSQL through psycopg 3: typed options, read-only transactions, Arrow batches.

Every :meth:`PostgresSession.execute` opens ``BEGIN READ ONLY`` with a local
``statement_timeout``, sends the one statement with the extended protocol (which refuses
several commands in one text), streams rows in batches of ``BATCH_ROWS`` and always ends
with ``ROLLBACK``. The rows of a query come through binary ``COPY`` of the same text
(:mod:`.copy_stream`) when every column is of a type decoded in binary, else from a
server-side cursor.

Only a query runs: a text that starts like one is wrapped in ``DECLARE … CURSOR FOR``, so
the server's own grammar refuses anything that is not a SELECT/VALUES/TABLE (``COPY``,
``DO``, data-modifying ``WITH``…), before any ``COPY`` of it is sent; the only other
statements sent as they are are ``EXPLAIN`` and ``SHOW``.
A read-only transaction alone does not stop ``COPY … TO PROGRAM`` for a privileged login;
this does, even when the guard is bypassed.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal

import psycopg
import pyarrow as pa
from psycopg.conninfo import make_conninfo
from pydantic import Field, SecretStr, field_validator, model_validator

from querydeck.drivers import arrow_rows
from querydeck.drivers.base import (
    BATCH_ROWS,
    BatchReader,
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    ResultStream,
    ServerInfo,
    split_url,
)
from querydeck.drivers.catalog_model import DdlStyle, SchemaMeta
from querydeck.drivers.network import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE_S,
    KEEPALIVE_INTERVAL_S,
    check_host,
    server_url_options,
    shut_down,
    socket_readable,
)
from querydeck.drivers.postgres import catalog as postgres_catalog
from querydeck.drivers.postgres import copy_stream, types
from querydeck.drivers.postgres.copy_stream import CopyResultStream
from querydeck.drivers.postgres.flavours import BASE, FLAVOURS, PostgresFlavour, flavour
from querydeck.drivers.postgres.libpq import Wire
from querydeck.drivers.postgres.native import check_postgres
from querydeck.drivers.postgres.policy import (
    FORBIDDEN_FUNCTIONS,
    FORBIDDEN_RELATIONS,
    FORBIDDEN_SETTINGS,
    SETTING_FUNCTIONS,
)
from querydeck.drivers.tls import ca_file, ca_sslmode, is_untrusted
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionUntrusted,
    DatabaseAccessDenied,
    DatabaseNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    ResultTypeMismatch,
    SqlNotReadOnly,
    UpstreamUnavailable,
)
from querydeck.sql.rules import NativeCheck

#: Statements a server-side cursor can stream (``DECLARE … CURSOR FOR`` accepts these).
_DECLARABLE = re.compile(
    r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*(select|with|values|table)\b", re.I | re.S
)
_EXPLAIN = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*(explain|show)\b", re.I | re.S)
_LOST = "The connection to PostgreSQL was lost; open a new one."
#: Ends the transaction and resets the session in one round trip: what ``DISCARD ALL``
#: does (PostgreSQL documents it as this sequence), which itself cannot follow the
#: ``ROLLBACK`` in one text (it refuses to run in the implicit transaction of a
#: multi-statement query). Settings, role and session authorization, cursors, prepared
#: statements, LISTENs, advisory locks, cached plans, temporary tables, sequence state.
#: How often the server checks, while a statement runs, that querydeck is still there.
CLIENT_CHECK_MS = 1000
_RESET = (
    b"ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; "
    b"UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; "
    b"DISCARD SEQUENCES"
)
#: Objects with smaller OIDs are built into the server (``FirstNormalObjectId``).
_FIRST_USER_OID = 16384


class PostgresOptions(DriverOptions):
    host: str
    port: int = Field(5432, ge=1, le=65535)
    database: str
    user: str
    password: SecretStr | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    ssl_ca_certificate: str | None = Field(
        default=None,
        description="Id of an uploaded CA certificate to verify the server with (libpq "
        "sslrootcert); sslmode then defaults to verify-full.",
    )
    flavour: Literal["opengauss", "gaussdb", "kingbasees", "redshift"] | None = Field(
        default=None,
        description="A database that speaks PostgreSQL's protocol (see docs/connections.md): "
        "its cursors, session reset, privileges, system schemas and functions.",
    )

    @model_validator(mode="before")
    @classmethod
    def _ca_mode(cls, data: Any) -> Any:
        return ca_sslmode(data, "PostgreSQL")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value, "PostgreSQL")


class PostgresDriver(Driver[PostgresOptions]):
    """PostgreSQL (and compatible servers) through psycopg 3."""

    name: ClassVar[str] = "postgres"
    title: ClassVar[str] = "PostgreSQL"
    dialect: ClassVar[str] = "postgres"
    Options: ClassVar[type[DriverOptions]] = PostgresOptions
    capabilities: ClassVar[Capabilities] = Capabilities(arrays=True)
    url_schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")
    forbidden_functions: ClassVar[Mapping[str, str]] = FORBIDDEN_FUNCTIONS
    forbidden_relations: ClassVar[Mapping[str, str]] = FORBIDDEN_RELATIONS
    forbidden_settings: ClassVar[Mapping[str, str]] = FORBIDDEN_SETTINGS
    setting_functions: ClassVar[frozenset[str]] = SETTING_FUNCTIONS
    secret_free_options: ClassVar[frozenset[str]] = frozenset({"flavour"})
    flavour_functions: ClassVar[Mapping[str, Mapping[str, str]]] = {
        name: each.forbidden_functions for name, each in FLAVOURS.items()
    }
    native_check: ClassVar[NativeCheck | None] = check_postgres
    ddl_style: ClassVar[DdlStyle] = DdlStyle(comments="statements")

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        parts = split_url(url, cls.url_schemes)
        return server_url_options(parts, "PostgreSQL", "postgresql://host/database")

    def target(self) -> str:
        return f"{self.options.host}:{self.options.port}/{self.options.database}"

    def conninfo(self, timeout_s: float) -> str:
        """The libpq connection string; every value is quoted by ``make_conninfo``."""
        opts = self.options
        password = opts.password.get_secret_value() if opts.password is not None else None
        extra = {"password": password} if password is not None else {}
        rootcert = ca_file(self.sandbox, opts.ssl_ca_certificate)
        if rootcert is not None:
            extra["sslrootcert"] = rootcert
        return make_conninfo(
            host=check_host(opts.host, "PostgreSQL"),
            hostaddr=self.sandbox.addresses.pin(opts.host, opts.port, "PostgreSQL"),
            port=str(opts.port),
            dbname=opts.database,
            user=opts.user,
            sslmode=opts.sslmode,
            connect_timeout=str(max(2, math.ceil(timeout_s))),
            # A peer that vanished is found by keepalives, data the server never
            # acknowledges ends the session (libpq's write timeout); a server that stays
            # silent is ended by abort() after the run's cancel (see the runner).
            keepalives="1",
            keepalives_idle=str(KEEPALIVE_IDLE_S),
            keepalives_interval=str(KEEPALIVE_INTERVAL_S),
            keepalives_count=str(KEEPALIVE_COUNT),
            tcp_user_timeout=str(max(2, math.ceil(timeout_s)) * 1000),
            application_name="querydeck",
            client_encoding="UTF8",
            **extra,
        )

    def connect(self, *, timeout_s: float) -> PostgresSession:
        return PostgresSession(
            self.open_native(timeout_s),
            flavour(self.options.flavour),
            reopen=lambda: self.open_native(timeout_s),
        )

    def open_native(self, timeout_s: float) -> psycopg.Connection[tuple[Any, ...]]:
        """A new psycopg connection in autocommit mode, set up for querydeck."""
        try:
            conn = psycopg.connect(self.conninfo(timeout_s), autocommit=True)
        except psycopg.Error as exc:
            raise connect_error(exc, self.target()) from None
        # No server-side prepared statements: a pooled session's reset (DISCARD ALL) drops
        # them, psycopg's cache of them fell out of step, and the next execution of a
        # cached text failed ("prepared statement _pg3_0 does not exist"): the driver's
        # own ROLLBACK lost the session one run in seven, a repeated EXPLAIN failed.
        conn.prepare_threshold = None
        types.register_loaders(conn.adapters)
        return conn


#: The longest engine hint or detail kept with an error.
_ENGINE_TEXT_CHARS = 1000


def connect_error(exc: psycopg.Error, target: str) -> ConnectionFailed:
    """A querydeck error for a failed connection attempt (libpq's text names no secret)."""
    text = str(exc).strip()
    reason = text.rsplit("failed: ", 1)[-1].strip().splitlines()[0] if text else "unknown"
    if "password authentication failed" in text or re.search(r'role ".*" does not exist', text):
        return AuthenticationFailed(
            f"PostgreSQL at {target} rejected the user name or password.",
            detail={"target": target},
        )
    if re.search(r'database ".*" does not exist', text):
        return DatabaseNotFound(
            f"The database of {target} does not exist.", detail={"target": target}
        )
    if is_untrusted(text):
        return ConnectionUntrusted(
            f"The TLS certificate of PostgreSQL at {target} did not verify: {reason}",
            detail={"target": target},
        )
    if "permission denied for database" in text:
        return DatabaseAccessDenied(
            f"PostgreSQL at {target} accepted the login, but it may not connect to that "
            "database (no CONNECT privilege): grant it on the server, or choose another "
            "database.",
            detail={"target": target},
        )
    if "pg_hba.conf" in text:
        return DatabaseAccessDenied(
            f"PostgreSQL at {target} does not accept this login for this database from "
            f"this address (its pg_hba.conf): {reason}",
            detail={"target": target},
        )
    return UpstreamUnavailable(
        f"Cannot reach PostgreSQL at {target}: {reason}", detail={"target": target}
    )


class PostgresSession(EngineSession):
    """One psycopg connection in autocommit mode; each execute is its own transaction."""

    def __init__(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        kind: PostgresFlavour = BASE,
        *,
        reopen: Callable[[], psycopg.Connection[tuple[Any, ...]]] | None = None,
    ) -> None:
        self._conn = conn
        self.flavour = kind
        #: Opens a new session, for flavours whose sessions cannot be reset in place.
        self._reopen = reopen
        self._busy = False
        self._cancel_requested = False
        self._lock = threading.Lock()
        self._stream: PostgresResultStream | CopyResultStream | None = None
        self._type_names: dict[tuple[int, int], str] = {}
        self._cursors = 0
        #: The session is as a reset leaves it (no statement has run since the last one).
        self._fresh = True
        #: One cursor for the driver's own control statements (setup, reset).
        self._control = conn.cursor()
        #: Raw libpq calls on the same connection (see :mod:`.libpq`).
        self.wire = Wire(conn.pgconn)

    def ping(self) -> ServerInfo:
        row = self.call(lambda: self._conn.execute("SHOW server_version").fetchone())
        return ServerInfo(version=str(row[0]) if row else "")

    def privileges(self) -> list[str]:
        return self.call(lambda: self.flavour.probe(self._conn))  # type: ignore[no-any-return]

    def execute(self, sql_text: str, *, timeout_s: float) -> ResultStream:
        if "\x00" in sql_text:
            raise QueryFailed("The statement contains a NUL character.")
        if self._stream is not None:
            self._stream.close()
        if self._conn.closed or self._conn.broken:
            raise UpstreamUnavailable(_LOST)
        self._cancel_requested = False
        self._fresh = False
        deadline = time.monotonic() + timeout_s
        setup = (
            b"BEGIN READ ONLY",
            b"SET LOCAL statement_timeout = %d" % max(1, int(timeout_s * 1000)),
            *self._server_limits(timeout_s),
            *self.flavour.transaction_settings,
        )
        statement = sql_text.encode()
        stream: PostgresResultStream | CopyResultStream
        try:
            cursor, name = self._open_cursor(statement, setup)
            described = cursor.pgresult
            if (
                name is not None
                and described
                and self.flavour.binary_copy
                and copy_stream.copyable(statement, described)
            ):
                oids = [described.ftype(i) for i in range(described.nfields)]
                stream = CopyResultStream(self, statement, self._schema(cursor), oids)
            else:
                fetch = None
                if name is not None:
                    fetch = b'FETCH FORWARD %d FROM "%s"' % (BATCH_ROWS, name)
                    self.call(lambda: cursor.execute(fetch))
                stream = PostgresResultStream(self, cursor, self._schema(cursor), deadline, fetch)
        except BaseException:
            self.rollback()
            raise
        self._stream = stream
        stream.prefetch()
        return stream

    def _server_limits(self, timeout_s: float) -> tuple[bytes, ...]:
        """Limits the server enforces on its own, so a killed or vanished querydeck leaves
        nothing running: the transaction ends when idle longer than the run may last, and
        a statement ends when the server finds its client gone (checked every second)."""
        if not self.flavour.session_limits:
            return ()
        version = self._conn.info.server_version
        limits = []
        if version >= 90600:
            idle = max(1000, int(timeout_s * 1000))
            limits.append(b"SET LOCAL idle_in_transaction_session_timeout = %d" % idle)
        if version >= 140000:
            limits.append(b"SET LOCAL client_connection_check_interval = %d" % CLIENT_CHECK_MS)
        return tuple(limits)

    def _open_cursor(
        self, statement: bytes, setup: tuple[bytes, ...]
    ) -> tuple[psycopg.Cursor[tuple[Any, ...]], bytes | None]:
        """Run ``setup`` (the transaction's own statements) and open ``statement``: for a
        query, a plain cursor and the name of the server-side cursor declared for it; for
        EXPLAIN and SHOW, a cursor holding the whole result and None.

        A query is declared as a server-side cursor (``DECLARE``) and described in the same
        round trip as the setup (``FETCH FORWARD 0`` returns no row, runs nothing, and
        describes the columns; the cursor then holds that description): its rows are read
        with binary ``COPY`` when :mod:`querydeck.drivers.postgres.copy_stream` can decode
        them, else fetched from the cursor in batches. All of them are sent in libpq's
        pipeline mode, in the extended protocol, which accepts one statement per message and
        nothing after it; a failure stops the ones after it."""
        text = statement.decode()
        cursor = self._conn.cursor()
        if _DECLARABLE.match(text):
            self._cursors += 1
            name = b"querydeck_%d" % self._cursors  # a name of ours: nothing to quote
            declare = b'DECLARE "%s" %sCURSOR FOR ' % (name, self.flavour.declare_options)
            describe = b'FETCH FORWARD 0 FROM "%s"' % name
            try:
                cursor.pgresult = self.call(
                    lambda: self.wire.pipelined(*setup, declare + statement, describe)
                )
            except QueryFailed as exc:  # the position counts from the statement, not DECLARE
                if "position" in exc.detail:
                    exc.detail["position"] = max(1, exc.detail["position"] - len(declare))
                raise
            return cursor, name
        if not _EXPLAIN.match(text):
            first = (text.split(None, 1) or [""])[0][:40].upper()
            raise SqlNotReadOnly(
                "PostgreSQL connections run only queries (SELECT, VALUES, TABLE), EXPLAIN "
                "and SHOW.",
                detail={"construct": first},
            )
        self.call(lambda: self._control.execute(b"; ".join(setup)))
        # In a pipeline psycopg always uses the extended protocol: one statement only.
        self.call(lambda: self._pipelined(cursor, statement))
        return cursor, None

    def _pipelined(self, cursor: psycopg.Cursor[tuple[Any, ...]], statement: bytes) -> None:
        with self._conn.pipeline():
            cursor.execute(statement)

    def _schema(self, cursor: psycopg.Cursor[tuple[Any, ...]]) -> pa.Schema:
        if not cursor.description:
            return pa.schema([])
        result = cursor.pgresult
        assert result is not None
        keys = [(col.type_code, result.fmod(i)) for i, col in enumerate(cursor.description)]
        missing = sorted({key for key in keys if key not in self._type_names})
        if missing:
            names = self.call(
                lambda: self._conn.execute(
                    "SELECT format_type(o, m) FROM unnest(%s::oid[], %s::int4[]) AS t(o, m)",
                    ([k[0] for k in missing], [k[1] for k in missing]),
                ).fetchall()
            )
            self._type_names.update(
                {key: str(row[0]) for key, row in zip(missing, names, strict=True)}
            )
        fields = [
            arrow_rows.field(
                col.name,
                types.column_type(col.type_code, col.precision, col.scale),
                self._type_names[key],
            )
            for col, key in zip(cursor.description, keys, strict=True)
        ]
        return pa.schema(fields)

    def set_remaining(self, deadline: float) -> None:
        """Lower the transaction's ``statement_timeout`` to what is left of the budget."""
        remaining = int((deadline - time.monotonic()) * 1000)
        if remaining <= 0:
            raise QueryTimeout("The statement ran past its time limit.")
        self.call(
            lambda: self._conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(remaining),)
            )
        )

    def call(self, action: Callable[[], Any]) -> Any:
        """Run one round trip, mapping psycopg errors to querydeck errors."""
        if self._conn.closed or self._conn.broken:
            raise UpstreamUnavailable(_LOST)
        try:
            with self.busy():
                return action()
        except psycopg.Error as exc:
            raise self._map_error(exc) from None

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark the session as waiting on the server: :meth:`cancel` then reaches it."""
        with self._lock:
            self._busy = True
        try:
            yield
        finally:
            with self._lock:
                self._busy = False

    def map_error(self, exc: psycopg.Error, prefix: int = 0) -> QueryDeckError:
        """A querydeck error for ``exc``, raised by a statement that ran with ``prefix``
        bytes of the driver's own text before the user's (its position counts from the
        user's text)."""
        error = self._map_error(exc)
        if prefix and "position" in error.detail:
            error.detail["position"] = max(1, error.detail["position"] - prefix)
        return error

    def _map_error(self, exc: psycopg.Error) -> QueryDeckError:
        message = (exc.diag.message_primary or str(exc)).strip() or type(exc).__name__
        if self._conn.broken or self._conn.closed:
            return UpstreamUnavailable(f"{_LOST} ({message})")
        if isinstance(exc, psycopg.errors.QueryCanceled):
            if "statement timeout" in message:
                return QueryTimeout("The statement ran past its time limit.")
            return QueryCancelled("The statement was cancelled.")
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not exc.sqlstate:
            return UpstreamUnavailable(f"PostgreSQL is unavailable: {message}")
        detail: dict[str, Any] = {"sqlstate": exc.sqlstate} if exc.sqlstate else {}
        if exc.diag.statement_position:
            detail["position"] = int(exc.diag.statement_position)
        # The engine's own help: "Perhaps you meant to reference the column ...".
        for key, value in (
            ("hint", exc.diag.message_hint),
            ("engine_detail", exc.diag.message_detail),
        ):
            if value and value.strip():
                detail[key] = value.strip()[:_ENGINE_TEXT_CHARS]
        return QueryFailed(message, detail=detail)

    def rollback(self) -> None:
        """End the current transaction and reset the session (one round trip: a pooled
        session needs nothing more before its next run); a failure closes the
        connection."""
        if self._conn.closed or self._conn.broken:
            return
        try:
            self._control.execute(_RESET if self.flavour.discard else b"ROLLBACK")
        except psycopg.Error:
            if not self._conn.broken:
                self._conn.close()
            return
        self._fresh = self.flavour.discard

    def stream_closed(self, stream: PostgresResultStream | CopyResultStream) -> None:
        if self._stream is stream:
            self._stream = None

    def cancel(self) -> None:
        with self._lock:
            busy = self._busy
            self._cancel_requested = self._stream is not None or busy
        if busy:
            # A failed cancel request is retried by the watchdog; a lost connection
            # surfaces on the next call.
            with contextlib.suppress(psycopg.Error):
                self._conn.cancel_safe(timeout=5)

    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def abort(self) -> None:
        """Shut the socket down: a round trip waiting on a server that ignored the cancel
        request (or never got it) fails at once; the session is then broken."""
        self._cancel_requested = True
        with contextlib.suppress(psycopg.Error, OSError, ValueError):
            shut_down(self._conn.pgconn.socket)

    def reset(self) -> bool:
        """The session as new: the end of a result already reset it (``ROLLBACK`` and what
        ``DISCARD ALL`` does, see ``_RESET``), else it is reset now. The session's own
        settings (application name, encoding) were sent at connect time and survive; names
        of user-defined types are looked up again."""
        if self._stream is not None:
            self._stream.close()
        idle = self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if self._fresh and idle:
            if not self.alive():  # ended by the server since (or it sent something)
                raise UpstreamUnavailable(_LOST)
        elif self.flavour.discard or self._reopen is None:
            self.call(lambda: self._control.execute(_RESET))
            self._fresh = True
        else:
            self._replace()
        self._cancel_requested = False
        self._type_names = {k: v for k, v in self._type_names.items() if k[0] < _FIRST_USER_OID}
        return True

    def _replace(self) -> None:
        """A flavour whose session cannot be reset in place: a new session replaces it."""
        assert self._reopen is not None
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        self._conn = self._reopen()
        self._control = self._conn.cursor()
        self.wire = Wire(self._conn.pgconn)
        self._type_names = {}
        self._fresh = True

    def alive(self) -> bool:
        if self._conn.closed or self._conn.broken:
            return False
        return not socket_readable(self._conn.pgconn.socket)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._conn.close()

    # --- catalog: the queries live in postgres_catalog -------------------------------

    @property
    def native(self) -> psycopg.Connection[tuple[Any, ...]]:
        return self._conn

    def schemas(self) -> list[str]:
        return postgres_catalog.schemas(self)

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        return postgres_catalog.describe_schema(self, schema, timeout_s)


class PostgresResultStream(BatchReader):
    """Rows of one statement fetched from its cursor; closing it rolls the transaction
    back."""

    def __init__(
        self,
        owner: PostgresSession,
        cursor: psycopg.Cursor[tuple[Any, ...]],
        schema: pa.Schema,
        deadline: float,
        fetch: bytes | None = None,
    ) -> None:
        super().__init__(schema)
        self._owner = owner
        self._cursor = cursor
        self._deadline = deadline
        #: ``FETCH`` of the next batch of a server-side cursor (None: the cursor holds the
        #: whole result). The cursor holds the first batch already.
        self._fetch = fetch
        self._converters = [types.value_converter(f.type) for f in schema]
        self._fetches = 0
        self._done = not schema.names

    def exhausted(self) -> bool:
        return self._done

    def read_batch(self) -> pa.RecordBatch | None:
        if self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        if self._fetch is not None and self._fetches:
            self._owner.set_remaining(self._deadline)
            fetch = self._fetch
            self._owner.call(lambda: self._cursor.execute(fetch))
        self._fetches += 1
        rows = self._owner.call(lambda: self._cursor.fetchmany(BATCH_ROWS))
        if len(rows) < BATCH_ROWS:
            self._done = True
        if not rows:
            return None
        try:
            rows = types.convert_rows(rows, self._converters)
        except (ValueError, ArithmeticError) as exc:
            raise ResultTypeMismatch(f"A value cannot be read: {exc}.") from None
        return arrow_rows.rows_to_batch(rows, self.schema)

    def release(self) -> None:
        self._owner.rollback()
        with contextlib.suppress(psycopg.Error):  # the cursor ended with the transaction
            self._cursor.close()
        self._owner.stream_closed(self)
