"""The values the connections service hands to the shells (API, CLI): connections, their
last test and privilege probe, drivers and uploaded certificates. Plain pydantic models,
JSON-ready; timestamps are timezone-aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ConnectionStatus(BaseModel):
    """The last test of a connection."""

    ok: bool | None = None
    error_code: str | None = None
    error_message: str | None = None
    latency_ms: float | None = None
    server_version: str | None = None
    checked_at: datetime | None = None


class PrivilegeStatus(BaseModel):
    """What the last probe of the login's privileges found (server connections)."""

    checked: bool = Field(description="False until a probe reached the server.")
    can_write: bool | None = Field(
        default=None, description="True when the login can write or reach server files."
    )
    reasons: list[str] = Field(default_factory=list, description="Why it can write.")
    allowed_by_override: bool = Field(
        default=False, description="Saved with the admin override allow_privileged."
    )
    checked_at: datetime | None = None


class ConnectionInfo(BaseModel):
    """A registered connection as shown to people: secrets never appear, only which secret
    fields are set."""

    id: str
    name: str
    driver: str
    options: dict[str, Any]
    secrets_set: list[str] = Field(description="Names of secret options that have a value.")
    status: ConnectionStatus
    created_at: datetime
    updated_at: datetime
    privileges: PrivilegeStatus = Field(
        default_factory=lambda: PrivilegeStatus(checked=False),
        description="The login's privileges (file connections: checked, none).",
    )


class TestResult(BaseModel):
    __test__ = False  # not a pytest class

    ok: bool
    latency_ms: float
    server_version: str
    checked_at: datetime


class DriverInfo(BaseModel):
    name: str
    title: str
    dialect: str
    url_schemes: list[str]
    capabilities: dict[str, bool]
    options_schema: dict[str, Any]


class CertificateDetail(BaseModel):
    """One certificate of an uploaded bundle."""

    subject: str = Field(description="RFC 4514 distinguished name.")
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str = Field(description="SHA-256 of the DER form, colon-separated hex.")
    is_ca: bool = Field(description="False for a self-signed certificate without CA:TRUE.")


class CertificateInfo(BaseModel):
    """An uploaded bundle of CA certificates. The top-level subject, issuer, validity and
    fingerprint are those of its first certificate; ``not_after`` is the earliest expiry."""

    id: str
    name: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    expired: bool = Field(description="True once a certificate of the bundle has expired.")
    count: int = Field(description="Certificates in the bundle.")
    certificates: list[CertificateDetail]
    used_by: list[str] = Field(description="Names of the connections that verify with it.")
    created_at: datetime


class UploadInfo(BaseModel):
    """An uploaded file, and where to query it."""

    connection: str
    table: str
    format: str
    bytes: int
    sha256: str
    replaced: bool
