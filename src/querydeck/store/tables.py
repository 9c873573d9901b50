"""Tables of querydeck's own database (SQLAlchemy 2 declarative). Alembic migrations in
``store/migrations`` create and evolve them; a test checks the two agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from querydeck.store.plain import utcnow as utcnow  # the time the columns hold


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UtcDateTime}


class Meta(Base):
    """Key/value facts about this installation (e.g. the fingerprint of the secret key)."""

    __tablename__ = "qd_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ConnectionRow(Base):
    __tablename__ = "qd_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: NFC + casefold of the name: uniqueness is on this.
    name_key: Mapped[str] = mapped_column(String(400), unique=True)
    driver: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: AES-GCM ciphertext of the secret options (JSON), bound to ``id``; None when no secret.
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: Names of the secret options that have a value (so listing needs no decryption).
    secret_names: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    status_server_version: Mapped[str | None] = mapped_column(String(400), nullable=True)
    status_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    #: The admin override: saved although the login can write (see querydeck.sources.targets).
    allow_privileged: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the last privilege probe found: None until a probe reached the server.
    can_write: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    privilege_reasons: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    privileges_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RunRow(Base):
    """One execution of one statement: the history."""

    __tablename__ = "qd_runs"
    __table_args__ = (
        Index("ix_qd_runs_created", "created_at", "id"),
        Index("ix_qd_runs_user_created", "user_name", "created_at"),
        Index("ix_qd_runs_connection", "connection_id"),
        Index("ix_qd_runs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(200))
    connection_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="SET NULL"), nullable=True
    )
    #: The connection's name and driver when the run was made (kept after a rename/delete).
    connection_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    driver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sql: Mapped[str] = mapped_column(Text)
    executed_sql: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    max_rows: Mapped[int] = mapped_column(Integer)
    timeout_s: Mapped[float] = mapped_column(Float)
    row_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    columns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: stored | writing | expired | missing | corrupt; None when the run has no rows.
    result_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The limits the server lowered (see ``querydeck.runs.limits``); None: none.
    limits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    #: The process running it (``host:pid:start``, see :mod:`querydeck.runs.owner`).
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CatalogStateRow(Base):
    """A connection's catalog settings (schema patterns, timeout) and its last refresh."""

    __tablename__ = "qd_catalog_state"

    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE"), primary_key=True
    )
    include: Mapped[list[str]] = mapped_column(JSON)
    exclude: Mapped[list[str]] = mapped_column(JSON)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Seconds between background refreshes of this connection; None: the setting; 0: off.
    refresh_interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CatalogSchemaRow(Base):
    """The cached snapshot of one schema of one connection (its tables are
    :class:`CatalogTableRow`); a failed refresh records its error and keeps the snapshot."""

    __tablename__ = "qd_catalog_schemas"
    __table_args__ = (UniqueConstraint("connection_id", "schema_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE")
    )
    #: SHA-256 of the schema name (names may be longer than an index entry allows).
    schema_key: Mapped[str] = mapped_column(String(64))
    schema_name: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    table_count: Mapped[int] = mapped_column(Integer)
    column_count: Mapped[int] = mapped_column(Integer)
    problems: Mapped[list[str]] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CatalogTableRow(Base):
    """One relation of a schema snapshot; ``content`` is its JSON description."""

    __tablename__ = "qd_catalog_tables"

    schema_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_catalog_schemas.id", ondelete="CASCADE"), primary_key=True
    )
    #: SHA-256 of the table name.
    name_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    column_count: Mapped[int] = mapped_column(Integer)
    row_estimate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: SHA-256 of ``content``: a refresh compares digests to find changed tables.
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class SavedQueryRow(Base):
    """A named statement a user keeps (owner: the user name)."""

    __tablename__ = "qd_saved_queries"
    __table_args__ = (
        Index("ix_qd_saved_owner_key", "owner", "name_key", unique=True),
        Index("ix_qd_saved_owner_updated", "owner", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    #: NFC + casefold of the name: unique per owner.
    name_key: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text)
    sql: Mapped[str] = mapped_column(Text)
    connection_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="SET NULL"), nullable=True
    )
    tags: Mapped[list[str]] = mapped_column(JSON)
    favourite: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Shared with every user holding the ``query`` grant on its connection.
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The chart drawn of its results: a Vega-Lite spec without data (null: none).
    chart: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CertificateRow(Base):
    """An uploaded bundle of CA certificates; the PEM is also written to
    ``<data dir>/certificates/<id>.pem`` for the client libraries to read."""

    __tablename__ = "qd_certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: NFC + casefold of the name: uniqueness is on this.
    name_key: Mapped[str] = mapped_column(String(400), unique=True)
    #: The certificates re-encoded from their parsed form (never a key, never other text).
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserRow(Base):
    """An account. Users are disabled, never deleted, so names stay stable owner keys."""

    __tablename__ = "qd_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: As given, NFC-normalised.
    username: Mapped[str] = mapped_column(String(64))
    #: NFC + casefold of the name: uniqueness is on this.
    username_key: Mapped[str] = mapped_column(String(256), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    #: The argon2id PHC string (parameters, salt and hash).
    password_hash: Mapped[str] = mapped_column(String(512))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LoginSessionRow(Base):
    """A browser login. The cookie holds a random secret; only its SHA-256 is stored."""

    __tablename__ = "qd_sessions"
    __table_args__ = (Index("ix_qd_sessions_user", "user_id"),)

    #: SHA-256 hex of the cookie value.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("qd_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Updated at most once a minute; the idle expiry counts from it.
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The absolute expiry.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ApiTokenRow(Base):
    """A personal API token. Only the SHA-256 of the secret is stored, and a prefix to
    recognise it by."""

    __tablename__ = "qd_api_tokens"
    __table_args__ = (Index("ix_qd_api_tokens_user", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("qd_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 hex of the whole secret (``qdt_...``).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Updated at most once a minute.
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class GroupRow(Base):
    """A named set of users that grants can name."""

    __tablename__ = "qd_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: NFC + casefold of the name: uniqueness is on this.
    name_key: Mapped[str] = mapped_column(String(400), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupMemberRow(Base):
    __tablename__ = "qd_group_members"

    group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_groups.id", ondelete="CASCADE"), primary_key=True
    )
    #: The member's user name (users are disabled, never deleted or renamed).
    username: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class GrantRow(Base):
    """What one user or one group may do on one connection."""

    __tablename__ = "qd_grants"
    __table_args__ = (
        UniqueConstraint("connection_id", "subject_kind", "subject", name="uq_qd_grants_subject"),
        Index("ix_qd_grants_subject", "subject_kind", "subject"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE")
    )
    #: "user" (subject: a user name) or "group" (subject: a group id).
    subject_kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    actions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PreferenceRow(Base):
    """One per-user preference: a key (see querydeck.auth.preferences for its pattern) and any
    JSON value, owned by the user name."""

    __tablename__ = "qd_preferences"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: NFC-normalised, at most 128 characters.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: Any JSON value; JSON ``null`` is stored as the JSON text ``null``, never SQL NULL.
    value: Mapped[Any] = mapped_column(JSON(none_as_null=False), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


#: Audit ids: BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
AuditId = BigInteger().with_variant(Integer(), "sqlite")


class AuditRow(Base):
    """One entry of the append-only audit log (querydeck.audit): who did what, to what,
    with which outcome. ``detail`` is sanitised before it is written; no code path updates
    a row, and only retention (querydeck.audit.retention, off by default) deletes them."""

    __tablename__ = "qd_audit"
    __table_args__ = (
        Index("ix_qd_audit_at", "at"),
        Index("ix_qd_audit_actor", "actor", "id"),
        Index("ix_qd_audit_action", "action", "id"),
        Index("ix_qd_audit_outcome", "outcome", "id"),
        Index("ix_qd_audit_connection", "connection_id", "id"),
        Index("ix_qd_audit_target", "target_type", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(AuditId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: The user name (stable: users are disabled, never deleted); None for anonymous events.
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: How the actor was authenticated: local, session or token.
    via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    #: ok | error | denied | aborted
    outcome: Mapped[str] = mapped_column(String(16))
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: No foreign key: the log outlives the connections it names.
    connection_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
