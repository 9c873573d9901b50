"""Spark through Spark Connect: typed options, one Spark Connect session per querydeck
session, queries only, Arrow batches as the server streams them.

Spark Connect has no read-only mode, no statement timeout and, by default, no logins:
what keeps a session reading is querydeck's own (see :mod:`querydeck.drivers.spark.session`
and docs/connections.md). This module is what the driver registry loads; pyspark's Connect
client (and its gRPC and pandas dependencies) is imported when a session is first opened.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from querydeck.drivers.base import (
    Capabilities,
    Driver,
    DriverOptions,
    EngineSession,
    split_url,
    url_query,
)
from querydeck.drivers.catalog_model import DdlStyle
from querydeck.drivers.network import check_host
from querydeck.drivers.spark.policy import FORBIDDEN_FUNCTIONS
from querydeck.errors import (
    ConnectionOptionsInvalid,
    ConnectionUrlInvalid,
    DriverClientMissing,
)

DEFAULT_PORT = 15002


class SparkOptions(DriverOptions):
    host: str
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="The Spark Connect port.")
    database: str = Field(default="default", description="The session's current database.")
    user_id: str = Field(
        default="querydeck", description="The user name Spark Connect records the session as."
    )
    token: SecretStr | None = Field(
        default=None, description="Bearer token of the Spark Connect endpoint (needs TLS)."
    )
    sslmode: Literal["disable", "verify-full"] = Field(
        default="disable", description="verify-full: TLS, checked against the system CAs."
    )

    @model_validator(mode="after")
    def _token_needs_tls(self) -> SparkOptions:
        if self.token is not None and self.sslmode == "disable":
            raise ConnectionOptionsInvalid(
                "A Spark Connect token is only sent over TLS: set sslmode to verify-full.",
                detail={"problems": [{"option": "sslmode", "problem": "token without TLS"}]},
            )
        return self

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value, "Spark Connect")


class SparkDriver(Driver[SparkOptions]):
    """Spark through a Spark Connect endpoint (``sc://host:port``)."""

    name: ClassVar[str] = "spark"
    title: ClassVar[str] = "Apache Spark (Spark Connect)"
    dialect: ClassVar[str] = "spark"
    Options: ClassVar[type[DriverOptions]] = SparkOptions
    capabilities: ClassVar[Capabilities] = Capabilities(
        server_timeout=False, read_only_session=False, arrays=True
    )
    url_schemes: ClassVar[tuple[str, ...]] = ("sc",)
    forbidden_functions: ClassVar[dict[str, str]] = FORBIDDEN_FUNCTIONS
    #: ``parquet.`/path```: a quoted table name that looks like a path is read as a file.
    quoted_names_read_files: ClassVar[bool] = True
    ddl_style: ClassVar[DdlStyle] = DdlStyle(comments="inline", named_constraints=False)

    @classmethod
    def options_from_url(cls, url: str) -> dict[str, Any]:
        """``sc://host:port/?database=…`` (Spark Connect's own ``;token=…`` parameters
        are not read: the token is a typed, sealed option)."""
        parts = split_url(url, cls.url_schemes)
        if ";" in parts.path or ";" in parts.netloc:
            raise ConnectionUrlInvalid(
                "Give Spark Connect parameters (token, user_id, use_ssl) as options, not "
                "after ';' in the URL."
            )
        options: dict[str, Any] = dict(
            url_query(parts, {"database": "database", "user_id": "user_id", "sslmode": "sslmode"})
        )
        try:
            port = parts.port
        except ValueError:
            raise ConnectionUrlInvalid("The URL's port is not a number from 1 to 65535.") from None
        if not parts.hostname or parts.username or parts.password:
            raise ConnectionUrlInvalid("Write the URL as sc://host:port (no user or password).")
        options["host"] = check_host(parts.hostname, "Spark Connect")
        if port is not None:
            options["port"] = port
        if parts.path not in ("", "/"):
            raise ConnectionUrlInvalid("A Spark Connect URL has no path: sc://host:port.")
        return options

    def target(self) -> str:
        return f"{self.options.host}:{self.options.port}/{self.options.database}"

    def connect(self, *, timeout_s: float) -> EngineSession:
        try:  # pyspark's Connect client, on first use (an optional dependency)
            from querydeck.drivers.spark import session
        except ImportError as exc:
            raise DriverClientMissing(
                "The Spark driver needs pyspark's Connect client: install querydeck[spark] "
                f"({exc.name or 'pyspark'} is missing).",
                detail={"driver": self.name},
            ) from None

        opts = self.options
        return session.open_session(
            host=opts.host,
            address=self.sandbox.addresses.pin(opts.host, opts.port, "Spark Connect"),
            port=opts.port,
            database=opts.database,
            user_id=opts.user_id,
            token=opts.token.get_secret_value() if opts.token is not None else None,
            tls=opts.sslmode == "verify-full",
            timeout_s=timeout_s,
            target=self.target(),
        )
