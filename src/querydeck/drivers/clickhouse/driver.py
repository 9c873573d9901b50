"""ClickHouse through its HTTP interface (clickhouse-connect): typed options, read-only
queries, a server time limit per query, ``KILL QUERY`` on cancel, Arrow batches.

Every statement is one HTTP request (the interface runs exactly one statement per request)
without a session, with ``readonly=1`` — the server then refuses writes, DDL, ``SET``,
``SYSTEM``, setting changes in the query and every table function — and
``max_execution_time``. Where the login's settings profile is already read-only the
server refuses to be told either (``readonly=1`` forbids changing any setting,
``readonly=2`` all but the time limit): then only what the profile allows is sent, and the
watchdog's ``KILL QUERY`` enforces the time limit.

This module is what the driver registry loads; clickhouse-connect is imported when a
session is first opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from querydeck.drivers.base import (
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    split_url,
)
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.drivers.clickhouse.policy import FORBIDDEN_FUNCTIONS, FORBIDDEN_RELATIONS
from querydeck.drivers.network import check_host, server_url_options
from querydeck.drivers.tls import ca_file, ca_sslmode

if TYPE_CHECKING:
    pass

_LOST = "The connection to ClickHouse was lost; open a new one."


class ClickHouseOptions(DriverOptions):
    host: str
    port: int = Field(8123, ge=1, le=65535, description="The HTTP(S) interface's port.")
    database: str = "default"
    user: str = "default"
    password: SecretStr | None = None
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] = Field(
        default="disable", description="disable: HTTP; the other modes: HTTPS."
    )
    ssl_ca_certificate: str | None = Field(
        default=None,
        description="Id of an uploaded CA certificate to verify the server with; sslmode "
        "then defaults to verify-full.",
    )

    @model_validator(mode="before")
    @classmethod
    def _ca_mode(cls, data: Any) -> Any:
        return ca_sslmode(data, "ClickHouse")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value, "ClickHouse")


class ClickHouseDriver(Driver[ClickHouseOptions]):
    """ClickHouse servers through the HTTP interface."""

    name: ClassVar[str] = "clickhouse"
    title: ClassVar[str] = "ClickHouse"
    dialect: ClassVar[str] = "clickhouse"
    Options: ClassVar[type[DriverOptions]] = ClickHouseOptions
    capabilities: ClassVar[Capabilities] = Capabilities(arrays=True)
    url_schemes: ClassVar[tuple[str, ...]] = ("clickhouse", "clickhouses")
    forbidden_functions: ClassVar[dict[str, str]] = FORBIDDEN_FUNCTIONS
    forbidden_relations: ClassVar[dict[str, str]] = FORBIDDEN_RELATIONS
    ddl_style: ClassVar[DdlStyle] = DdlStyle(comments="inline", named_constraints=False)

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``clickhouse://user:password@host:8123/database?sslmode=…``; ``clickhouses://``
        means HTTPS (``sslmode`` ``verify-full`` unless given)."""
        parts = split_url(url, cls.url_schemes)
        options = server_url_options(parts, "ClickHouse", "clickhouse://host:8123/database")
        if parts.scheme.lower().startswith("clickhouses"):
            options.setdefault("sslmode", "verify-full")
        return options

    def target(self) -> str:
        return f"{self.options.host}:{self.options.port}/{self.options.database}"

    def connect(self, *, timeout_s: float) -> EngineSession:
        from querydeck.drivers.clickhouse import session  # clickhouse-connect, on first use

        opts = self.options
        password = opts.password.get_secret_value() if opts.password is not None else ""
        return session.open_http(
            host=opts.host,
            address=self.sandbox.addresses.pin(opts.host, opts.port, "ClickHouse"),
            port=opts.port,
            user=opts.user,
            password=password,
            database=opts.database,
            sslmode=opts.sslmode,
            cafile=ca_file(self.sandbox, opts.ssl_ca_certificate),
            timeout_s=timeout_s,
            target=self.target(),
        )
