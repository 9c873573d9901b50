"""Registered connections: names, typed options, encrypted secrets and the last test.

A connection is a unique name, a driver and that driver's typed options. Secret options
(``SecretStr`` fields) are sealed with :class:`~querydeck.sources.secrets.Sealer`, bound to the
connection's id, and are never returned, logged or put in an error.

Sealed secrets are also bound to their target: the sealed text holds a digest of every
option but the secrets and the driver's ``secret_free_options`` (:func:`target_digest`).
Changing an option that binds needs the secrets given again
(:class:`~querydeck.errors.ConnectionSecretRequired`), and a secret whose digest does not
match its connection's options is never handed to a driver, so neither the privilege probe
nor *test* nor a run can send it anywhere but where it was saved for.
"""

from __future__ import annotations

import functools
import hashlib
import time
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
from pydantic import SecretStr, ValidationError

from querydeck.drivers import registry
from querydeck.drivers.base import Driver, DriverOptions, EngineSession
from querydeck.errors import (
    ConfigError,
    Conflict,
    ConnectionNameInvalid,
    ConnectionNameTaken,
    ConnectionNotFound,
    ConnectionOptionsInvalid,
    ConnectionOptionUnknown,
    ConnectionSecretRequired,
    InvalidInput,
    NotFound,
    QueryDeckError,
)
from querydeck.sources.models import ConnectionInfo, ConnectionStatus, PrivilegeStatus, TestResult
from querydeck.sources.secrets import Sealer
from querydeck.sources.targets import Probe, TargetVerifier, bounded, refuse_privileged
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.text import bidi_controls, code_points, control_characters

#: The columns :meth:`ConnectionStore._info` reads (never the sealed secrets).
_LISTED = (
    "id, name, driver, options, secret_names, status_ok, status_error_code, "
    "status_error_message, status_latency_ms, status_server_version, status_checked_at, "
    "created_at, updated_at, can_write, privilege_reasons, allow_privileged, "
    "privileges_checked_at"
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from querydeck.store.tables import ConnectionRow
#: Connections whose driver driver_for keeps (all are forgotten when there are more).
KNOWN_DRIVERS = 256
MAX_NAME_LENGTH = 128


def normalise_name(name: str) -> str:
    """The stored form of a connection name: NFC, trimmed; refuses what cannot be a name."""
    value = unicodedata.normalize("NFC", name).strip()
    if not value:
        raise ConnectionNameInvalid("A connection name must not be empty.")
    if len(value) > MAX_NAME_LENGTH:
        raise ConnectionNameInvalid(
            f"A connection name has at most {MAX_NAME_LENGTH} characters.",
        )
    bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cs", "Co") or c in "/\\"]
    bad += bidi_controls(value)
    if bad:
        raise ConnectionNameInvalid(
            "A connection name must not contain control characters, bidirectional "
            f"overrides, '/' or '\\'; found {code_points(bad)}.",
        )
    return value


def name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.casefold())


def secret_fields(options_type: type[DriverOptions]) -> set[str]:
    return {
        name
        for name, info in options_type.model_fields.items()
        if info.annotation is not None and SecretStr in _flatten(info.annotation)
    }


