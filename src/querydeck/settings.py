"""Settings: ``QUERYDECK_*`` environment variables, then an optional ``querydeck.toml``.

The TOML file is read from ``QUERYDECK_CONFIG`` when set, else ``./querydeck.toml`` when it
exists. Unknown keys are rejected in the file and in the environment alike, so a typo never
passes silently. Every field's description is the reference in ``docs/configuration.md``
(a test keeps the two in step).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from querydeck.errors import ConfigError
from querydeck.sandbox.addresses import parse_networks
from querydeck.sql.policy import parse_entries

ENV_PREFIX = "QUERYDECK_"
# Variables with the prefix that are not settings fields.
_NON_FIELD_ENV = {
    "QUERYDECK_CONFIG",
    "QUERYDECK_DEBUG",
    "QUERYDECK_REQUIRE_SERVICES",
    "QUERYDECK_SERVER",
    "QUERYDECK_TOKEN",  # the CLI's API token for --server (cli/credentials.py)
    "QUERYDECK_CREDENTIALS",  # where `querydeck login` keeps its tokens
    "QUERYDECK_MODEL_API_KEY",  # `querydeck endpoints add --api-key-from-env`
}
_NON_FIELD_PREFIXES = ("QUERYDECK_TEST_",)
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix")


def check_origin(origin: str) -> None:
    """An exact browser origin: ``scheme://host[:port]``, nothing else (never ``*``)."""
    if origin == "*":
        raise ValueError("'*' cannot be used: the API allows credentials; list exact origins")
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018  # raises on a malformed port
    except ValueError:
        raise ValueError(f"{origin!r} is not an origin such as https://app.example.com") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or origin != origin.strip()
    ):
        raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")


