"""A Spark Connect session for querydeck: queries only, a deadline timer, interrupt by
operation tag, Arrow batches as the server sends them.

What keeps a statement reading, in order (Spark Connect has no read-only mode):

1. The guard, in Spark's dialect, with :mod:`~querydeck.drivers.spark.policy`.
2. The statement is sent as a subquery, ``SELECT * FROM (<statement>) AS …``: Spark's own
   parser then accepts only a query. ``INSERT``, ``CREATE TABLE … AS``, ``CACHE``,
   ``LOAD DATA``, ``ADD JAR``, ``SET``, ``USE``, SQL scripts and every other command are
   syntax errors there, and nothing runs before the text is parsed (a command sent as it is
   would run as soon as Spark planned it).
3. Spark's analyzer is asked for the statement's plan before it runs, and a plan that
   calls Java through reflection or runs a program (``TRANSFORM … USING``) is refused —
   both are queries, which no setting disables.
4. The session is created with ``spark.sql.runSQLOnFiles=false`` (no ``parquet.`/path```
   reads) and UTC as its time zone; a statement cannot change a setting (``SET`` is a
   command).

What it cannot do: keep a login from writing through other clients (Spark Connect has no
privileges of its own), or stop a query at a server-side time limit (there is none): a
timer interrupts the statement's operation at the deadline.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql.connect.client import DefaultChannelBuilder
from pyspark.sql.connect.client.retries import DefaultPolicy
from pyspark.sql.connect.dataframe import DataFrame
from pyspark.sql.connect.plan import SQL
from pyspark.sql.connect.session import SparkSession
from pyspark.sql.types import StructType

from querydeck.drivers.base import EngineSession, ResultStream, ServerInfo
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.sliced import SlicedStream
from querydeck.drivers.spark import catalog, types
from querydeck.errors import (
    CatalogTimeout,
    DatabaseNotFound,
    QueryCancelled,
    QueryDeckError,
    QueryFailed,
    QueryTimeout,
    SqlForbiddenFunction,
    SqlForbiddenSyntax,
    SqlParseError,
    UpstreamUnavailable,
)

# pyspark logs every failed statement's JVM stack trace at ERROR on its own handler; the
# error reaches the user as a querydeck error, so the log would only repeat it, long.
for _name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

#: Session settings made when the session opens (a statement cannot change them).
SESSION_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.runSQLOnFiles": "false"}
#: The alias of the subquery a statement is sent as.
_ALIAS = "querydeck_statement"
_PREFIX = "SELECT * FROM (\n"
#: What the analyzed plan must not hold: reflection calls and script transformations.
_FORBIDDEN_PLAN = re.compile(
    r"\b(?P<function>reflect|try_reflect|java_method)\(|^[\s|+:-]*(?P<node>\w*ScriptTransformation)\b",
    re.M,
)
_ANALYZED = re.compile(r"== Analyzed Logical Plan ==\n(.*?)(?:\n== |\Z)", re.S)
_TRAILING = re.compile(r"[\s;]*$")
_CANCELLED = ("OPERATION_CANCELED", "OPERATION_INTERRUPTED", "CANCELLED")
_UNAVAILABLE = ("UNAVAILABLE", "failed to connect", "Connection refused", "Deadline Exceeded")


def open_session(
    *,
    host: str,
    address: str,
    port: int,
    database: str,
    user_id: str,
    token: str | None,
    tls: bool,
    timeout_s: float,
    target: str,
) -> SparkEngineSession:
    """A new Spark Connect session at ``address`` (the pinned address of ``host``)."""
    url = f"sc://{address}:{port}/;user_id={user_id}"
    options: list[tuple[str, Any]] = []
    if tls:
        url += ";use_ssl=true"
        options.append(("grpc.ssl_target_name_override", host))
    if token is not None:
        url += f";token={token}"
    session: SparkEngineSession | None = None
    try:
        native = SparkSession(connection=DefaultChannelBuilder(url, channelOptions=options))
        native.client.set_retry_policies([DefaultPolicy(max_retries=2, max_backoff=500)])
        session = SparkEngineSession(native, target)
        # The first calls are bounded as a whole: a server that accepts the connection and
        # never speaks HTTP/2 would hold gRPC's wait for as long as it likes.
        timer = threading.Timer(max(1.0, timeout_s), session.abort)
        timer.daemon = True
        timer.start()
        try:
            session.setup(database, timeout_s)
        finally:
            timer.cancel()
    except PySparkException as exc:
        if session is None or not session.stopped():
            raise session_error(exc, target) from None
        raise UpstreamUnavailable(
            f"Cannot reach Spark Connect at {target}: the server did not answer within "
            f"{timeout_s:g} s.",
            detail={"target": target},
        ) from None
    except QueryDeckError:
        with contextlib.suppress(Exception):
            native.stop()
        raise
    except ValueError as exc:  # a call on the channel abort() closed
        raise UpstreamUnavailable(
            f"Cannot reach Spark Connect at {target}: the server did not answer.",
            detail={"target": target},
        ) from exc
    return session


def session_error(exc: BaseException, target: str) -> QueryDeckError:
    text = str(exc)
    reason = _first_line(text)
    if any(marker in text for marker in _UNAVAILABLE):
        return UpstreamUnavailable(
            f"Cannot reach Spark Connect at {target}: the server did not answer.",
            detail={"target": target},
        )
    return UpstreamUnavailable(
        f"Spark Connect at {target} failed: {reason}", detail={"target": target}
    )


def _first_line(text: str) -> str:
    """The message without the JVM stack trace, the SQLSTATE suffix or the plan."""
    line = text.strip().split("\n", 1)[0]
    return re.sub(r"\s*SQLSTATE: \w+;?.*$", "", line).strip() or "unknown error"


def wrap(sql: str) -> str:
    """The statement as a subquery (see the module docstring): its trailing semicolons go,
    and the closing parenthesis starts a line of its own so that a trailing ``--`` comment
    cannot swallow it."""
    body = _TRAILING.sub("", sql)
    return f"{_PREFIX}{body}\n) AS {_ALIAS}"


class SparkEngineSession(EngineSession):
    """One Spark Connect session. Each statement runs as an operation tagged with an id of
    its own, which :meth:`cancel` and the deadline timer interrupt."""

    def __init__(self, native: SparkSession, target: str) -> None:
        self._native = native
        self._target = target
        self._lock = threading.Lock()
        self._tag: str | None = None
        self._timer: threading.Timer | None = None
        self._timeout_s = 0.0
        self._timed_out = False
        self._cancelled = False
        self._closed = False
        self._stream: SparkResultStream | None = None

    def setup(self, database: str, timeout_s: float) -> None:
        for key, value in SESSION_CONF.items():
            self._native.conf.set(key, value)
        try:
            self._native.catalog.setCurrentDatabase(database)
        except PySparkException as exc:
            if getattr(exc, "getCondition", lambda: None)() in catalog.NOT_FOUND:
                raise DatabaseNotFound(
                    f"The database of {self._target} does not exist.",
                    detail={"target": self._target},
                ) from None
            raise

    @property
    def native(self) -> SparkSession:
        return self._native

    def ping(self) -> ServerInfo:
        return ServerInfo(version=str(self.call(lambda: self._native.version)))

    def privileges(self) -> list[str]:
        return [
            "Spark Connect has no read-only mode or privileges: a session may write tables "
            "and files wherever the server can"
        ]

    def call(self, action: Any) -> Any:
        if self._closed:
            raise QueryFailed("The Spark Connect session is closed.")
        try:
            return action()
        except PySparkException as exc:
            raise self.map_error(exc) from None

    def map_error(self, exc: BaseException) -> QueryDeckError:
        text = str(exc)
        condition = getattr(exc, "getCondition", lambda: None)() or ""
        if self._timed_out:
            return QueryTimeout(
                f"The statement ran longer than the {self._timeout_s:g} s timeout.",
                detail={"timeout_s": self._timeout_s},
            )
        if self._cancelled or condition in _CANCELLED or "OPERATION_CANCELED" in text:
            return QueryCancelled("The statement was cancelled.")
        if any(marker in text for marker in _UNAVAILABLE) and not condition:
            return UpstreamUnavailable(
                f"The connection to Spark Connect at {self._target} was lost.",
                detail={"target": self._target},
            )
        detail: dict[str, Any] = {"condition": condition} if condition else {}
        sqlstate = getattr(exc, "getSqlState", lambda: None)()
        if sqlstate:
            detail["sqlstate"] = sqlstate
        if condition == "PARSE_SYNTAX_ERROR":
            return SqlParseError(
                "Spark's parser does not read the text as one query (Spark connections run "
                f"queries only): {_first_line(text)}",
                detail=detail,
            )
        return QueryFailed(_first_line(text), detail=detail)

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        if "\x00" in sql:
            raise QueryFailed("The statement contains a NUL character.")
        if self._stream is not None:
            self._stream.close()
        tag = f"querydeck-{uuid.uuid4().hex}"
        self._start(tag, timeout_s)
        try:
            frame = DataFrame(SQL(wrap(sql)), self._native)
            self.check_plan(frame)
            stream = SparkResultStream(self, frame, tag)
        except BaseException:
            self.statement_ended()
            raise
        self._stream = stream
        return stream

    def check_plan(self, frame: DataFrame) -> None:
        """Spark's analyzed plan of the statement, checked for reflection and programs."""
        plan = str(self.call(lambda: frame._explain_string(extended=True)))
        found = _ANALYZED.search(plan)
        match = _FORBIDDEN_PLAN.search(found.group(1) if found else plan)
        if match is None:
            return
        if match.group("function"):
            raise SqlForbiddenFunction(
                f"The function {match.group('function')}() is not allowed: it runs Java code "
                "on the Spark server.",
                detail={"construct": match.group("function"), "parser": "spark"},
            )
        raise SqlForbiddenSyntax(
            "TRANSFORM … USING is not allowed: it runs a program on the Spark server.",
            detail={"construct": "TRANSFORM", "parser": "spark"},
        )

    def _start(self, tag: str, timeout_s: float) -> None:
        with self._lock:
            self._tag = tag
            self._cancelled = self._timed_out = False
            self._timeout_s = timeout_s
            self._timer = threading.Timer(timeout_s, self._on_deadline)
            self._timer.daemon = True
            self._timer.start()
        self._native.addTag(tag)

    def _on_deadline(self) -> None:
        with self._lock:
            tag = self._tag
            if tag is None or self._closed:
                return
            self._timed_out = True
        self.interrupt(tag)

    def interrupt(self, tag: str) -> None:
        """Interrupt the operation tagged ``tag`` (a failure is left to the watchdog)."""
        with contextlib.suppress(Exception):
            self._native.interruptTag(tag)

    def statement_ended(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
            tag, self._tag = self._tag, None
        if tag is not None:
            with contextlib.suppress(Exception):
                self._native.removeTag(tag)
        self._stream = None

    def stopped(self) -> bool:
        return self._cancelled or self._timed_out

    def cancel(self) -> None:
        with self._lock:
            tag = self._tag
            if tag is None or self._closed:
                return
            self._cancelled = True
        self.interrupt(tag)

    def abort(self) -> None:
        """Close the gRPC channel at once: every call in flight on it fails (a server that
        never answers, or ignores the interrupt, cannot hold the run)."""
        self._cancelled = True
        client: Any = self._native.client
        with contextlib.suppress(Exception):
            client._channel.close()

    def reset(self) -> bool:
        """A statement cannot leave anything behind (commands never run, settings cannot
        change): ending the open result is the whole reset."""
        if self._stream is not None:
            self._stream.close()
        if self._closed:
            raise UpstreamUnavailable("The Spark Connect session is closed.")
        self._cancelled = self._timed_out = False
        return True

    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        if self._closed:
            return
        if self._stream is not None:
            self._stream.close()
        self._closed = True
        with contextlib.suppress(Exception):
            self._native.stop()

    def schemas(self) -> list[str]:
        return catalog.schemas(self)

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        tag = f"querydeck-{uuid.uuid4().hex}"
        self._start(tag, timeout_s)
        try:
            return catalog.describe_schema(self, schema)
        except QueryTimeout:
            raise CatalogTimeout("Reading the catalog ran past its time limit.") from None
        finally:
            self.statement_ended()


class SparkResultStream(SlicedStream):
    """The Arrow batches of one statement as the server sends them, cast to one schema
    (Spark marks some columns not nullable batch by batch)."""

    def __init__(self, owner: SparkEngineSession, frame: DataFrame, tag: str) -> None:
        super().__init__()
        self._owner = owner
        self._tag = tag
        client = frame._session.client
        plan = frame._plan.to_proto(client)
        self._items: Iterator[Any] = client.to_table_as_iterator(plan, frame._plan.observations)
        try:
            first = self._owner.call(lambda: next(self._items, None))
            if not isinstance(first, StructType):
                raise QueryFailed("Spark Connect sent rows before the result's schema.")
            self.schema = types.schema_of(first)
        except BaseException:
            self.close()
            raise
        self.fill()

    def next_batch(self) -> pa.RecordBatch | None:
        while True:
            if self._owner.stopped():
                raise self._owner.map_error(RuntimeError("OPERATION_CANCELED"))
            item = self._owner.call(lambda: next(self._items, None))
            if item is None:
                return None
            if not isinstance(item, StructType):
                return types.to_batch(item, self.schema)

    def end(self, *, early: bool) -> None:
        if early:
            self._owner.interrupt(self._tag)
            close = getattr(self._items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self._owner.statement_ended()
