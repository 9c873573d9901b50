"""The driver contract. These docstrings are the specification every driver follows.

A *driver* is a class found through the entry-point group ``querydeck.drivers`` (the
built-ins are registered the same way in querydeck's own ``pyproject.toml``). Reading its
class attributes never connects or imports a client library's heavy parts.

Everything here is synchronous: the Workbench calls drivers on a bounded thread pool. The one
method that may be called from another thread while a statement runs is
:meth:`EngineSession.cancel`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict

from querydeck.drivers.catalog_model import DdlStyle, SchemaMeta
from querydeck.errors import CatalogUnsupported, ConnectionParamForbidden, ConnectionUrlInvalid
from querydeck.sandbox.addresses import DEFAULT_POLICY, AddressPolicy
from querydeck.sandbox.fileroots import FileRoots
from querydeck.sql.rules import EngineRules, NativeCheck

if TYPE_CHECKING:  # Arrow (with numpy) loads with the first result, not with the registry
    import pyarrow as pa

#: Rows per record batch a driver should aim for when it builds batches itself.
BATCH_ROWS = 8192


class DriverOptions(BaseModel):
    """Base of every driver's typed options. Unknown keys are refused; secrets are
    ``SecretStr`` fields, which the Workbench stores encrypted and never returns."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Capabilities(BaseModel):
    """What a driver can do, read without connecting."""

    model_config = ConfigDict(frozen=True)

    cancel: bool = True
    server_timeout: bool = True
    read_only_session: bool = True
    #: :meth:`EngineSession.schemas` and :meth:`EngineSession.describe_schema` work.
    catalog: bool = True
    schemas: bool = True
    arrays: bool = False
    file_based: bool = False


#: The option of server drivers naming an uploaded CA certificate
#: (see :mod:`querydeck.sources.pem`).
CA_CERTIFICATE_OPTION = "ssl_ca_certificate"


class CertificatePaths(Protocol):
    """Where an uploaded certificate bundle is stored, for the client library to read."""

    def path(self, certificate_id: str) -> str:
        """The stored PEM file of ``certificate_id``; raises
        :class:`~querydeck.errors.CertificateUnknown` for an id never uploaded."""
        ...


@dataclass(frozen=True)
class Sandbox:
    """Where a driver may go: the outbound-address policy (server drivers resolve, check
    and pin their host with it), the file roots (file drivers check their path with
    them; ``None`` outside a Workbench) and the uploaded certificates (``None`` outside a
    Workbench: then no certificate option can be used)."""

    addresses: AddressPolicy = DEFAULT_POLICY
    files: FileRoots | None = None
    certificates: CertificatePaths | None = None


@dataclass(frozen=True)
class ServerInfo:
    """What :meth:`EngineSession.ping` learns about the other side."""

    version: str


OptionsT = TypeVar("OptionsT", bound=DriverOptions)


class ResultStream(abc.ABC):
    """The rows of one statement, as Arrow record batches.

    ``schema`` is known before the first batch. Iterating yields non-empty batches that all
    have exactly ``schema``; the stream ends when the engine has no more rows or when the
    caller stops iterating (then it must call :meth:`close`, which releases the cursor
    without fetching the rest). Native errors while fetching are raised as querydeck errors.
    """

    schema: pa.Schema

    @abc.abstractmethod
    def __iter__(self) -> Iterator[pa.RecordBatch]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def finished(self) -> bool:
        """True when the driver already knows that no batch follows those yielded so far
        (the runner then skips a progress write for a small result). Default: False."""
        return False


