"""Reaching S3-compatible storage: the options every driver that reads a bucket shares,
the endpoint checked (and pinned) by the outbound-address policy, the DuckDB secret and
the pyarrow file system built from them.

The endpoint's host is resolved once and every address checked. Without TLS the session
connects to the checked address itself (``ip:port``), so a name that resolves elsewhere a
moment later cannot switch the target; with TLS the name is kept (the certificate is
checked against it) and only the check applies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import SplitResult, unquote

from pydantic import Field, SecretStr, field_validator

from querydeck.drivers.base import DriverOptions, Sandbox, url_query
from querydeck.drivers.files.layout import Entry
from querydeck.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionUrlInvalid,
    DataFileNotFound,
    UpstreamUnavailable,
)

if TYPE_CHECKING:
    import duckdb

BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
_ENDPOINT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:(\d{1,5}))?$")
#: URL parameters of an ``s3://`` URL → options.
S3_URL_PARAMS = {
    "endpoint": "endpoint",
    "region": "region",
    "url_style": "url_style",
    "use_ssl": "use_ssl",
}


class S3Access(DriverOptions):
    """How to reach a bucket and sign requests to it."""

    endpoint: str | None = Field(
        default=None,
        max_length=255,
        description="host[:port] of an S3-compatible service; empty for AWS.",
    )
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9\-]{1,32}$")
    url_style: Literal["path", "vhost"] = Field(
        default="vhost", description="'path' for most S3-compatible services."
    )
    use_ssl: bool = True
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None


def valid_prefix(value: str) -> str:
    """A prefix without leading or trailing ``/`` and without empty, ``.`` or ``..`` parts."""
    text = value.strip("/")
    if text and any(part in ("", ".", "..") for part in text.split("/")):
        raise ValueError("the prefix must not contain empty, '.' or '..' parts")
    return text


class S3Options(S3Access):
    """A bucket prefix and how to reach it."""

    bucket: str = Field(pattern=BUCKET_PATTERN, description="The bucket's name.")
    prefix: str = Field(
        default="",
        max_length=1024,
        description="The folder inside the bucket (no leading '/'); empty for the whole bucket.",
    )

    @field_validator("prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        return valid_prefix(value)


def s3_url_options(parts: SplitResult, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Options from ``s3://[key:secret@]bucket/prefix?endpoint=…`` (and the ``extra``
    parameters of the driver)."""
    if not parts.hostname:
        raise ConnectionUrlInvalid("An s3 URL names a bucket: s3://bucket/prefix.")
    values: dict[str, Any] = {"bucket": parts.hostname, "prefix": unquote(parts.path).strip("/")}
    if parts.username:
        values["access_key_id"] = unquote(parts.username)
    if parts.password:
        values["secret_access_key"] = unquote(parts.password)
    return values | url_query(parts, S3_URL_PARAMS | (extra or {}))


def normalised_prefix(prefix: str) -> str:
    """The (validated) prefix as a folder: one trailing ``/``; empty for the bucket."""
    return prefix + "/" if prefix else ""


@dataclass(frozen=True)
class Endpoint:
    """The endpoint a session uses: ``host:port`` as given or pinned, and the check's
    host for messages."""

    address: str
    host: str


