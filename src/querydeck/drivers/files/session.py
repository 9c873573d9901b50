"""The DuckDB session of the file drivers: an in-memory database whose tables are views
over the connection's files, sandboxed to exactly those files.

Opening one: the packaged extensions are loaded (never downloaded; a file whose signature
DuckDB checked earlier in the process is not hashed again), the driver's set-up
statements run (an S3 secret), the driver lists its files and plans the views, then
``allowed_paths`` is set to those files alone (plus ``allowed_directories`` where a table
format reads a folder), external access is turned off and the configuration is locked;
only then are the views created, so even reading a file's schema stays inside the
sandbox. Exactly the listed paths are allowed: a ``..`` inside an S3 key would otherwise
pass a directory prefix. Statements then run as on the DuckDB driver (one statement, of a
reading type, with a deadline timer), after the driver's own table-function check
(:mod:`querydeck.drivers.files.statement`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from querydeck.drivers.base import ResultStream
from querydeck.drivers.catalog_model import SchemaMeta
from querydeck.drivers.duckdb.engine import (
    READ_STATEMENT_TYPES,
    DuckDBSession,
    load_packaged_extension,
    verified_extensions,
)
from querydeck.drivers.duckdb.literals import text_literal
from querydeck.drivers.files.options import quote_name
from querydeck.drivers.files.statement import Names, check_table_functions, read_names
from querydeck.errors import ConnectionFailed, FileAccessDenied, QueryDeckError


@dataclass
class View:
    """One table of the session: its name, the ``SELECT`` that reads it, where it comes
    from (the catalog's comment), or an Arrow object scanned in-process (ORC files)."""

    name: str
    sql: str | None
    comment: str
    arrow: Callable[[], Any] | None = None
    #: The attached database the view is made in (a federated session's source), or None
    #: for the session's own.
    catalog: str | None = None

    def qualified(self) -> str:
        if self.catalog is None:
            return quote_name(self.name)
        return f"{quote_name(self.catalog)}.main.{quote_name(self.name)}"


@dataclass
class Plan:
    """What a driver found to read: the views, and the paths the session may read."""

    views: list[View] = field(default_factory=list)
    allowed_paths: list[str] = field(default_factory=list)
    allowed_directories: list[str] = field(default_factory=list)
    #: The ``SELECT`` of a table name not among the views (a version: ``"t@3"``), or None.
    resolve: Callable[[str], str | None] | None = None
    #: What the files looked like when they were listed for the views (the listing's
    #: entries, see :data:`~querydeck.drivers.files.layout.Entry`), or None: the session
    #: is then never reused.
    fingerprint: object = None


@dataclass(frozen=True)
class SessionSpec:
    """A session's settings. ``base`` is the connection's own location (a directory or
    ``s3://bucket/prefix/``): engine messages show paths relative to it."""

    base: str
    shown: str
    memory_limit: str
    threads: int
    extensions: Sequence[str] = ()
    setup: Sequence[str] = ()
    secrets: Sequence[str] = ()
    #: What the connection's files look like now (names, sizes, times), listed again when
    #: a pooled session is taken: it is reused only while this equals the plan's
    #: fingerprint, taken by the very listing its views were made from.
    fingerprint: Callable[[], object] | None = None
    #: Other locations to show by name in messages (a federated session's sources).
    places: Sequence[tuple[str, str]] = ()


#: Names of the Arrow objects registered in a session (ORC files, CSV through pyarrow).
_ARROW_NAMES = itertools.count()


class FilesSession(DuckDBSession):
    """A DuckDB session over files: the DuckDB driver's connection plus the table-function
    check, messages without the connection's own location, and a catalog of files."""

    def __init__(
        self, native: duckdb.DuckDBPyConnection, spec: SessionSpec, plan: Plan, problems: list[str]
    ) -> None:
        super().__init__(native)
        self._spec = spec
        self._comments = {v.name: v.comment for v in plan.views}
        self._problems = problems
        self._resolve = plan.resolve
        self._created: set[str] = {v.name.casefold() for v in plan.views}
        self.fingerprint: object = None

    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        self._check_open()
        if self._stream is not None:
            self._stream.close()
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise self._map_error(exc) from exc
        if len(statements) == 1 and statements[0].type.name in READ_STATEMENT_TYPES:
            try:
                names = read_names(self._native, sql, statements[0].type.name)
                check_table_functions(names)
                self._checked(names)
            except duckdb.Error as exc:
                raise self._map_error(exc) from exc
        return super().execute(sql, timeout_s=timeout_s)

    def _checked(self, names: Names) -> None:
        """What a statement names, once checked and before it runs: the versions of lake
        tables it names are made into views."""
        self._add_versions(names.tables)

    def _add_versions(self, tables: frozenset[str]) -> None:
        """Create the views of the versions of tables a statement names (``"t@3"``) that
        the driver knows how to read; other names are left to DuckDB to report."""
        if self._resolve is None:
            return
        for name in sorted(tables):
            if name.casefold() in self._created:
                continue
            sql = self._resolve(name)
            if sql is not None:
                self._native.execute(f"CREATE VIEW {quote_name(name)} AS {sql}")
                self._created.add(name.casefold())

    def _map_error(self, exc: Exception) -> QueryDeckError:
        error = super()._map_error(exc)
        if isinstance(error, FileAccessDenied):
            return FileAccessDenied(
                "DuckDB refused to read a file, reach the network or load an extension: this "
                "connection reads its own files only."
            )
        error.message = self._hide_base(error.message)
        error.args = (error.message,)
        for key, value in list(error.detail.items()):
            if isinstance(value, str):
                error.detail[key] = self._hide_base(value)
        return error

    def _hide_base(self, text: str) -> str:
        return hide(text, self._spec)

    def schemas(self) -> list[str]:
        return ["main"]

    def reset(self) -> bool:
        """Reusable: a statement cannot change the session (only reads run and the
        configuration is locked). Whether its files are still those it read is checked
        by :meth:`alive` when the session is taken again."""
        if self._closed or self.fingerprint is None:
            return False
        if self._stream is not None:
            self._stream.close()
        return True

    def alive(self) -> bool:
        """The files are as they were when the session opened (names, sizes, times: a
        walk of the directory, or one LIST request on S3); a changed, added or removed
        file means a new session, which lists them again."""
        if self._closed or self._spec.fingerprint is None or self.fingerprint is None:
            return False
        try:
            return bool(self._spec.fingerprint() == self.fingerprint)
        except (OSError, duckdb.Error, QueryDeckError):
            return False

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        """Each file table as a table (its reading SQL is not shown: it names the
        connection's location), commented with where it comes from."""
        meta = super().describe_schema(schema, timeout_s=timeout_s)
        for table in meta.tables:
            if table.name in self._comments:
                table.kind, table.definition = "table", None
                table.comment = self._comments[table.name]
        meta.problems.extend(self._problems)
        return meta


def hide(text: str, spec: SessionSpec) -> str:
    """``text`` without the connection's location and secrets."""
    for secret in spec.secrets:
        if secret:
            text = text.replace(secret, "***")
    for base, shown in ((spec.base, spec.shown), *spec.places):
        if base.rstrip("/"):
            text = text.replace(base, "").replace(base.rstrip("/"), shown)
    return text


def open_session(
    spec: SessionSpec,
    plan: Callable[[duckdb.DuckDBPyConnection], Plan],
    connection: type[FilesSession] | None = None,
) -> FilesSession:
    """A locked-down session (a ``connection``, by default a :class:`FilesSession`)
    with the views ``plan`` (called with the session before it is locked, to list files)
    returns."""
    config: dict[str, Any] = {
        "enable_external_access": True,  # off once allowed_paths is set, before any view
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        # DuckDB hashes each extension file again for every database it loads it into;
        # those it verified earlier in the process load without that (off once loaded).
        "allow_unsigned_extensions": verified_extensions(spec.extensions),
        "memory_limit": spec.memory_limit,
        "threads": spec.threads,
        # No spill files: DuckDB would write them under the server's working directory, up
        # to 90% of the disk; past memory_limit a statement fails with RESOURCE_LIMIT.
        "temp_directory": "",
    }
    native = duckdb.connect(":memory:", config=config)
    try:
        native.execute("SET enable_progress_bar = false")
        for name in spec.extensions:
            load_packaged_extension(native, name)
        native.execute("SET allow_unsigned_extensions = false")  # signed ones only from here
        try:
            for statement in spec.setup:
                native.execute(statement)
            planned = plan(native)
            _lock(native, planned)
        except duckdb.Error as exc:
            raise ConnectionFailed(
                f"The session over {spec.shown} cannot be opened: {hide(str(exc), spec)}"
            ) from None
        problems = _create_views(native, planned, spec)
    except BaseException:
        native.close()
        raise
    conn = (connection or FilesSession)(native, spec, planned, problems)
    if spec.fingerprint is not None:
        conn.fingerprint = planned.fingerprint
    return conn


def _lock(native: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    with contextlib.suppress(duckdb.Error):  # without ICU, time zones are UTC anyway
        native.execute("SET TimeZone = 'UTC'")
    # An empty list would leave the setting as it is; a path that cannot exist stands in.
    native.execute(f"SET allowed_paths = {text_list(plan.allowed_paths or ['/nonexistent/qd'])}")
    if plan.allowed_directories:
        native.execute(f"SET allowed_directories = {text_list(plan.allowed_directories)}")
    native.execute("SET enable_external_access = false")
    native.execute("SET lock_configuration = true")
    external = native.execute(
        "SELECT current_setting('enable_external_access'), "
        "current_setting('allow_unsigned_extensions')"
    ).fetchone()
    if not (external and external[0] is False and external[1] is False):
        raise ConnectionFailed("DuckDB would allow external access; the connection is refused.")


def text_list(values: Sequence[str]) -> str:
    """A list literal of texts. Session statements take no parameters: DuckDB's Python
    client imports pandas (about 0.4 s) to convert the first one of a process, where
    pandas is installed."""
    return "[" + ", ".join(text_literal(value) for value in values) + "]"


def _create_views(native: duckdb.DuckDBPyConnection, plan: Plan, spec: SessionSpec) -> list[str]:
    """Create every view; one whose files cannot be read becomes a view that fails with
    the reason when queried, and the reason is listed as a catalog problem."""
    problems: list[str] = []
    for view in plan.views:
        name = view.qualified()
        try:
            sql = view.sql
            if view.arrow is not None:
                # A registered object is not in the catalog; a view over it is.
                scanned = f"qd_arrow_{next(_ARROW_NAMES)}"
                native.register(scanned, view.arrow())
                sql = f"SELECT * FROM {scanned}"
            native.execute(f"CREATE VIEW {name} AS {sql}")
        except (duckdb.Error, OSError, ValueError) as exc:
            reason = f"The table {view.name} ({view.comment}) cannot be read: " + hide(
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                spec,
            )
            problems.append(reason)
            native.execute(
                f"CREATE VIEW {name} AS SELECT error({text_literal(reason)}) AS unreadable"
            )
    return problems