class BatchReader(ResultStream):
    """A stream its driver reads one batch at a time (:meth:`read_batch`, None at the end of
    the rows), the first one ahead (:meth:`prefetch`, so that most errors surface from
    ``execute``). A failure while reading closes the stream; :meth:`release` frees the
    source once, whether the stream was exhausted, failed or was closed early."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._first: pa.RecordBatch | None = None
        self._closed = False

    @abc.abstractmethod
    def exhausted(self) -> bool:
        """The source has no more rows."""

    @abc.abstractmethod
    def read_batch(self) -> pa.RecordBatch | None:
        """The next batch of the source; None at its end."""

    @abc.abstractmethod
    def release(self) -> None:
        """Free the source (stop the statement when rows are left)."""

    def prefetch(self) -> None:
        """Read the first batch now."""
        self._first = self._next()

    def _next(self) -> pa.RecordBatch | None:
        if self._closed or self.exhausted():
            return None
        try:
            return self.read_batch()
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if self._first is not None:
            batch, self._first = self._first, None
            yield batch
        while (batch := self._next()) is not None:
            yield batch
        self.close()

    def finished(self) -> bool:
        return self._closed or (self.exhausted() and self._first is None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._first = None
        self.release()


class EngineSession(abc.ABC):
    """One session with a data source, opened by :meth:`Driver.connect`.

    The session is read-only wherever the engine allows it. It is used by one thread at a
    time, except :meth:`cancel`.
    """

    @abc.abstractmethod
    def ping(self) -> ServerInfo:
        """Round trip to the engine; returns its version string."""

    def privileges(self) -> list[str]:
        """Why this login could change data or reach the server's files or programs (one
        reason per entry); empty when it only reads. Engines without logins return []."""
        return []

    @abc.abstractmethod
    def execute(self, sql: str, *, timeout_s: float) -> ResultStream:
        """Run exactly one (already guarded) statement and stream its rows.

        - Exactly one statement is ever executed, even if ``sql`` contains more (the driver
          uses a single-statement protocol or refuses).
        - ``timeout_s`` is enforced on the server side where the engine can
          (``statement_timeout``, ``max_statement_time``, a progress handler...) and raises
          :class:`~querydeck.errors.QueryTimeout`; the Workbench adds a client watchdog that
          calls :meth:`cancel` a little later.
        - An interruption by :meth:`cancel` raises :class:`~querydeck.errors.QueryCancelled`.
        - Engine errors raise :class:`~querydeck.errors.QueryFailed` with a sanitised
          message; a lost connection raises :class:`~querydeck.errors.UpstreamUnavailable`.
        """

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop the running statement on the engine. Thread-safe; a no-op when idle."""

    def abort(self) -> None:
        """Cut the session's transport, from any thread: a statement blocked on a server
        that no longer answers (a cancel request it ignored) fails at once instead of
        holding its run, its worker and its user's run slot. The session is broken
        afterwards and never reused. The default repeats :meth:`cancel` (engines in this
        process have no transport to cut)."""
        self.cancel()

    @abc.abstractmethod
    def close(self) -> None:
        """Release the session. Idempotent."""

    def reset(self) -> bool:
        """Make an idle session as fresh as a new one so that the next run may reuse it:
        end any transaction and drop everything a statement could have left in the session
        (settings, variables, role, temporary objects, prepared statements, locks), then
        re-apply querydeck's own session settings. Returns False when the driver cannot do
        that (the default: such sessions are closed, never pooled); raises a querydeck
        error when the session is broken."""
        return False

    def sources_read(self) -> list[str]:
        """The registered connections the last statement read through this session (a
        federated session's attached sources), for the run's audit entry; [] for a
        session that reads only its own connection (the default)."""
        return []

    def alive(self) -> bool:
        """A local check, without a round trip, that an idle session still looks usable
        (not closed, nothing unexpected waiting on its socket)."""
        return True

    def schemas(self) -> list[str]:
        """Names of the schemas this login can see, system schemas left out (one round
        trip). Drivers without schemas answer ``["main"]``."""
        raise CatalogUnsupported("This driver cannot describe its catalog.")

    def describe_schema(self, schema: str, *, timeout_s: float) -> SchemaMeta:
        """Every relation of ``schema`` with its columns, keys, indexes and comments, read
        with a handful of set-based catalog queries (never one per table) in a read-only
        session, within ``timeout_s`` (:class:`~querydeck.errors.CatalogTimeout` beyond).
        An unknown schema raises :class:`~querydeck.errors.CatalogNotFound`; what cannot
        be read is listed in :attr:`SchemaMeta.problems` (a partial result)."""
        raise CatalogUnsupported("This driver cannot describe its catalog.")

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Driver(abc.ABC, Generic[OptionsT]):
    """A kind of data source. ``__init__`` stores the options and does no I/O.

    Everything the rest of querydeck must know of the engine is declared here, as class
    attributes read without connecting: the guard asks :meth:`sql_rules`, the catalog
    reads :attr:`ddl_style`."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: sqlglot dialect name used to parse and rewrite statements for this engine.
    dialect: ClassVar[str]
    Options: ClassVar[type[DriverOptions]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: URL schemes a pasted URL may use for this driver (``postgresql``, ``sqlite``...).
    url_schemes: ClassVar[tuple[str, ...]] = ()
    #: Functions a read-only statement may not call on this engine: ``fnmatch`` pattern of
    #: the normalised name → the reason shown (one of :mod:`querydeck.sql.policy`'s).
    #: Required: the registry refuses a driver that declares none (an engine with nothing
    #: to deny declares an empty mapping, on purpose).
    forbidden_functions: ClassVar[Mapping[str, str]]
    #: The engine's own parser's opinion of a statement, where one runs in-process.
    native_check: ClassVar[NativeCheck | None] = None
    #: The server executes ``/*! … */`` comments (the MySQL family): the guard refuses them.
    executable_comments: ClassVar[bool] = False
    #: A quoted table name that looks like a path or URL is read as that file.
    quoted_names_read_files: ClassVar[bool] = False
    #: Catalog reads (``SHOW TABLES``, ``DESCRIBE t``...; the forms of
    #: :mod:`querydeck.sql.metadata`) this engine answers and proves reads by a layer of
    #: its own (its parser, its read-only session).
    metadata_reads: ClassVar[frozenset[str]] = frozenset()
    #: Relations a statement may not read (views over denied functions, system tables that
    #: show the server's paths): ``fnmatch`` pattern (``schema.name`` or ``name``) → reason.
    forbidden_relations: ClassVar[Mapping[str, str]] = {}
    #: Settings a statement may not read by name (``@@datadir``, ``current_setting('…')``):
    #: ``fnmatch`` pattern of the lower-case name → reason.
    forbidden_settings: ClassVar[Mapping[str, str]] = {}
    #: Functions whose first argument names the setting they read.
    setting_functions: ClassVar[frozenset[str]] = frozenset()
    #: How generated DDL reads on this engine.
    ddl_style: ClassVar[DdlStyle] = DdlStyle()
    #: Compatible engines this driver reaches (its ``flavour`` option): flavour → the
    #: functions that engine adds to :attr:`forbidden_functions` (built-ins of its own that
    #: the base engine lacks). Empty: the driver has no flavours.
    flavour_functions: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    #: Options that change neither where nor how the secrets are sent (e.g. ``flavour``):
    #: a stored secret is bound to every other option, so changing one of those (host,
    #: port, user, database, TLS settings, endpoints, anything a driver adds) needs the
    #: secrets given again. Empty (the safe default): every option binds.
    secret_free_options: ClassVar[frozenset[str]] = frozenset()
    #: Modules a run on this engine may import on first use that a server loads before it
    #: accepts requests, when a connection of this driver is registered (the first run
    #: does not pay for them, and concurrent first runs do not import them at once).
    run_path_modules: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sql_rules(cls) -> EngineRules:
        """What the guard must know of this engine (made once per driver class)."""
        made = cls.__dict__.get("_sql_rules")
        if made is None:
            made = EngineRules(
                dialect=cls.dialect,
                forbidden_functions=cls.forbidden_functions,
                native_check=cls.native_check,
                executable_comments=cls.executable_comments,
                quoted_names_read_files=cls.quoted_names_read_files,
                metadata_reads=cls.metadata_reads,
                forbidden_relations=cls.forbidden_relations,
                forbidden_settings=cls.forbidden_settings,
                setting_functions=cls.setting_functions,
            )
            cls._sql_rules = made  # type: ignore[attr-defined]  # cached on the class
        return made

    @classmethod
    def rules_for(cls, options: DriverOptions) -> EngineRules:
        """The guard's rules for one connection: :meth:`sql_rules`, with its flavour's
        additions when its options name one (made once per flavour). The guard asks this,
        so a deny table may depend on which compatible engine a connection reaches."""
        flavour = getattr(options, "flavour", None)
        extra = cls.flavour_functions.get(flavour) if isinstance(flavour, str) else None
        if not extra:
            return cls.sql_rules()
        made: dict[str, EngineRules] | None = cls.__dict__.get("_flavour_rules")
        if made is None:
            made = {}
            cls._flavour_rules = made  # type: ignore[attr-defined]  # cached on the class
        rules = made.get(flavour)  # type: ignore[arg-type]  # a str, checked above
        if rules is None:
            base = cls.sql_rules()
            rules = dataclasses.replace(
                base, forbidden_functions={**base.forbidden_functions, **extra}
            )
            made[str(flavour)] = rules
        return rules

    def __init__(self, options: OptionsT, *, sandbox: Sandbox | None = None) -> None:
        self.options = options
        self.sandbox = sandbox or Sandbox()

    @classmethod
    @abc.abstractmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """Parse a pasted URL into a dict of option values (validated by the caller).

        Unknown query parameters raise
        :class:`~querydeck.errors.ConnectionParamForbidden`; a malformed URL raises
        :class:`~querydeck.errors.ConnectionUrlInvalid`.
        """

    @abc.abstractmethod
    def connect(self, *, timeout_s: float) -> EngineSession:
        """Open a read-only session; failures raise a
        :class:`~querydeck.errors.ConnectionFailed` subclass, never a native error."""

    def target(self) -> str:
        """A short description of where this connects, without secrets (host:port/db or a
        file name), for messages and logs."""
        return self.name


def split_url(url: str, schemes: tuple[str, ...]) -> SplitResult:
    """Split a pasted URL whose scheme must be one of ``schemes`` (``+driver`` suffixes
    such as ``postgresql+psycopg`` are accepted and ignored)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConnectionUrlInvalid(f"The URL cannot be parsed: {exc}.") from None
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in schemes:
        raise ConnectionUrlInvalid(
            f"The URL scheme must be one of {', '.join(schemes)}; got {parts.scheme or 'none'}."
        )
    if parts.fragment:
        raise ConnectionUrlInvalid("The URL must not have a #fragment.")
    return parts