def _flatten(annotation: Any) -> set[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return {annotation}
    out: set[Any] = set()
    for arg in args:
        out |= _flatten(arg)
    return out


#: The key of the sealed secrets' target digest (never an option name: options are
#: Python identifiers without leading underscores).
TARGET_KEY = "__target__"


def binding(driver: type[Driver[Any]], options: DriverOptions) -> dict[str, Any]:
    """The options a stored secret is bound to: all but the secrets and the driver's
    ``secret_free_options``, without those at their default (so an option a new version
    adds never unbinds a secret saved before it)."""
    skip = secret_fields(type(options)) | driver.secret_free_options
    dumped = options.model_dump(mode="json")
    bound: dict[str, Any] = {}
    for name, info in type(options).model_fields.items():
        if name in skip or name not in dumped:
            continue
        if getattr(options, name) == info.get_default(call_default_factory=True):
            continue
        bound[name] = dumped[name]
    return bound


def target_digest(driver: type[Driver[Any]], options: DriverOptions) -> str:
    """SHA-256 of :func:`binding`, sealed with the secrets."""
    text = orjson.dumps(binding(driver, options), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


def _secret_required(name: str, changed: Collection[str], secrets: Collection[str]) -> Exception:
    what = ", ".join(sorted(changed)) or "its options"
    return ConnectionSecretRequired(
        f"The stored {', '.join(sorted(secrets))} of connection {name!r} was saved for other "
        f"settings ({what} changed): give it again with the change, or set it to null to "
        "drop it.",
        detail={"connection": name, "changed": sorted(changed), "secrets": sorted(secrets)},
    )


def _refuse_control_characters(driver: type[Driver[Any]], values: dict[str, Any]) -> None:
    """Every text in the options (nested ones and secrets included) is free of control
    characters; the error names the option and the code point, never the value."""

    def texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from texts(key, where)
                yield from texts(item, f"{where}.{key}")
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield from texts(item, f"{where}.{index}")

    for name, value in values.items():
        for where, text in texts(value, str(name)):
            found = control_characters(text)
            if found:
                problem = f"control character {code_points(found)}"
                raise ConnectionOptionsInvalid(
                    f"Invalid options for the {driver.name} driver: {where[:64]} contains a "
                    f"{problem}; options are one line of text without CR, LF, NUL or other "
                    "control characters.",
                    detail={"problems": [{"option": where[:64], "problem": problem}]},
                )


def validate_options(driver: type[Driver[Any]], values: dict[str, Any]) -> DriverOptions:
    """Typed options from raw values; problems name the fields, never echo the values."""
    _refuse_control_characters(driver, values)
    try:
        return driver.Options.model_validate(values)
    except ValidationError as exc:
        unknown = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            raise ConnectionOptionUnknown(
                f"Unknown option(s) for the {driver.name} driver: {', '.join(unknown)}.",
                detail={"options": unknown, "allowed": sorted(driver.Options.model_fields)},
            ) from None
        problems = [
            {"option": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()
        ]
        text = "; ".join(f"{p['option']}: {p['problem']}" for p in problems)
        raise ConnectionOptionsInvalid(
            f"Invalid options for the {driver.name} driver: {text}.",
            detail={"problems": problems},
        ) from None


def absolute_paths(driver: type[Driver[Any]], values: dict[str, Any]) -> dict[str, Any]:
    """A file-based driver's ``path`` made absolute (against the current directory), so the
    connection works wherever the server is started."""
    path = values.get("path")
    if driver.capabilities.file_based and isinstance(path, str) and path.strip():
        return {**values, "path": str(Path(path).expanduser().absolute())}
    return values


#: A connection's row: an ORM row, or its column values (a plain read).
Row: TypeAlias = "ConnectionRow | Mapping[str, Any]"


def _getter(row: Row) -> Callable[[str], Any]:
    """A column's value of ``row`` by name."""
    if isinstance(row, Mapping):
        return row.__getitem__
    return functools.partial(getattr, row)


def _no_connection(name: str) -> NotFound:
    return ConnectionNotFound(
        f"No connection named {name!r}.",
        detail={"connection": name},
    )


class ConnectionStore:
    """Create, read, update, rename, delete and test connections."""

    def __init__(
        self,
        db: AppDatabase,
        targets: TargetVerifier,
        *,
        connect_timeout_s: float,
        sealer: Sealer | None = None,
    ) -> None:
        self._db = db
        self._sealer_in_use = sealer
        self._targets = targets
        self._connect_timeout_s = connect_timeout_s
        #: name key -> (the row as read, its info, options and driver): see driver_for.
        self._drivers: dict[
            str, tuple[tuple[Any, ...], ConnectionInfo, DriverOptions, Driver[Any]]
        ] = {}

    def names(self) -> list[str]:
        """Every connection's name, read a page at a time."""
        names: list[str] = []
        while True:
            page = self.listing(limit=1000, offset=len(names))
            names.extend(c.name for c in page.items)
            if not page.items or len(names) >= page.total:
                return names

    def drivers_in_use(self) -> list[str]:
        """The driver names of the registered connections, each once."""
        from sqlalchemy import select

        from querydeck.store.tables import ConnectionRow

        with self._db.read() as tx:
            return sorted(tx.scalars(select(ConnectionRow.driver).distinct()))

    def any_registered(self) -> bool:
        """Whether any connection exists."""
        from sqlalchemy import select

        from querydeck.store.tables import ConnectionRow

        with self._db.read() as tx:
            return tx.scalar(select(ConnectionRow.id).limit(1)) is not None

    # --- reading ----------------------------------------------------------------------

    def _row(self, tx: Session, name: str) -> ConnectionRow:
        from sqlalchemy import select

        from querydeck.store.tables import ConnectionRow

        row = tx.scalar(
            select(ConnectionRow).where(
                ConnectionRow.name_key == name_key(unicodedata.normalize("NFC", name).strip())
            )
        )
        if row is None:
            raise _no_connection(name)
        return row

    def get(self, name: str) -> ConnectionInfo:
        with self._db.read() as tx:
            return self._info(self._row(tx, name))

    def name_of(self, connection_id: str) -> str:
        """The current name of a connection, by id."""
        from querydeck.store.tables import ConnectionRow

        with self._db.read() as tx:
            row = tx.get(ConnectionRow, connection_id)
            if row is None:
                raise ConnectionNotFound(
                    "The connection no longer exists.",
                    detail={"connection_id": connection_id},
                )
            return row.name

    def listing(
        self, *, limit: int, offset: int, ids: Collection[str] | None = None
    ) -> Page[ConnectionInfo]:
        """Connections by name; only those with ``ids`` when given (a plain read: the
        listing needs no ORM)."""
        db = self._db
        where, params = "", list(ids or ())
        if ids is not None:
            where = f" WHERE id IN ({db.plain.marks(len(params))})" if params else " WHERE 1 = 0"
        with db.read_plain() as cursor:
            total = db.plain.scalars(cursor, f"SELECT count(*) FROM qd_connections{where}", params)
            rows = db.plain.rows(
                cursor,
                "qd_connections",
                f"SELECT {_LISTED} FROM qd_connections{where} "
                "ORDER BY name_key, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        items = [self._info(row) for row in rows]
        return Page(items=items, total=total[0] or 0, limit=limit, offset=offset)

    def driver_for(self, name: str) -> tuple[ConnectionInfo, Driver[Any]]:
        """The connection and a driver instance holding its decrypted options, bound to the
        sandbox; a file path is checked against the file roots again."""
        key = name_key(unicodedata.normalize("NFC", name).strip())
        table = self._db.fast("qd_connections")
        with self._db.read_plain() as cursor:
            found = table.select_raw(cursor, "name_key", key)
        if found is None:
            raise _no_connection(name)
        # The same row as last time gives the same connection and driver: the options are
        # not decrypted and validated again (a run reads its connection on every start).
        known = self._drivers.get(key)
        if known is not None and known[0] == found:
            info, options, driver = known[1], known[2], known[3]
        else:
            row = table.converted(found)
            info, options = self._info(row), self._options(row)
            driver = self._targets.driver(registry.load(info.driver), options)
            if len(self._drivers) >= KNOWN_DRIVERS:
                self._drivers.clear()
            self._drivers[key] = (found, info, options, driver)
        self._targets.check_file(type(driver), options)
        return info, driver

    @staticmethod
    def needs_probe(info: ConnectionInfo, max_age_s: float) -> bool:
        """Whether a run must probe the login first: never probed (its server was down
        when it was saved), last found able to write without the admin override (it is
        refused until the override or a read-only login again), or probed longer than
        ``max_age_s`` ago (a ``GRANT`` on the server since then). File-based engines have
        no login to probe; a login allowed by the override is not probed again."""
        found = info.privileges
        if not found.checked:
            return True
        if found.allowed_by_override:
            return False
        if found.can_write:
            return True
        if registry.load(info.driver).capabilities.file_based:
            return False
        if found.checked_at is None:
            return True
        checked_at = found.checked_at
        if checked_at.tzinfo is None:
            checked_at = checked_at.replace(tzinfo=UTC)
        return (utcnow() - checked_at).total_seconds() >= max_age_s

    def check_privileges(self, info: ConnectionInfo, conn: EngineSession) -> None:
        """Before a run that :meth:`needs_probe`: probe the login on the run's own
        session, record the outcome, and refuse it when privileged without the override."""
        probe = Probe(reasons=conn.privileges(), checked_at=utcnow())
        self._record_probe(info.id, probe)
        if probe.reasons and not info.privileges.allowed_by_override:
            raise refuse_privileged(probe.reasons, info.name)

    def _record_probe(self, row_id: str, probe: Probe) -> None:
        from querydeck.store.tables import ConnectionRow

        def record(tx: Session) -> None:
            row = tx.get(ConnectionRow, row_id)
            if row is not None:
                _apply_probe(row, probe)

        self._db.write(record)

    def reseal(self, tx: Session, sealer: Sealer) -> int:
        """Re-seal every stored secret with ``sealer`` inside the caller's transaction;
        returns how many connections had secrets. The service then uses ``sealer``."""
        from sqlalchemy import select

        from querydeck.store.tables import ConnectionRow

        count = 0
        for row in tx.scalars(select(ConnectionRow).where(ConnectionRow.secrets.is_not(None))):
            assert row.secrets is not None
            row.secrets = sealer.seal(self._sealer.open(row.secrets, row.id), row.id)
            count += 1
        tx.flush()
        return count

    def use_sealer(self, sealer: Sealer) -> None:
        self._sealer_in_use = sealer

    @property
    def _sealer(self) -> Sealer:
        if self._sealer_in_use is None:
            raise ConfigError("The key that seals connection secrets is not loaded yet.")
        return self._sealer_in_use

    def _sealed(self, row: Row) -> tuple[dict[str, Any], str | None]:
        """The stored secrets and the target digest they were sealed with (None: sealed
        before secrets were bound to their target)."""
        get = _getter(row)
        if get("secrets") is None:
            return {}, None
        secrets = dict(orjson.loads(self._sealer.open(get("secrets"), get("id"))))
        bound = secrets.pop(TARGET_KEY, None)
        return secrets, bound if isinstance(bound, str) else None

    def _options(self, row: Row) -> DriverOptions:
        """The typed options with the secrets; refused when the secrets were sealed for
        other options than the row holds now."""
        get = _getter(row)
        cls = registry.load(get("driver"))
        secrets, bound = self._sealed(row)
        options = validate_options(cls, {**get("options"), **secrets})
        if bound is not None and bound != target_digest(cls, options):
            raise _secret_required(get("name"), (), secrets)
        return options

    @staticmethod
    def _info(row: Row) -> ConnectionInfo:
        """The connection of a row."""
        get = _getter(row)
        return ConnectionInfo(
            id=get("id"),
            name=get("name"),
            driver=get("driver"),
            options=dict(get("options")),
            secrets_set=sorted(get("secret_names")),
            status=ConnectionStatus(
                ok=get("status_ok"),
                error_code=get("status_error_code"),
                error_message=get("status_error_message"),
                latency_ms=get("status_latency_ms"),
                server_version=get("status_server_version"),
                checked_at=get("status_checked_at"),
            ),
            created_at=get("created_at"),
            updated_at=get("updated_at"),
            privileges=PrivilegeStatus(
                checked=get("can_write") is not None,
                can_write=get("can_write"),
                reasons=list(get("privilege_reasons") or []),
                allowed_by_override=bool(get("allow_privileged")),
                checked_at=get("privileges_checked_at"),
            ),
        )

    # --- writing ----------------------------------------------------------------------

    def _split(
        self, row_id: str, cls: type[Driver[Any]], options: DriverOptions
    ) -> tuple[dict[str, Any], bytes | None, list[str]]:
        secret_names = secret_fields(type(options))
        public = options.model_dump(mode="json", exclude=secret_names)
        secrets = {
            name: value.get_secret_value()
            for name in secret_names
            if isinstance(value := getattr(options, name), SecretStr)
        }
        sealed = None
        if secrets:
            bound = {**secrets, TARGET_KEY: target_digest(cls, options)}
            sealed = self._sealer.seal(orjson.dumps(bound), row_id)
        return public, sealed, sorted(secrets)

    @staticmethod
    def resolve(
        driver: str | None, url: str | None, options: dict[str, Any] | None
    ) -> tuple[type[Driver[Any]], dict[str, Any]]:
        """The driver class and raw option values from a driver name and/or a pasted URL."""
        if url is None and driver is None:
            raise InvalidInput("Give a driver with options, or a URL.")
        cls = registry.load(driver) if driver is not None else registry.for_url(url or "")
        values: dict[str, Any] = {}
        if url is not None:
            values.update(cls.options_from_url(url))
        values.update(options or {})
        return cls, absolute_paths(cls, values)

    def create(
        self,
        name: str,
        driver: str | None,
        *,
        url: str | None = None,
        options: dict[str, Any] | None = None,
        allow_privileged: bool = False,
        test: bool = False,
    ) -> ConnectionInfo:
        """Save a connection. With ``test`` it is connected to and pinged first: a failure
        (wrong password, unknown host, closed port, unknown database...) is raised and
        nothing is saved; the outcome becomes the saved connection's status."""
        from sqlalchemy.exc import IntegrityError

        from querydeck.store.tables import ConnectionRow

        stored_name = normalise_name(name)
        cls, values = self.resolve(driver, url, options)
        typed = validate_options(cls, values)
        self._refuse_taken(stored_name)
        tested: TestResult | None = None
        if test:
            probe, tested = self._tested(cls, typed, allow_privileged=allow_privileged)
        else:
            probe = self._targets.verify(cls, typed, allow_privileged=allow_privileged)
        row_id = str(uuid.uuid4())
        public, sealed, secret_names = self._split(row_id, cls, typed)
        now = utcnow()

        def insert(tx: Session) -> ConnectionInfo:
            row = ConnectionRow(
                id=row_id,
                name=stored_name,
                name_key=name_key(stored_name),
                driver=cls.name,
                options=public,
                secrets=sealed,
                secret_names=secret_names,
                created_at=now,
                updated_at=now,
                allow_privileged=allow_privileged,
            )
            _apply_probe(row, probe)
            if tested is not None:
                row.status_ok = True
                row.status_latency_ms = tested.latency_ms
                row.status_server_version = tested.server_version
                row.status_checked_at = tested.checked_at
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:
                raise self._taken(stored_name) from None
            return self._info(row)

        return self._db.write(insert)

    def _tested(
        self, cls: type[Driver[Any]], typed: DriverOptions, *, allow_privileged: bool
    ) -> tuple[Probe, TestResult]:
        """Check the target like :meth:`TargetVerifier.verify`, then connect, ping and
        probe the login; every failure is raised as the driver reports it."""
        if cls.capabilities.file_based:
            self._targets.check_file(cls, typed)
        else:
            self._targets.verify_certificate(typed)
        driver = self._targets.driver(cls, typed)
        started = time.perf_counter()
        with driver.connect(timeout_s=self._connect_timeout_s) as conn:
            version = conn.ping().version
            reasons = conn.privileges()
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if reasons and not allow_privileged:
            raise refuse_privileged(reasons, driver.target())
        checked = utcnow()
        result = TestResult(
            ok=True, latency_ms=latency_ms, server_version=version, checked_at=checked
        )
        return Probe(reasons=reasons, checked_at=checked), result

    def _refuse_taken(self, name: str) -> None:
        """Fail early (before connecting to probe) when the name is taken."""
        from sqlalchemy import select

        from querydeck.store.tables import ConnectionRow

        with self._db.read() as tx:
            if tx.scalar(select(ConnectionRow.id).where(ConnectionRow.name_key == name_key(name))):
                raise self._taken(name)

    @staticmethod
    def _taken(name: str) -> Conflict:
        return ConnectionNameTaken(
            f"A connection named {name!r} already exists.",
            detail={"connection": name},
        )

    def update(
        self, name: str, options: dict[str, Any], *, allow_privileged: bool | None = None
    ) -> ConnectionInfo:
        """Change some options; a key set to None goes back to its default. The target is
        checked and the login probed again; ``allow_privileged`` None keeps the override."""
        from querydeck.store.tables import ConnectionRow

        with self._db.read() as tx:
            row = self._row(tx, name)
            row_id, cls, stored_name = row.id, registry.load(row.driver), row.name
            public, (secrets, bound) = dict(row.options), self._sealed(row)
            allowed = row.allow_privileged if allow_privileged is None else allow_privileged
        before = validate_options(cls, {**public, **secrets})
        current = before.model_dump()
        for key, value in options.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        typed = validate_options(cls, absolute_paths(cls, current))
        kept = set(secrets) - set(options)  # stored secrets the change would reuse
        old, new = binding(cls, before), binding(cls, typed)
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        stale = bound is not None and bound != target_digest(cls, before)
        if kept and (changed or stale):  # checked before the probe sends anything
            raise _secret_required(stored_name, changed, kept)
        probe = self._targets.verify(cls, typed, allow_privileged=allowed)

        def change(tx: Session) -> ConnectionInfo:
            row = tx.get(ConnectionRow, row_id)
            if row is None:
                raise ConnectionNotFound(f"No connection named {name!r}.")
            row.options, row.secrets, row.secret_names = self._split(row.id, cls, typed)
            row.allow_privileged = allowed
            _apply_probe(row, probe)
            row.updated_at = utcnow()
            return self._info(row)

        return self._db.write(change)

    def rename(self, name: str, new_name: str) -> ConnectionInfo:
        from sqlalchemy.exc import IntegrityError

        stored = normalise_name(new_name)

        def change(tx: Session) -> ConnectionInfo:
            row = self._row(tx, name)
            row.name, row.name_key, row.updated_at = stored, name_key(stored), utcnow()
            try:
                tx.flush()
            except IntegrityError:
                raise self._taken(stored) from None
            return self._info(row)

        return self._db.write(change)

    def delete(self, name: str) -> None:
        def remove(tx: Session) -> None:
            tx.delete(self._row(tx, name))

        self._db.write(remove)

    def test(self, name: str) -> TestResult:
        """Connect and ping; record the outcome as the connection's status. A failure is
        recorded, then raised."""
        from querydeck.store.tables import ConnectionRow

        started = time.perf_counter()
        error: QueryDeckError | None = None
        version = ""
        probe: Probe | None = None
        try:
            info, driver = self.driver_for(name)
        except QueryDeckError as exc:  # e.g. the file is now outside the roots
            info, driver, error = self.get(name), None, exc
        try:
            if driver is not None:
                timeout = self._connect_timeout_s
                with driver.connect(timeout_s=timeout) as conn, bounded(conn, timeout):
                    version = conn.ping().version
                    probe = Probe(reasons=conn.privileges(), checked_at=utcnow())
                if probe.reasons and not info.privileges.allowed_by_override:
                    error = refuse_privileged(probe.reasons, info.name)
        except QueryDeckError as exc:
            error = exc
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        checked = utcnow()

        def record(tx: Session) -> None:
            row = tx.get(ConnectionRow, info.id)
            if row is None:
                return
            row.status_ok = error is None
            row.status_error_code = error.code if error else None
            row.status_error_message = error.message if error else None
            row.status_latency_ms = latency_ms
            row.status_server_version = version or row.status_server_version
            row.status_checked_at = checked
            if probe is not None:
                _apply_probe(row, probe)

        self._db.write(record)
        if error is not None:
            raise error
        return TestResult(
            ok=True, latency_ms=latency_ms, server_version=version, checked_at=checked
        )


def _apply_probe(row: ConnectionRow, probe: Probe) -> None:
    """Store a probe's outcome; an unreached server leaves the last known one."""
    if probe.reasons is None:
        return
    row.can_write = bool(probe.reasons)
    row.privilege_reasons = list(probe.reasons)
    row.privileges_checked_at = probe.checked_at