def _config_file() -> Path | None:
    explicit = os.environ.get("QUERYDECK_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"QUERYDECK_CONFIG points at {path.name!r}, which is not a file.")
        return path
    local = Path("querydeck.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """querydeck's settings. Environment wins over the TOML file; both over defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".querydeck",
        description="Directory for the app database, the key file, result files and demo data.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of querydeck's own database; SQLite in the data "
        "directory when unset (postgresql+psycopg://... for a team server).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Base64 key (32 bytes) that encrypts stored credentials; when unset, a "
        "key file `secret.key` (mode 0600) in the data directory is used, generated on "
        "first start.",
    )
    host: str = Field(default="127.0.0.1", description="Address `querydeck serve` binds.")
    port: int = Field(default=8765, ge=1, le=65535, description="Port `querydeck serve` binds.")
    default_max_rows: int = Field(
        default=10_000, ge=1, description="Row cap of a run that does not ask for one."
    )
    max_rows_limit: int = Field(
        default=1_000_000, ge=1, description="Largest row cap a run may ask for."
    )
    default_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of a run that does not ask for one, seconds."
    )
    max_timeout_s: float = Field(
        default=600.0, gt=0, description="Largest timeout a run may ask for, seconds."
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout for opening a session with a data source."
    )
    privilege_recheck_s: float = Field(
        default=300.0,
        ge=0,
        description="A server login's privileges are probed again before a run when the "
        "last probe is older than this, seconds (0: before every run). A login found able "
        "to write is refused until an administrator allows it (allow_privileged) or the "
        "login is read-only again.",
    )
    run_workers: int = Field(
        default=8, ge=1, le=256, description="Threads that execute runs in this process."
    )
    max_sql_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest SQL text accepted, in bytes (UTF-8)."
    )
    max_value_bytes: int = Field(
        default=4 * 1024**2,
        ge=1024,
        description="Largest text or binary value a run's result stores, bytes; a longer "
        "value is cut to it and reported (the run's value_truncated, the column's "
        "truncated_values, the pages' truncated_columns, the exports' "
        "X-Querydeck-Value-Truncated header), never silently.",
    )
    max_page_bytes: int = Field(
        default=16 * 1024**2,
        ge=64 * 1024,
        description="Largest total of text and binary values in one page of rows, bytes; "
        "beyond it the page's largest values are cut (listed in the page's "
        "truncated_cells).",
    )
    max_sql_tokens: int = Field(
        default=25_000,
        ge=100,
        description="Most words and symbols (tokens) one statement may have: the guard's "
        "work per statement is bounded by it (SQL_TOO_COMPLEX beyond). String literals and "
        "comments count as one each.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the JSON logs written to stderr."
    )
    app_db_retries: int = Field(
        default=8, ge=0, description="Retries of a write to the app database that found it locked."
    )
    catalog_refresh_interval_s: float = Field(
        default=900.0,
        ge=0,
        description="Seconds between background refreshes of each connection's catalog by "
        "`querydeck serve` (a connection's catalog settings may set its own, 0 for none); "
        "0 turns the background refresh off.",
    )
    catalog_refresh_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Timeout of one catalog refresh of a connection, seconds (a connection's "
        "catalog settings may set its own).",
    )
    file_roots: Annotated[list[Path] | None, NoDecode] = Field(
        default=None,
        description="Directories SQLite and DuckDB files may be registered from (real paths, "
        "symlinks resolved), separated by the OS path separator (`:` on Unix); "
        "`<data dir>/files` when unset. A root must not contain the data directory.",
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDR networks server connections may reach; when set, "
        "every other address is refused. Cloud metadata, link-local and unspecified "
        "addresses and querydeck's own listeners are refused whatever this says.",
    )
    outbound_deny: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDR networks server connections must not reach "
        "(e.g. `127.0.0.0/8,::1` to refuse loopback, which is allowed by default).",
    )

    @field_validator("file_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p.strip()] or None
        return value

    @field_validator("file_roots", mode="after")
    @classmethod
    def _absolute_roots(cls, value: list[Path] | None) -> list[Path] | None:
        return None if value is None else [p.expanduser().resolve() for p in value]

    @field_validator("outbound_allow", "outbound_deny", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("outbound_allow", "outbound_deny", mode="after")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        parse_networks(value, "network list")
        return value

    forbidden_functions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Functions a statement may not call, added to the built-in policy "
        "(docs/function-policy.md): comma-separated `dialect:pattern` entries, the dialect "
        "that of an installed driver (`postgres`, `mysql`, `sqlite`, `duckdb`…) or `*` for "
        "all, and the pattern a function name with `*`/`?` wildcards, e.g. "
        "`postgres:pg_stat_*,*:my_udf`.",
    )

    @field_validator("forbidden_functions", mode="before")
    @classmethod
    def _split_entries(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("forbidden_functions", mode="after")
    @classmethod
    def _valid_entries(cls, value: list[str]) -> list[str]:
        parse_entries(value)
        return [entry.strip() for entry in value]

    export_max_rows: int = Field(
        default=10_000_000,
        ge=1,
        description='Row cap of an "export all" run (a run asked for with export_all, or '
        "`querydeck query --output`).",
    )
    result_max_age_hours: float = Field(
        default=168.0,
        gt=0,
        description="Stored results older than this are evicted (their runs answer "
        "RESULT_EXPIRED and can be run again), hours.",
    )
    audit_retention_days: float | None = Field(
        default=None,
        ge=1,
        description="Audit entries older than this many days are deleted (in the "
        "background, at start and at most hourly; each prune is itself audited as "
        "audit.prune). Unset: kept forever.",
    )
    history_retention_days: float | None = Field(
        default=None,
        ge=1,
        description="Runs asked for more than this many days ago, and ended, are deleted "
        "with their stored results (in the background, at start and at most hourly; each "
        "prune is audited as history.prune). Unset: kept forever.",
    )
    result_store_max_bytes: int = Field(
        default=10 * 1024**3,
        ge=1,
        description="Total size of stored results; beyond it the oldest finished results "
        "are evicted, bytes.",
    )
    result_store_max_results: int = Field(
        default=20_000,
        ge=1,
        description="Stored results kept at most (two files each); beyond it the oldest "
        "finished results are evicted. Bounds the result directory however small the "
        "results are.",
    )
    result_store_min_free_percent: float = Field(
        default=10.0,
        ge=0,
        lt=100,
        description="Free space kept on the result directory's file system, percent of its "
        "size: while less is free, the oldest finished results are evicted (0: no floor).",
    )
    max_runs_per_user: int = Field(
        default=4,
        ge=1,
        description="Runs one user may have queued or running at once; more answer 429.",
    )
    max_runs_per_connection: int = Field(
        default=8,
        ge=1,
        description="Runs one connection may have queued or running at once; more answer 429.",
    )
    session_pool_size: int | None = Field(
        default=None,
        ge=0,
        le=256,
        description="Idle sessions kept open per connection (PostgreSQL, MySQL, SQLite) for "
        "later runs to reuse, each reset before reuse; 0 opens a new session for every run. "
        "Unset: as many as run_workers (fewer would open and close sessions under load).",
    )
    session_pool_idle_s: float = Field(
        default=300.0,
        gt=0,
        description="A pooled session left idle this long is closed, seconds.",
    )

    session_idle_minutes: int = Field(
        default=120,
        ge=1,
        description="A login session unused this long expires, minutes.",
    )
    session_absolute_hours: float = Field(
        default=24.0,
        gt=0,
        description="A login session expires this long after the login however much it is "
        "used, hours.",
    )
    token_max_days: int = Field(
        default=365,
        ge=1,
        description="Longest lifetime of a personal API token, days (also the lifetime of a "
        "token created without one).",
    )
    password_min_length: int = Field(
        default=10,
        ge=8,
        le=256,
        description="Shortest password accepted, characters (at most 256 are accepted; "
        "common passwords and the user's own name are refused whatever their length).",
    )
    argon2_time_cost: int = Field(
        default=3,
        ge=1,
        description="Argon2id passes over memory when hashing a password; a changed cost "
        "re-hashes each password at its next login.",
    )
    argon2_memory_kib: int = Field(
        default=65536,
        ge=8,
        description="Argon2id memory per password hash, KiB.",
    )
    argon2_parallelism: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Argon2id lanes per password hash.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="The session cookie's Secure flag: unset sets it when the request came "
        "over https (behind a proxy, run uvicorn with proxy headers trusted); true or false "
        "forces it.",
    )

    max_request_bytes: int = Field(
        default=10 * 1024**2,
        ge=1024,
        description="Largest HTTP request body, bytes; a larger one answers 413 "
        "PAYLOAD_TOO_LARGE without being read (Content-Length) or as soon as the limit is "
        "passed (chunked bodies).",
    )
    upload_max_bytes: int = Field(
        default=256 * 1024**2,
        ge=1024,
        description="Largest file an analyst may upload as a table (POST /api/v1/uploads, "
        "querydeck upload), bytes; a larger one answers 413 UPLOAD_TOO_LARGE and nothing "
        "is kept. The upload request may exceed max_request_bytes by this much.",
    )
    request_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a request's body may take to arrive from the request's start; "
        "a slower one answers 408 REQUEST_BODY_TIMEOUT and its connection is closed (slow "
        "or stalled bodies cannot hold connections). Uploads get ten times as long.",
    )
    max_json_depth: int = Field(
        default=64,
        ge=1,
        le=512,
        description="Deepest nesting of arrays and objects in a JSON request body; deeper "
        "answers 400 JSON_TOO_DEEP.",
    )
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated exact origins (`https://app.example.com`) whose "
        "browser pages may call the API with credentials; empty (the default) sends no "
        "CORS headers at all. `*` is refused.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="When set, `GET /metrics` answers only a request with `Authorization: "
        "Bearer <this token>` (401 UNAUTHENTICATED otherwise), for a Prometheus that "
        "scrapes across a network; unset, `/metrics` is public like `/healthz`. At least "
        "16 characters.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (`redis://`, `rediss://` or `redis+unix://`) holding the rate "
        "limit counters, shared by every process; in-process memory when unset. While "
        "it cannot be reached, logins and assistant questions answer 503 "
        "RATE_LIMIT_UNAVAILABLE and runs are not rate limited.",
    )
    rate_limit_login_user: str = Field(
        default="10/minute",
        description="Failed login attempts per account name, in the `limits` notation "
        "(`10/minute`, `5/minute;50/hour`); a successful login clears the account's count. "
        "Empty turns this limit off.",
    )
    rate_limit_login_address: str = Field(
        default="20/minute",
        description="Failed login attempts per client address, whatever the account "
        "(`limits` notation; empty: off).",
    )
    rate_limit_runs_user: str = Field(
        default="120/minute",
        description="Runs started per user (`limits` notation; empty: off).",
    )
    rate_limit_runs_address: str = Field(
        default="300/minute",
        description="Runs started per client address (`limits` notation; empty: off).",
    )
    rate_limit_assistant_user: str = Field(
        default="10/minute",
        description="Assistant questions per user (`limits` notation; empty: off).",
    )
    assistant_allow_loopback: bool = Field(
        default=False,
        description="Let model endpoints point at this machine's loopback addresses (a "
        "local model server such as Ollama or llama.cpp); refused by default. The "
        "outbound_allow and outbound_deny lists apply to model endpoints too.",
    )
    assistant_correction_rounds: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Times the assistant feeds a retryable problem of its SQL (an unknown "
        "table or column, a syntax error, a failed EXPLAIN) back to the model.",
    )
    assistant_candidate_tables: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Candidate tables the assistant shows the model to choose from.",
    )
    assistant_max_answer_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="Largest answer read from a model server, bytes; a larger one is "
        "refused as LLM_INVALID_OUTPUT.",
    )
    assistant_log_max_chars: int = Field(
        default=20_000,
        ge=0,
        description="Characters of a prompt and of a response kept in the inference log "
        "(each; the rest is cut and marked).",
    )
    assistant_log_retention_days: float | None = Field(
        default=None,
        ge=1,
        description="Inference log entries older than this many days are deleted (in the "
        "background, each prune audited as assistant.log.prune). Unset: kept forever.",
    )

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("cors_allowed_origins", mode="after")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            check_origin(origin)
        return [origin.lower() for origin in value]

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in _REDIS_SCHEMES:
            raise ValueError("must start with redis://, rediss:// or redis+unix://")
        return value

    @field_validator(
        "rate_limit_login_user",
        "rate_limit_login_address",
        "rate_limit_runs_user",
        "rate_limit_runs_address",
        "rate_limit_assistant_user",
        mode="after",
    )
    @classmethod
    def _rate_limit(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        # The defaults are valid (a test parses them): `limits` (a tenth of a second of
        # imports, its asyncio storages included) loads only for a value set by hand.
        if value and (
            info.field_name is None or value != cls.model_fields[info.field_name].default
        ):
            from limits import parse_many

            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit such as '10/minute' or '5/minute;50/hour'"
                ) from None
        return value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _caps(self) -> Settings:
        if self.default_max_rows > self.max_rows_limit:
            raise ValueError("default_max_rows must not exceed max_rows_limit")
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError("default_timeout_s must not exceed max_timeout_s")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("argon2_memory_kib must be at least 8 × argon2_parallelism")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'querydeck.db'}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def allowed_file_roots(self) -> list[Path]:
        return self.file_roots if self.file_roots is not None else [self.data_dir / "files"]


def _check_environment() -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for key in os.environ:
        if not key.startswith(ENV_PREFIX) or key in _NON_FIELD_ENV:
            continue
        if key.startswith(_NON_FIELD_PREFIXES):
            continue
        if key not in known:
            raise ConfigError(f"Unknown setting {key}; see docs/configuration.md.")


def _check_toml() -> None:
    path = _config_file()
    if path is None:
        return
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name} cannot be read: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"Unknown setting(s) in {path.name}: {', '.join(unknown)}.")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning every validation problem into one clear ConfigError."""
    _check_environment()
    _check_toml()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid settings: {problems}") from None