def file_url_path(url: str, schemes: tuple[str, ...], engine: str, example: str) -> str:
    """The (percent-decoded) file path of ``scheme:///relative`` or ``scheme:////absolute``;
    empty when the URL names none. Hosts and query parameters are refused."""
    parts = split_url(url, schemes)
    url_query(parts, {})
    if parts.netloc or (parts.path and not parts.path.startswith("/")):
        raise ConnectionUrlInvalid(
            f"A {engine} URL has no host: write {example} (four slashes for an absolute path)."
        )
    return unquote(parts.path[1:])


def url_query(parts: SplitResult, allowed: dict[str, str]) -> dict[str, str]:
    """The URL's query parameters mapped to option names through ``allowed``
    (URL parameter → option name); any other parameter, or a repeated one, is refused."""
    result: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in allowed:
            raise ConnectionParamForbidden(
                f"The URL parameter {key!r} is not allowed for this driver.",
                detail={"parameter": key, "allowed": sorted(allowed)},
            )
        option = allowed[key]
        if option in result:
            raise ConnectionParamForbidden(
                f"The URL parameter {key!r} is given twice.", detail={"parameter": key}
            )
        result[option] = value
    return result


def url_credentials(parts: SplitResult) -> dict[str, str]:
    """User and password of a URL, percent-decoded, omitting the absent ones."""
    out: dict[str, str] = {}
    if parts.username:
        out["user"] = unquote(parts.username)
    if parts.password is not None and parts.password != "":
        out["password"] = unquote(parts.password)
    return out
