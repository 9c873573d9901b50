"""Generated reference pages (``docs/configuration.md``, ``docs/function-policy.md``,
``docs/errors.md``); tests keep them in step.

Regenerate with ``uv run python -m querydeck.reference``.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from querydeck import errors
from querydeck.drivers import registry
from querydeck.settings import ENV_PREFIX, Settings
from querydeck.sql.policy import policy_markdown as _policy_markdown

HEADER = """# Configuration

Every setting is an environment variable `QUERYDECK_<NAME>` or a key of `querydeck.toml`
(read from `QUERYDECK_CONFIG`, else from the working directory). The environment wins over
the file; unknown names are refused in both. This page is generated from the code
(`python -m querydeck.reference`) and checked by a test.

| variable | TOML key | default | description |
|---|---|---|---|
"""


def _default(name: str) -> str:
    info = Settings.model_fields[name]
    if info.default_factory is not None:
        if name == "data_dir":
            return "`~/.querydeck`"
        return "(none)" if info.default_factory is list else "(computed)"
    return "(unset)" if info.default is None else f"`{info.default}`"


def settings_markdown() -> str:
    rows = []
    for name, info in Settings.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        rows.append(
            f"| `{ENV_PREFIX}{name.upper()}` | `{name}` | {_default(name)} | {description} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def policy_markdown() -> str:
    """``docs/function-policy.md`` from the installed drivers' declared tables."""
    engines = []
    extras = {}
    for name in registry.names():
        driver = registry.load(name)
        title = f"{driver.title} (`{driver.name}`)"
        engines.append((title, driver.forbidden_functions))
        readers = ", ".join(f"`{f}('…')`" for f in sorted(driver.setting_functions))
        extras[title] = [
            ("Relations it may not read", driver.forbidden_relations),
            (
                "Settings it may not read by name"
                + (f" ({readers}, `@@name`)" if readers else " (`@@name`)"),
                driver.forbidden_settings,
            ),
        ]
        for flavour, table in driver.flavour_functions.items():
            if table:
                engines.append((f"{driver.title}, flavour `{flavour}`: in addition", table))
    return _policy_markdown(engines, extras)


@dataclass(frozen=True)
class Section:
    """A part of the error reference (``docs/errors.md``, generated from this module): its
    title, what to know before its table, the errors in it, and what to know after."""

    title: str
    classes: tuple[type[errors.QueryDeckError], ...]
    before: str = ""
    after: str = ""


#: The families: base classes callers catch, never raised as such.
FAMILIES: tuple[type[errors.QueryDeckError], ...] = (errors.QueryRejected,)