def endpoint(options: S3Access, sandbox: Sandbox, engine: str) -> Endpoint:
    """The endpoint checked against the outbound-address policy (pinned without TLS)."""
    text = options.endpoint or f"s3.{options.region}.amazonaws.com"
    match = _ENDPOINT.match(text)
    if match is None:
        raise ConnectionUrlInvalid(f"The endpoint {text!r} is not host[:port].")
    host = match.group(1)
    port = int(match.group(3) or (443 if options.use_ssl else 80))
    pinned = sandbox.addresses.pin(host.strip("[]"), port, engine)
    if options.use_ssl:
        return Endpoint(text, host)
    shown = f"[{pinned}]" if ":" in pinned else pinned
    return Endpoint(f"{shown}:{port}", host)


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def secret_sql(options: S3Access, where: Endpoint, scope: str) -> str:
    """``CREATE SECRET`` for the session (in memory, scoped to the connection's prefix)."""
    parts = [
        "TYPE s3",
        f"REGION {quote(options.region)}",
        f"ENDPOINT {quote(where.address)}",
        f"URL_STYLE {quote(options.url_style)}",
        f"USE_SSL {str(options.use_ssl).lower()}",
        f"SCOPE {quote(scope)}",
    ]
    for keyword, secret in (
        ("KEY_ID", options.access_key_id),
        ("SECRET", options.secret_access_key),
        ("SESSION_TOKEN", options.session_token),
    ):
        if secret is not None:
            parts.append(f"{keyword} {quote(secret.get_secret_value())}")
    # Named by its scope: a federated session holds one per bucket prefix.
    name = "qd_s3_" + hashlib.sha256(scope.encode()).hexdigest()[:16]
    return f"CREATE TEMPORARY SECRET {name} ({', '.join(parts)})"


def secrets_of(options: S3Access) -> list[str]:
    """The secret values, for messages to leave out."""
    return [
        s.get_secret_value()
        for s in (options.access_key_id, options.secret_access_key, options.session_token)
        if s is not None
    ]


def arrow_filesystem(options: S3Access, where: Endpoint) -> Any:
    import pyarrow.fs as pa_fs  # with the engine, on first use

    return pa_fs.S3FileSystem(
        access_key=options.access_key_id.get_secret_value() if options.access_key_id else None,
        secret_key=(
            options.secret_access_key.get_secret_value() if options.secret_access_key else None
        ),
        session_token=options.session_token.get_secret_value() if options.session_token else None,
        anonymous=options.access_key_id is None,
        region=options.region,
        endpoint_override=where.address,
        scheme="https" if options.use_ssl else "http",
        force_virtual_addressing=options.url_style == "vhost",
        connect_timeout=10,
        request_timeout=60,
    )


def listing_error(message: str, bucket: str) -> ConnectionFailed:
    """A failed listing as the querydeck error that says why."""
    if "404" in message or "NoSuchBucket" in message:
        return DataFileNotFound(f"The bucket {bucket!r} does not exist.")
    if "403" in message or "AccessDenied" in message or "SignatureDoesNotMatch" in message:
        return AuthenticationFailed(
            f"The bucket {bucket!r} refused the credentials (access key or secret)."
        )
    if "connect" in message.lower() or "timeout" in message.lower():
        return UpstreamUnavailable("The S3 endpoint does not answer.")
    return ConnectionFailed(f"The bucket {bucket!r} cannot be listed.")


def object_fingerprint(filesystem: Any, folder: str) -> frozenset[Entry]:
    """Each object under ``folder`` (``bucket/prefix``) with its size and time (ms), named
    relative to it: the entries :func:`list_objects` lists, listed through pyarrow (a
    pooled session is locked: it reads its own objects only)."""
    import pyarrow.fs as pa_fs

    infos = filesystem.get_file_info(pa_fs.FileSelector(folder, recursive=True))
    start = len(folder) + 1 if folder else 0
    return frozenset(
        (i.path[start:], int(i.size or 0), int(i.mtime_ns or 0) // 1_000_000)
        for i in infos
        if i.type == pa_fs.FileType.File
    )


def list_objects(native: duckdb.DuckDBPyConnection, base: str, bucket: str) -> list[Entry]:
    """The objects under ``base`` (``s3://bucket/prefix/``), named relative to it, with
    their sizes and times (ms), listed by DuckDB in one request (``read_blob`` reads no
    content when only these columns are asked for)."""
    import duckdb

    sql = (
        "SELECT filename, size, epoch_ms(last_modified) FROM read_blob(" + quote(base + "**") + ")"
    )
    try:
        rows = native.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise listing_error(str(exc), bucket) from None
    return [
        (str(name)[len(base) :], int(size or 0), int(time or 0))
        for name, size, time in rows
        if str(name).startswith(base) and len(str(name)) > len(base)
    ]
