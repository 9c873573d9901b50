"""A ClickHouse session: one clickhouse-connect client, one HTTP request per statement.

Imported by :meth:`ClickHouseDriver.connect` on first use (clickhouse-connect and its
codecs are not loaded by a server that never opens a ClickHouse connection).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import urllib3
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseError
from clickhouse_connect.driver.exceptions import OperationalError

from querydeck.drivers.base import EngineSession, ResultStream, ServerInfo
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.clickhouse import catalog, privileges, types
from querydeck.drivers.clickhouse.client import (
    CompatibleClient,
    client_kwargs,
    error_code,
    error_message,
)
from querydeck.drivers.clickhouse.transport import Sockets, deadline, pool_manager
from querydeck.drivers.sliced import SlicedStream
from querydeck.drivers.statements import require_query
from querydeck.drivers.tls import client_context, is_untrusted
from querydeck.errors import (
    AuthenticationFailed,
    CatalogTimeout,
    ConnectionFailed,
    ConnectionUntrusted,
    DatabaseNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    UpstreamUnavailable,
)

_LOST = "The connection to ClickHouse was lost; open a new one."
#: Seconds a statement's reads may wait past its time limit.
READ_MARGIN_S = 10.0
#: Requests of opening a session (the client's handshake and the profile's settings),
#: each allowed the connect timeout: opening is cut after this many of them.
OPENING_REQUESTS = 3
#: urllib3's words for a certificate that does not name the host.
_HOST_MISMATCH = re.compile(r"hostname mismatch|doesn't match|not valid for", re.I)
#: ClickHouse error codes querydeck tells apart.
_TIMEOUT = frozenset({159})  # TIMEOUT_EXCEEDED
_CANCELLED = frozenset({394})  # QUERY_WAS_CANCELLED
_AUTH = frozenset({192, 193, 194, 516})  # UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, …
_UNKNOWN_DATABASE = 81
#: The statement's own setting changes and table functions, refused by ``readonly``.
_READONLY = 164


def open_http(
    *,
    host: str,
    address: str,
    port: int,
    user: str,
    password: str,
    database: str,
    sslmode: str,
    cafile: str | None,
    timeout_s: float,
    target: str,
) -> ClickHouseSession:
    """A session with the server at ``address`` (the pinned address of ``host``). The
    client is given its own pool, so no proxy from the environment is ever used and the
    TLS certificate is checked against ``host``."""
    secure = sslmode != "disable"
    pool_options: dict[str, Any] = {"maxsize": 2}
    if secure:
        context = client_context(sslmode, cafile, host)
        # urllib3 sets the context's own host-name check aside and checks the name it is
        # given: the host the user named (the socket goes to the pinned address), or none
        # for verify-ca and require.
        named: dict[str, Any] = (
            {"server_hostname": host, "assert_hostname": host}
            if sslmode == "verify-full"
            else {"assert_hostname": False}
        )
        pool_options.update(ssl_context=context, cert_reqs=context.verify_mode, **named)
    # The statement's client and the KILL QUERY client each have their sockets, to cut.
    sockets, side_sockets = Sockets(), Sockets()
    pools = {
        id(sockets): pool_manager(sockets, **pool_options),
        id(side_sockets): pool_manager(side_sockets, **pool_options),
    }

    def make(pool: urllib3.PoolManager) -> Client:
        return CompatibleClient(
            **client_kwargs(
                interface="https" if secure else "http",
                host=address,
                port=port,
                username=user,
                password=password,
                database=database,
                pool_mgr=pool,
                connect_timeout=max(1, math.ceil(timeout_s)),
                # Each read waits at most the connect timeout (pings, the version check,
                # KILL QUERY); a statement's reads its own limit (ClickHouseSession.bound).
                send_receive_timeout=max(1, math.ceil(timeout_s)),
            )
        )

    # A server that drips its answer defeats the per-read timeout: opening is cut.
    with deadline(OPENING_REQUESTS * timeout_s, sockets):
        try:
            client = make(pools[id(sockets)])
        except ClickHouseError as exc:
            raise connect_error(exc, target) from None
        connection = ClickHouseSession(
            client,
            side=lambda: make(pools[id(side_sockets)]),
            sockets=(sockets, side_sockets),
            side_deadline_s=OPENING_REQUESTS * timeout_s,
        )
        try:
            connection.setup()
        except QueryDeckError:
            connection.close()
            raise
    return connection


def connect_error(exc: BaseException, target: str) -> ConnectionFailed:
    """A querydeck error for a failed connection attempt."""
    code = error_code(exc)
    message = error_message(exc)
    detail: dict[str, Any] = {"target": target}
    if code is not None:
        detail["code"] = code
    if code in _AUTH:
        return AuthenticationFailed(
            f"ClickHouse at {target} rejected the user name or password.", detail=detail
        )
    if code == _UNKNOWN_DATABASE:
        return DatabaseNotFound(f"The database of {target} does not exist.", detail=detail)
    if is_untrusted(str(exc)) or _HOST_MISMATCH.search(str(exc)):
        return ConnectionUntrusted(
            f"The TLS certificate of ClickHouse at {target} did not verify.", detail=detail
        )
    if code is None:
        message = "the server did not answer"
    return UpstreamUnavailable(f"Cannot reach ClickHouse at {target}: {message}", detail=detail)


class ClickHouseSession(EngineSession):
    """One clickhouse-connect client; each execute is one HTTP request of its own.

    ``side`` makes a second client for ``KILL QUERY`` while a statement runs (made on the
    first cancel). A client over chDB (the embedded engine, used by the tests for the types
    the old server lacks) has none."""

    def __init__(
        self,
        client: Client,
        *,
        side: Callable[[], Client] | None = None,
        sockets: tuple[Sockets, Sockets] | None = None,
        side_deadline_s: float = 30.0,
    ) -> None:
        self._client = client
        self._side_factory = side
        #: The sockets of the statement's client and of the side client, to cut.
        self._sockets = sockets
        self._side_deadline_s = side_deadline_s
        self._aborted = False
        self._side: Client | None = None
        self._lock = threading.Lock()
        self._query_id: str | None = None
        self._cancel_requested = False
        self._closed = False
        self._stream: ClickHouseResultStream | None = None
        #: The login's profile ``readonly`` (0: querydeck sets it on every query).
        self.profile_readonly = 0

    def setup(self) -> None:
        """Learn the profile's ``readonly`` setting, which decides what may be sent."""
        query = "SELECT value FROM system.settings WHERE name = 'readonly'"
        # Sent without querydeck's settings: the answer is the profile's own value.
        result = self.call(lambda: self._client.query(query))
        self.profile_readonly = int(result.result_rows[0][0]) if result.result_rows else 0

    def settings(self, timeout_s: float | None) -> dict[str, Any]:
        """The settings of one statement: the time limit first (so that it is applied
        before ``readonly`` forbids changes), then ``readonly``, each only where the
        profile lets them be sent."""
        values: dict[str, Any] = {}
        if timeout_s is not None and self.profile_readonly != 1:
            values["max_execution_time"] = max(1, math.ceil(timeout_s))
            values["timeout_overflow_mode"] = "throw"
        if self.profile_readonly == 0:
            values["readonly"] = 1
        return values

    def ping(self) -> ServerInfo:
        return ServerInfo(version=str(self.rows("SELECT version()")[0][0]))

    def privileges(self) -> list[str]:
        return privileges.probe(self.profile_readonly, self._grants)

    def _grants(self) -> list[str] | None:
        try:
            return [str(row[0]) for row in self.rows("SHOW GRANTS")]
        except QueryFailed:
            return None  # no access control on this server (SHOW GRANTS is a syntax error)

    def rows(
        self, query: str, *, timeout_s: float = 30.0, catalog: bool = False
    ) -> list[tuple[Any, ...]]:
        """Every row of one of querydeck's own (read-only) statements."""

        def action() -> list[tuple[Any, ...]]:
            self.bound(timeout_s)
            result = self._client.query(
                query, settings=self.settings(timeout_s), query_formats={"String": "native"}
            )
            return [tuple(row) for row in result.result_rows]

        try:
            rows: list[tuple[Any, ...]] = self.call(action)
        except QueryTimeout:
            if catalog:
                raise CatalogTimeout("Reading the catalog ran past its time limit.") from None
            raise
        return rows

    def call(self, action: Callable[[], Any]) -> Any:
        """Run one request, mapping clickhouse-connect errors to querydeck errors."""
        if self._closed:
            raise QueryFailed(_LOST)
        try:
            return action()
        except ClickHouseError as exc:
            if self._aborted:
                raise UpstreamUnavailable(f"{_LOST} (the connection was cut)") from None
            raise self.map_error(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # A read of a response's body that a cut (or the server) ended.
            raise UpstreamUnavailable(f"{_LOST} ({type(exc).__name__})") from None

    def map_error(self, exc: BaseException) -> QueryDeckError:
        code = error_code(exc)
        if code in _TIMEOUT:
            return QueryTimeout("The statement ran past its time limit.")
        if code in _CANCELLED or (self._cancel_requested and code is None):
            return QueryCancelled("The statement was cancelled.")
        if code is None and isinstance(exc, OperationalError):
            return UpstreamUnavailable(f"{_LOST} ({error_message(exc)})")
        detail = {"code": code} if code is not None else {}
        return QueryFailed(error_message(exc), detail=detail)

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        if "\x00" in sql:
            raise QueryFailed("The statement contains a NUL character.")
        # readonly=1 refuses writes, DDL, SET and SYSTEM, but not KILL QUERY (which stops
        # other sessions' queries, other users' too on servers without access control).
        require_query(sql, "ClickHouse")
        if self._stream is not None:
            self._stream.close()
        query_id = str(uuid.uuid4())
        with self._lock:
            self._cancel_requested = False
            self._query_id = query_id
        settings = {**self.settings(timeout_s), "query_id": query_id}

        def start() -> Any:
            self.bound(timeout_s)
            context = self._client.create_query_context(
                query=sql,
                settings=settings,
                query_formats=types.READ_FORMATS,
                column_oriented=True,
                streaming=True,
                use_none=True,
            )
            return self._client.query(context=context)

        try:
            result = self.call(start)
            stream = ClickHouseResultStream(self, result)
            stream.prefetch()
        except BaseException:
            self.statement_ended()
            raise
        self._stream = stream
        return stream

    def bound(self, timeout_s: float) -> None:
        """Let each read of the next request wait the statement's limit and a margin (the
        server's ``max_execution_time`` and the watchdog's KILL QUERY come first): a server
        that stops answering ends the request instead of holding it."""
        client: Any = self._client  # the HTTP client's timeout is not in the base class
        current = getattr(client, "timeout", None)
        if current is None:  # an embedded engine (chdb): no network read to bound
            return
        client.timeout = urllib3.Timeout(
            connect=current.connect_timeout, read=timeout_s + READ_MARGIN_S
        )

    def statement_ended(self) -> None:
        with self._lock:
            self._query_id = None
        self._stream = None

    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def running_query(self) -> str | None:
        """The id of the statement in flight, if any."""
        with self._lock:
            return self._query_id

    def cancel(self) -> None:
        with self._lock:
            query_id = self._query_id
            if query_id is None:
                return
            self._cancel_requested = True
        self.kill(query_id)

    def kill(self, query_id: str) -> None:
        """``KILL QUERY`` by id, from the side client (the running request holds the main
        client's connection). A failure is left to the watchdog, which calls again."""
        if self._side_factory is None:
            return
        cut = self._sockets[1] if self._sockets is not None else Sockets()
        with (
            deadline(self._side_deadline_s, cut),
            contextlib.suppress(ClickHouseError, QueryDeckError, urllib3.exceptions.HTTPError),
        ):
            if self._side is None:
                self._side = self._side_factory()
            # The id is a UUID this session made: nothing to quote.
            self._side.command(f"KILL QUERY WHERE query_id = '{query_id}' ASYNC")

    def abort(self) -> None:
        """Cut both clients' sockets: a request blocked on a server that drips its answer
        (or ignored the KILL QUERY) fails at once. The session is not reused."""
        self._aborted = True
        if self._sockets is None:  # an embedded engine (chdb): nothing to cut
            self.cancel()
            return
        for sockets in self._sockets:
            sockets.cut()

    def reset(self) -> bool:
        """Nothing outlives a statement (no session, settings per request): ending the
        open result is all a reset needs."""
        if self._stream is not None:
            self._stream.close()
        if self._closed:
            raise UpstreamUnavailable(_LOST)
        self._cancel_requested = False
        return True

    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        if self._closed:
            return
        if self._stream is not None:
            self._stream.close()
        self._closed = True
        for client in (self._client, self._side):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def schemas(self) -> list[str]:
        return catalog.schemas(self)

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        return catalog.describe_schema(self, schema, timeout_s)


class ClickHouseResultStream(SlicedStream):
    """The blocks of one response. Closing it early closes the response (the server cancels
    a read-only query whose client went away) and kills the query by id."""

    def __init__(self, owner: ClickHouseSession, result: Any) -> None:
        super().__init__()
        self._owner = owner
        self._types = list(result.column_types)
        self.schema = types.schema_of(list(result.column_names), self._types)
        self._blocks: Any = result.column_block_stream
        self._blocks.__enter__()

    def prefetch(self) -> None:
        """Read the first block now, so that most errors surface from ``execute``."""
        self.fill()

    def next_batch(self) -> pa.RecordBatch | None:
        if self._owner.cancel_requested():
            raise QueryCancelled("The statement was cancelled.")
        block = self._owner.call(lambda: next(self._blocks, None))
        return None if block is None else types.to_batch(block, self._types, self.schema)

    def end(self, *, early: bool) -> None:
        if early:
            query_id = self._owner.running_query()
            if query_id is not None:
                self._owner.kill(query_id)
        with contextlib.suppress(Exception):
            self._blocks.__exit__(None, None, None)
        self._owner.statement_ended()