#: The error reference, section by section; a test keeps every error class in it.
SECTIONS: tuple[Section, ...] = (
    Section(
        "Statements (the guard) — a history row with status `rejected`",
        (
            errors.SqlEmpty,
            errors.SqlParseError,
            errors.SqlTooLarge,
            errors.SqlTooComplex,
            errors.SqlValueTooLarge,
            errors.SqlMultipleStatements,
            errors.SqlNotReadOnly,
            errors.SqlForbiddenSyntax,
            errors.SqlForbiddenFunction,
            errors.FileAccessDenied,
        ),
        after=(
            "When the engine's own parser (DuckDB, PostgreSQL through pglast) disagrees with "
            "sqlglot, the same codes are used and `detail.parser` says which parser refused. "
            "A statement that reaches an engine and is refused there (the layers below the "
            "guard: `SQL_NOT_READ_ONLY` from the PostgreSQL driver or DuckDB's sandbox, "
            "`FILE_ACCESS_DENIED` from DuckDB, `SQL_MULTIPLE_STATEMENTS` from a driver that "
            "sees a second statement) is also recorded `rejected`; other engine errors are "
            "recorded `failed`."
        ),
    ),
    Section(
        "Runs — a history row with status `failed`, `timed_out` or `cancelled`",
        (
            errors.QueryFailed,
            errors.QueryTimeout,
            errors.QueryCancelled,
            errors.ResourceLimit,
            errors.ResultTypeMismatch,
            errors.RunNotFound,
            errors.RunIdAmbiguous,
            errors.RunNotRunning,
            errors.RunNotFinished,
            errors.RunInterrupted,
            errors.ResultUnavailable,
            errors.ResultExpired,
            errors.ResultCorrupt,
            errors.ResultMissing,
            errors.ResultStoreFull,
            errors.ExportUnavailable,
            errors.ResultColumnUnknown,
            errors.ResultViewInvalid,
            errors.TooManyRuns,
            errors.CursorInvalid,
            errors.AuditUnavailable,
            errors.SavedQueryNotFound,
            errors.SavedQueryNameTaken,
            errors.SavedQueryNameInvalid,
            errors.SavedQueryTagInvalid,
            errors.SavedQueryChartInvalid,
            errors.ConnectionRequired,
        ),
    ),
    Section(
        "Connections",
        (
            errors.ConnectionNotFound,
            errors.ConnectionNameTaken,
            errors.ConnectionNameInvalid,
            errors.UnknownDriver,
            errors.ConnectionOptionUnknown,
            errors.ConnectionOptionsInvalid,
            errors.ConnectionUrlInvalid,
            errors.ConnectionParamForbidden,
            errors.ConnectionTargetForbidden,
            errors.ConnectionSecretRequired,
            errors.ConnectionPrivileged,
            errors.UpstreamUnavailable,
            errors.DriverClientMissing,
            errors.AuthenticationFailed,
            errors.DatabaseNotFound,
            errors.DataFileNotFound,
            errors.ConnectionFailed,
            errors.DatabaseAccessDenied,
            errors.ConnectionUntrusted,
            errors.CertificateUnknown,
        ),
    ),
    Section(
        "Certificates",
        (
            errors.CertificateNotFound,
            errors.CertificateNameTaken,
            errors.CertificateNameInvalid,
            errors.CertificateInUse,
            errors.CertificatePrivateKey,
            errors.CertificateInvalid,
            errors.CertificateExpired,
            errors.CertificateTooLarge,
            errors.PayloadTooLarge,
            errors.RequestBodyTimeout,
            errors.UnsupportedMediaType,
            errors.FileUnreadable,
        ),
    ),
    Section(
        "Uploaded files",
        (
            errors.UploadTooLarge,
            errors.UploadTypeUnsupported,
            errors.UploadNameInvalid,
            errors.UploadExists,
            errors.UploadsConnectionTaken,
        ),
    ),
    Section(
        "Accounts, sessions and tokens",
        (
            errors.Unauthenticated,
            errors.LoginFailed,
            errors.Forbidden,
            errors.CsrfFailed,
            errors.PasswordIncorrect,
            errors.PasswordRejected,
            errors.PasswordRequired,
            errors.UsernameInvalid,
            errors.UserExists,
            errors.UserNotFound,
            errors.LastAdmin,
            errors.TokenNotFound,
            errors.TokenNameInvalid,
            errors.TokenExpiryInvalid,
        ),
    ),
    Section(
        "Preferences",
        (
            errors.PreferenceNotFound,
            errors.PreferenceKeyInvalid,
            errors.PreferenceValueInvalid,
            errors.PayloadTooLarge,
            errors.UnsupportedMediaType,
        ),
    ),
    Section(
        "Requests and the server",
        (
            errors.InvalidInput,
            errors.NotFound,
            errors.MethodNotAllowed,
            errors.BadRequest,
            errors.HttpError,
            errors.Conflict,
            errors.AppDatabaseBusy,
            errors.AppDatabaseUnavailable,
            errors.ConfigError,
            errors.DriverInvalid,
            errors.AddressUnavailable,
            errors.SecretKeyError,
            errors.SecretDecryptError,
            errors.CatalogNotFound,
            errors.CatalogPathInvalid,
            errors.CatalogSearchInvalid,
            errors.CatalogPatternInvalid,
            errors.CatalogTimeout,
            errors.CatalogUnsupported,
            errors.QueryDeckError,
        ),
    ),
    Section(
        "Permissions — see [permissions.md](permissions.md)",
        (
            errors.AdminRequired,
            errors.HistoryUserForbidden,
            errors.RoleForbidden,
            errors.GrantMissing,
            errors.SavedQueryNotOwner,
            errors.SavedQueryShareInvalid,
            errors.SavedQueryAmbiguous,
            errors.GroupNotFound,
            errors.GroupNameTaken,
            errors.GroupNameInvalid,
            errors.GroupMemberNotFound,
            errors.GrantInvalid,
            errors.GrantNotFound,
        ),
    ),
    Section(
        "Request limits and rate limits",
        (
            errors.PayloadTooLarge,
            errors.JsonTooDeep,
            errors.RateLimited,
            errors.RateLimitUnavailable,
        ),
    ),
    Section(
        "The command line against a server (`querydeck login`, `--server`)",
        (
            errors.ServerUrlInvalid,
            errors.ServerUnreachable,
            errors.ServerAnswerInvalid,
            errors.NotLoggedIn,
            errors.Unauthenticated,
            errors.CredentialsInvalid,
            errors.LocalOnlyCommand,
        ),
        before=(
            "These are raised by the CLI itself (exit 1); errors the server answers keep the "
            "server's code, message and detail, so a command prints the same line as on the "
            "server's machine."
        ),
    ),
    Section(
        "The assistant — see [assistant.md](assistant.md)",
        (
            errors.LLMNotConfigured,
            errors.ModelEndpointNotFound,
            errors.ModelEndpointExists,
            errors.ModelEndpointInvalid,
            errors.ModelTargetForbidden,
            errors.ModelTimeout,
            errors.ModelUnreachable,
            errors.ModelUnavailable,
            errors.ModelRateLimited,
            errors.ModelAuthFailed,
            errors.ModelRequestRejected,
            errors.ModelOutputInvalid,
            errors.ModelSqlRejected,
            errors.ModelSqlInvalid,
            errors.ExampleSqlInvalid,
            errors.ExampleNotFound,
            errors.GlossaryEntryNotFound,
            errors.GlossaryEntryExists,
            errors.AnswerNotFound,
            errors.ExampleIdAmbiguous,
            errors.KnowledgeFileInvalid,
            errors.QuestionFileInvalid,
            errors.EvalNoQuestions,
        ),
    ),
)


