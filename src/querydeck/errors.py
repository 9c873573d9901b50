"""The one error hierarchy of querydeck.

Every error a user can see is a :class:`QueryDeckError` with a stable ``code`` (the same in
the API envelope, the CLI's stderr and the history table), an HTTP status that the API uses
as is, a message a person understands, and an optional ``detail`` mapping of safe,
JSON-serialisable facts (line, column, construct, run id...). Messages and details never
carry secrets: drivers sanitise native texts before building one of these.
"""

from __future__ import annotations

from typing import Any, ClassVar


class QueryDeckError(Exception):
    """Root of every querydeck error."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default
        if http_status is not None:
            self.http_status = http_status  # type: ignore[misc]
        self.detail: dict[str, Any] = dict(detail or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- set-up and configuration -------------------------------------------------------------


class ConfigError(QueryDeckError):
    """Settings are invalid, or a file the process needs at start is missing or wrong."""

    code = "CONFIG_INVALID"


class DriverInvalid(ConfigError):
    """An installed driver's entry point does not name a usable driver class (not a
    :class:`~querydeck.drivers.base.Driver`, or without a function policy)."""

    code = "DRIVER_INVALID"


class SecretKeyError(ConfigError):
    """The key file that protects stored credentials is missing, malformed or not the one
    that encrypted them."""

    code = "SECRET_KEY_INVALID"


class SecretDecryptError(QueryDeckError):
    """A stored ciphertext does not decrypt with this key for this connection."""

    code = "SECRET_DECRYPT_FAILED"


class AppDatabaseBusy(QueryDeckError):
    """querydeck's own database stayed locked beyond the bounded retries."""

    code = "APP_DB_BUSY"
    http_status = 503


class AppDatabaseUnavailable(QueryDeckError):
    code = "APP_DB_UNAVAILABLE"
    http_status = 503


# --- input and lookup ---------------------------------------------------------------------


class InvalidInput(QueryDeckError):
    """A request's values are malformed or out of range."""

    code = "INVALID_INPUT"
    http_status = 422