ERRORS_HEADER = """# Error codes

Every failure has a stable code, and every code is one class of `src/querydeck/errors.py`;
this page is generated from them (`python -m querydeck.reference`) and checked by a test.
The API answers with the HTTP status shown and the envelope

```json
{"error": {"code": "SQL_NOT_READ_ONLY", "message": "…",
           "detail": {"line": 1, "column": 1}, "request_id": "…"}}
```

The CLI prints `Error [CODE]: message` on stderr and exits 1. Messages never contain a
password, a stack trace or the value of a secret option.
"""


def _paragraphs(text: str) -> str:
    return "\n\n".join(textwrap.fill(p, 92) for p in text.split("\n\n")) + "\n"


def errors_markdown() -> str:
    """``docs/errors.md``: each section of :data:`SECTIONS` as a table."""
    parts = [ERRORS_HEADER]
    for section in SECTIONS:
        parts.append(f"\n## {section.title}\n\n")
        if section.before:
            parts.append(_paragraphs(section.before) + "\n")
        parts.append("| code | HTTP | meaning |\n|---|---|---|\n")
        for cls in section.classes:
            meaning = " ".join((cls.__doc__ or "").split()).replace("|", "\\|")
            parts.append(f"| `{cls.code}` | {cls.http_status} | {meaning} |\n")
        if section.after:
            parts.append("\n" + _paragraphs(section.after))
    return "".join(parts)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/configuration.md")
    target.write_text(settings_markdown(), encoding="utf-8")
    (target.parent / "function-policy.md").write_text(policy_markdown(), encoding="utf-8")
    (target.parent / "errors.md").write_text(errors_markdown(), encoding="utf-8")


if __name__ == "__main__":
    main()