class NotFound(QueryDeckError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(QueryDeckError):
    code = "CONFLICT"
    http_status = 409


class UnknownDriver(InvalidInput):
    code = "UNKNOWN_DRIVER"


class ConnectionOptionsInvalid(InvalidInput):
    """Options that do not fit the driver's typed model (unknown key, wrong type...)."""

    code = "CONNECTION_OPTIONS_INVALID"


class ConnectionParamForbidden(InvalidInput):
    """A pasted URL or an option names a parameter querydeck does not allow."""

    code = "CONNECTION_PARAM_FORBIDDEN"


class ConnectionUrlInvalid(InvalidInput):
    code = "CONNECTION_URL_INVALID"


class ConnectionTargetForbidden(InvalidInput):
    """The connection points somewhere querydeck refuses to go (a path outside the roots,
    the app database, a forbidden address)."""

    code = "CONNECTION_TARGET_FORBIDDEN"


class ConnectionPrivileged(InvalidInput):
    """The connection's login can write or reach the server's files or programs; only an
    explicit override (an admin's) saves it, flagged "can write"."""

    code = "CONNECTION_PRIVILEGED"


# --- reaching a data source ---------------------------------------------------------------


class ConnectionFailed(QueryDeckError):
    """Opening a session with a data source failed. Subclasses say why."""

    code = "CONNECTION_FAILED"
    http_status = 502


class UpstreamUnavailable(ConnectionFailed):
    """The host cannot be reached, refused the connection or dropped it mid-way."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503


class AuthenticationFailed(ConnectionFailed):
    """The data source rejected the user name or password."""

    code = "CONNECTION_AUTH_FAILED"
    http_status = 422


class DatabaseNotFound(ConnectionFailed):
    code = "DATABASE_NOT_FOUND"
    http_status = 422


class DataFileNotFound(ConnectionFailed):
    code = "FILE_NOT_FOUND"
    http_status = 422


# --- statements and runs ------------------------------------------------------------------


class QueryRejected(QueryDeckError):
    """The guard refused a statement before it reached the engine.

    ``detail`` carries ``line`` and ``column`` (1-based) and the offending ``construct``
    where they are known.
    """

    code = "SQL_NOT_READ_ONLY"
    http_status = 422


class QueryFailed(QueryDeckError):
    """The engine ran the statement and reported an error (unknown column, bad cast...)."""

    code = "QUERY_FAILED"
    http_status = 400


class QueryTimeout(QueryDeckError):
    code = "QUERY_TIMEOUT"
    http_status = 504


class QueryCancelled(QueryDeckError):
    code = "QUERY_CANCELLED"
    http_status = 409


class ResourceLimit(QueryDeckError):
    code = "RESOURCE_LIMIT"
    http_status = 422


class RunNotFinished(Conflict):
    code = "RUN_NOT_FINISHED"


class ResultUnavailable(QueryDeckError):
    """The run has no stored rows: it failed, was rejected, or its file is gone."""

    code = "RESULT_UNAVAILABLE"
    http_status = 409


class ResultExpired(ResultUnavailable):
    """The run's stored rows were removed (retention); the run can be run again."""

    code = "RESULT_EXPIRED"
    http_status = 410


class FileAccessDenied(QueryRejected):
    """The statement would read or write files on the server."""

    code = "FILE_ACCESS_DENIED"
    http_status = 403


# --- catalog ------------------------------------------------------------------------------


class CatalogUnsupported(QueryDeckError):
    """The connection's driver cannot describe its catalog."""

    code = "CATALOG_UNSUPPORTED"
    http_status = 422


class CatalogNotFound(NotFound):
    """A schema, table or column is not in the (refreshed) catalog."""

    code = "CATALOG_NOT_FOUND"


class CatalogPathInvalid(InvalidInput):
    code = "CATALOG_PATH_INVALID"


class CatalogTimeout(QueryTimeout):
    """Describing a schema ran past the connection's catalog timeout."""

    code = "CATALOG_TIMEOUT"


class ResultCorrupt(ResultUnavailable):
    """The run's stored rows fail their checks (a damaged or truncated file)."""

    code = "RESULT_CORRUPT"
    http_status = 409


class ResultMissing(ResultExpired):
    """The run's stored rows disappeared from disk without being evicted."""

    code = "RESULT_MISSING"
    http_status = 410


class ResultStoreFull(QueryDeckError):
    """The disk holding result files filled up while a run was saving its rows."""

    code = "RESULT_STORE_FULL"
    http_status = 507


class TooManyRuns(QueryDeckError):
    """A user or a connection already has as many runs in flight as allowed.

    ``detail`` carries ``retry_after_s`` (the API's ``Retry-After``), ``limit`` and ``scope``.
    """

    code = "TOO_MANY_RUNS"
    http_status = 429


class SavedQueryNotFound(NotFound):
    code = "SAVED_QUERY_NOT_FOUND"


class ExportUnavailable(ResultUnavailable):
    """The run cannot be exported (it did not succeed)."""

    code = "EXPORT_UNAVAILABLE"
    http_status = 409


# --- uploaded certificates ----------------------------------------------------------------


class CertificateInvalid(InvalidInput):
    """An upload is not a bundle of PEM CA certificates querydeck accepts."""

    code = "CERTIFICATE_INVALID"


class CertificatePrivateKey(CertificateInvalid):
    """An upload contains a private key; nothing of it is stored or echoed."""

    code = "CERTIFICATE_PRIVATE_KEY"


class CertificateExpired(CertificateInvalid):
    """A certificate of the upload is expired or not valid yet."""

    code = "CERTIFICATE_EXPIRED"


class CertificateTooLarge(InvalidInput):
    code = "CERTIFICATE_TOO_LARGE"
    http_status = 413


class CertificateNotFound(NotFound):
    code = "CERTIFICATE_NOT_FOUND"


class CertificateInUse(Conflict):
    """A certificate that connections use cannot be removed."""

    code = "CERTIFICATE_IN_USE"


class CertificateUnknown(ConnectionOptionsInvalid):
    """A connection option names a certificate that was never uploaded (or was removed)."""

    code = "CONNECTION_CERTIFICATE_UNKNOWN"


class ConnectionUntrusted(ConnectionFailed):
    """The server's TLS certificate did not verify against the connection's CA (or did not
    match its host name)."""

    code = "CONNECTION_TLS_UNTRUSTED"
    http_status = 502


# --- accounts, permissions and HTTP limits --------------------------------------------------


class Unauthenticated(QueryDeckError):
    """No valid session or token: missing, expired, revoked, forged or for a disabled user."""

    code = "UNAUTHENTICATED"
    http_status = 401


class LoginFailed(Unauthenticated):
    """Wrong user name or password (the message never says which)."""

    code = "LOGIN_FAILED"


class Forbidden(QueryDeckError):
    """Authenticated, but the role or the grants do not allow this action. Used only where
    the object's existence is already known to the caller; otherwise the answer is 404."""

    code = "FORBIDDEN"
    http_status = 403


class CsrfFailed(Forbidden):
    """A cookie-authenticated state-changing request without the CSRF token or from
    another origin."""

    code = "CSRF_FAILED"


class RateLimited(QueryDeckError):
    """Too many requests of one kind for a user or an address; ``detail.retry_after_s``."""

    code = "RATE_LIMITED"
    http_status = 429


class PayloadTooLarge(QueryDeckError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


# --- user accounts, passwords and API tokens ------------------------------------------------


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"


class UserExists(Conflict):
    """Another user already has this name (names are unique ignoring case)."""

    code = "USER_EXISTS"


class UsernameInvalid(InvalidInput):
    """A user name that is empty, too long, reserved or has characters other than letters,
    digits and ``._-``."""

    code = "USERNAME_INVALID"


class PasswordRejected(InvalidInput):
    """A new password the policy refuses; ``detail.reason`` is ``too_short``, ``too_long``,
    ``common`` or ``username`` (the password itself is never echoed)."""

    code = "PASSWORD_REJECTED"


class PasswordIncorrect(Forbidden):
    """Changing one's own password with a wrong current password."""

    code = "PASSWORD_INCORRECT"


class LastAdmin(Conflict):
    """The change would leave no enabled administrator."""

    code = "LAST_ADMIN"


class TokenNotFound(NotFound):
    """No API token of the caller has this id (another user's token answers this too)."""

    code = "TOKEN_NOT_FOUND"


# --- per-user preferences -------------------------------------------------------------------


class PreferenceNotFound(NotFound):
    """The user has no preference with that key."""

    code = "PREFERENCE_NOT_FOUND"


class PreferenceKeyInvalid(InvalidInput):
    """A preference key that does not fit the documented pattern (see
    :mod:`querydeck.auth.preferences`)."""

    code = "PREFERENCE_KEY_INVALID"


class PreferenceValueInvalid(InvalidInput):
    """A preference value that is not plain JSON (a non-finite number, an integer beyond
    64 bits, a non-string object key, an unpaired surrogate, nesting deeper than 255)."""

    code = "PREFERENCE_VALUE_INVALID"


# --- HTTP hardening and rate limits ---------------------------------------------------------


class JsonTooDeep(QueryDeckError):
    """A JSON request body nests arrays and objects deeper than the limit;
    ``detail.limit`` is the limit."""

    code = "JSON_TOO_DEEP"
    http_status = 400


class RateLimitUnavailable(QueryDeckError):
    """The shared rate-limit store (Redis) cannot be reached, and the action is one that is
    refused rather than left unlimited (logins, assistant questions)."""

    code = "RATE_LIMIT_UNAVAILABLE"
    http_status = 503


# --- the command line against a querydeck server --------------------------------------------


class ServerUrlInvalid(InvalidInput):
    """A server address that is not an http(s) URL of a host (no user, query or fragment),
    or plain http to another machine without ``--insecure``."""

    code = "SERVER_URL_INVALID"


class ServerUnreachable(QueryDeckError):
    """The querydeck server could not be reached, or the connection broke before it
    answered (refused, name not resolved, TLS not verified, timed out)."""

    code = "SERVER_UNREACHABLE"
    http_status = 503


class ServerAnswerInvalid(QueryDeckError):
    """The server answered with something that is not a querydeck answer (a proxy's error
    page, a redirect, another service on that port)."""

    code = "SERVER_ANSWER_INVALID"
    http_status = 502


class NotLoggedIn(Unauthenticated):
    """Server mode without a token for that server: no ``querydeck login`` and no
    ``QUERYDECK_TOKEN``."""

    code = "NOT_LOGGED_IN"


class CredentialsInvalid(ConfigError):
    """The CLI's credentials file cannot be read or written, is not valid, or is readable by
    other users."""

    code = "CREDENTIALS_INVALID"


class LocalOnlyCommand(QueryDeckError):
    """A command that works on this machine's data directory was asked to talk to a
    server."""

    code = "LOCAL_ONLY_COMMAND"
    http_status = 400


# --- audit log ----------------------------------------------------------------------------


class AuditUnavailable(QueryDeckError):
    """The audit log could not record a run, so its rows are not handed out (the run ends
    failed and its stored rows are discarded): data nobody can account for is never served."""

    code = "AUDIT_UNAVAILABLE"
    http_status = 503
