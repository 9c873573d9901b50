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


class BadRequest(QueryDeckError):
    """A request the HTTP layer cannot read at all."""

    code = "BAD_REQUEST"
    http_status = 400


class HttpError(QueryDeckError):
    """Any other failure of the HTTP layer, with its status."""

    code = "HTTP_ERROR"


class MethodNotAllowed(QueryDeckError):
    """No such route or method."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class RunInterrupted(QueryDeckError):
    """The querydeck process running the run stopped (killed, crashed, machine restarted); the
    run was ended `failed` and its partial rows removed; run it again."""

    code = "RUN_INTERRUPTED"
    http_status = 500


class UnsupportedMediaType(QueryDeckError):
    """An upload that is not `application/json`. A `PUT` that is not `application/json`."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


# --- set-up and configuration -------------------------------------------------------------


class ConfigError(QueryDeckError):
    """Bad settings at start (the process does not start)."""

    code = "CONFIG_INVALID"


class DriverInvalid(ConfigError):
    """An installed driver's entry point does not name a usable driver class (not a
    :class:`~querydeck.drivers.base.Driver`, or without a function policy)."""

    code = "DRIVER_INVALID"


class AddressUnavailable(ConfigError):
    """`querydeck serve` cannot bind its address: the port is taken by another process
    (another querydeck?) or the address is not this machine's. Nothing was started or
    changed; choose another port with `--port` or `QUERYDECK_PORT` (or `port` in the
    settings file)."""

    code = "ADDRESS_UNAVAILABLE"


class SecretKeyError(ConfigError):
    """Missing, malformed or different key file at start."""

    code = "SECRET_KEY_INVALID"


class SecretDecryptError(QueryDeckError):
    """A stored credential does not decrypt for its connection."""

    code = "SECRET_DECRYPT_FAILED"


class AppDatabaseBusy(QueryDeckError):
    """querydeck's own database stayed locked beyond the bounded retries (`Retry-After`)."""

    code = "APP_DB_BUSY"
    http_status = 503


class AppDatabaseUnavailable(QueryDeckError):
    """querydeck's own database cannot be reached."""

    code = "APP_DB_UNAVAILABLE"
    http_status = 503


# --- input and lookup ---------------------------------------------------------------------


class InvalidInput(QueryDeckError):
    """A request body or parameter fails validation (`detail.problems` lists fields)."""

    code = "INVALID_INPUT"
    http_status = 422


class CatalogPatternInvalid(InvalidInput):
    """A malformed catalog path, search text or schema pattern."""

    code = "CATALOG_PATTERN_INVALID"


class CatalogSearchInvalid(InvalidInput):
    """A malformed catalog path, search text or schema pattern."""

    code = "CATALOG_SEARCH_INVALID"


class CertificateNameInvalid(InvalidInput):
    """Empty, longer than 128 characters, or containing control characters or
    bidirectional overrides (U+202A–U+202E, U+2066–U+2069)."""

    code = "CERTIFICATE_NAME_INVALID"


class ConnectionNameInvalid(InvalidInput):
    r"""Empty, longer than 128 characters, or containing control characters, bidirectional
    overrides (U+202A–U+202E, U+2066–U+2069), `/` or `\`."""

    code = "CONNECTION_NAME_INVALID"


class ConnectionRequired(InvalidInput):
    """A saved query without a default connection was run without naming one."""

    code = "CONNECTION_REQUIRED"


class CursorInvalid(InvalidInput):
    """A history or audit cursor this server did not hand out."""

    code = "INVALID_CURSOR"


class FileUnreadable(InvalidInput):
    """`querydeck certificates add` cannot read the file."""

    code = "FILE_UNREADABLE"


class GrantInvalid(InvalidInput):
    """Unknown actions, none, or both/neither of user and group."""

    code = "GRANT_INVALID"


class GroupNameInvalid(InvalidInput):
    """A group name has 1 to 200 printable characters."""

    code = "GROUP_NAME_INVALID"


class PasswordRequired(InvalidInput):
    """`--password-stdin` found no password."""

    code = "PASSWORD_REQUIRED"


class SavedQueryNameInvalid(InvalidInput):
    """A name or tag that cannot be used (empty, control characters, bidirectional
    overrides)."""

    code = "SAVED_QUERY_NAME_INVALID"


class SavedQueryShareInvalid(InvalidInput):
    """A shared saved query needs a default connection."""

    code = "SAVED_QUERY_SHARE_INVALID"


class SavedQueryTagInvalid(InvalidInput):
    """A name or tag that cannot be used (empty, control characters, bidirectional
    overrides)."""

    code = "SAVED_QUERY_TAG_INVALID"


class SavedQueryChartInvalid(InvalidInput):
    """A saved query's chart that is not a Vega-Lite spec querydeck keeps (an object of at
    most 64 KB, without inline data)."""

    code = "SAVED_QUERY_CHART_INVALID"


class TokenExpiryInvalid(InvalidInput):
    """A token name that is empty, longer than 100 characters or has control characters; an
    expiry outside 1 to `token_max_days`."""

    code = "TOKEN_EXPIRY_INVALID"


class TokenNameInvalid(InvalidInput):
    """A token name that is empty, longer than 100 characters or has control characters or
    bidirectional overrides; an expiry outside 1 to `token_max_days`."""

    code = "TOKEN_NAME_INVALID"


class NotFound(QueryDeckError):
    """No such route or method."""

    code = "NOT_FOUND"
    http_status = 404


class ConnectionNotFound(NotFound):
    """No connection with that name."""

    code = "CONNECTION_NOT_FOUND"


class GrantNotFound(NotFound):
    """The user or group has no grant on the connection."""

    code = "GRANT_NOT_FOUND"


class GroupMemberNotFound(NotFound):
    """The user is not a member of the group."""

    code = "GROUP_MEMBER_NOT_FOUND"


class GroupNotFound(NotFound):
    """No group with that name."""

    code = "GROUP_NOT_FOUND"


class RunNotFound(NotFound):
    """No run with that id (or id prefix)."""

    code = "RUN_NOT_FOUND"


class RunIdAmbiguous(QueryDeckError):
    """A run id prefix matches more than one run (`detail.candidates` lists some of them):
    give more characters."""

    code = "RUN_ID_AMBIGUOUS"
    http_status = 400


class Conflict(QueryDeckError):
    """The request conflicts with the current state of what it names (the specific codes
    say how)."""

    code = "CONFLICT"
    http_status = 409


class CertificateNameTaken(Conflict):
    """Names are unique after NFC normalisation and case folding."""

    code = "CERTIFICATE_NAME_TAKEN"


class ConnectionNameTaken(Conflict):
    """Names are unique, compared after Unicode NFC normalisation and case folding."""

    code = "CONNECTION_NAME_TAKEN"


class GroupNameTaken(Conflict):
    """A group with that name (ignoring case) exists."""

    code = "GROUP_NAME_TAKEN"


class RunNotRunning(Conflict):
    """Cancel of a run that has already ended."""

    code = "RUN_NOT_RUNNING"


class SavedQueryAmbiguous(Conflict):
    """Several shared saved queries have that name; use the id."""

    code = "SAVED_QUERY_AMBIGUOUS"


class SavedQueryNameTaken(Conflict):
    """The user already has a saved query with that name."""

    code = "SAVED_QUERY_NAME_TAKEN"


class UnknownDriver(InvalidInput):
    """No installed driver with that name or URL scheme."""

    code = "UNKNOWN_DRIVER"


class ConnectionOptionsInvalid(InvalidInput):
    """An option of the wrong type or out of range, or holding a control character (CR,
    LF, NUL, other C0 or C1); the value is never echoed."""

    code = "CONNECTION_OPTIONS_INVALID"


class ConnectionSecretRequired(InvalidInput):
    """A stored secret (password, token, key) is bound to the options it was saved with:
    changing the host, port, user, database, TLS settings or another option that decides
    where or how it is sent needs the secret given again (or set to null to drop it). Also
    answered when a stored secret no longer matches its connection's options."""

    code = "CONNECTION_SECRET_REQUIRED"


class ConnectionParamForbidden(InvalidInput):
    """A URL parameter that is not allowed (e.g. `?host=`, `?options=`, `local_infile`)."""

    code = "CONNECTION_PARAM_FORBIDDEN"


class ConnectionOptionUnknown(ConnectionParamForbidden):
    """An option the driver does not have."""

    code = "CONNECTION_OPTION_UNKNOWN"


class ConnectionUrlInvalid(InvalidInput):
    """A pasted URL that cannot be parsed."""

    code = "CONNECTION_URL_INVALID"


class ConnectionTargetForbidden(InvalidInput):
    """A target querydeck refuses: a Unix-socket host, an address the outbound policy denies
    (cloud metadata, link-local, unspecified, querydeck's own listeners,
    `outbound_deny`, outside `outbound_allow`), a file outside the file roots,
    querydeck's own files, a URI-style path."""

    code = "CONNECTION_TARGET_FORBIDDEN"


class ConnectionPrivileged(InvalidInput):
    """The login can write or reach the server's files or programs; `detail.reasons` says why.
    Saved only with the admin override `allow_privileged`."""

    code = "CONNECTION_PRIVILEGED"


# --- reaching a data source ---------------------------------------------------------------


class ConnectionFailed(QueryDeckError):
    """Any other failure to open a session."""

    code = "CONNECTION_FAILED"
    http_status = 502


class UpstreamUnavailable(ConnectionFailed):
    """The host is unreachable, refused the connection or dropped it."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503


class DriverClientMissing(ConnectionFailed):
    """The driver's client library is an optional dependency that is not installed (Spark:
    `pip install 'querydeck[spark]'`)."""

    code = "DRIVER_CLIENT_MISSING"
    http_status = 503


class AuthenticationFailed(ConnectionFailed):
    """The server rejected the user name or password."""

    code = "CONNECTION_AUTH_FAILED"
    http_status = 422


class DatabaseAccessDenied(ConnectionFailed):
    """The server accepted the login but it may not use that database (MySQL/MariaDB 1044,
    PostgreSQL's missing CONNECT privilege or a `pg_hba.conf` rule): grant it on the server,
    or name a database the login may use. The password is not the problem."""

    code = "DATABASE_ACCESS_DENIED"
    http_status = 422


class DatabaseNotFound(ConnectionFailed):
    """The server has no such database."""

    code = "DATABASE_NOT_FOUND"
    http_status = 422


class DataFileNotFound(ConnectionFailed):
    """The database file does not exist."""

    code = "FILE_NOT_FOUND"
    http_status = 422


# --- statements and runs ------------------------------------------------------------------


class QueryRejected(QueryDeckError):
    """A statement refused as not a read, by the guard or an engine's read-only layer; the
    subclasses say which rule (the family, never raised as such)."""

    code = "SQL_REJECTED"
    http_status = 422


class SqlEmpty(QueryRejected):
    """Empty, whitespace or comment-only text."""

    code = "SQL_EMPTY"


class SqlForbiddenFunction(QueryRejected):
    """A function with side effects, sleeps/locks, configuration setters or SQL-in-a-string
    evaluators, or one an administrator listed in `QUERYDECK_FORBIDDEN_FUNCTIONS`
    ([function-policy.md](function-policy.md)). `detail.construct` names it."""

    code = "SQL_FORBIDDEN_FUNCTION"


class SqlForbiddenSyntax(QueryRejected):
    """A construct that is not on the read allow-list (e.g. MySQL executable comments `/*! …
    */`, variable assignment)."""

    code = "SQL_FORBIDDEN_SYNTAX"


class SqlMultipleStatements(QueryRejected):
    """More than one statement (one trailing `;` is fine)."""

    code = "SQL_MULTIPLE_STATEMENTS"


class SqlNotReadOnly(QueryRejected):
    """A write, DDL, `INTO`, `FOR UPDATE`, transaction or session control, `EXPLAIN ANALYZE`…
    anywhere in the statement. `detail.construct` names it."""

    code = "SQL_NOT_READ_ONLY"


class SqlParseError(QueryRejected):
    """The text does not parse in the connection's dialect (also NUL characters, invalid
    Unicode, nesting too deep). The message says what is wrong in SQL terms (a word that
    starts no statement, a misspelt keyword, a missing `)` or value, an unclosed quote);
    `detail.line`/`column` point at the wrong token and `detail.token` is its text."""

    code = "SQL_PARSE_ERROR"


class SqlTooLarge(QueryRejected):
    """Longer than `QUERYDECK_MAX_SQL_BYTES`."""

    code = "SQL_TOO_LARGE"


class SqlTooComplex(QueryRejected):
    """More words and symbols than `QUERYDECK_MAX_SQL_TOKENS`: the guard's work on one
    statement is bounded, so one user's huge statement cannot hold the server."""

    code = "SQL_TOO_COMPLEX"


class SqlValueTooLarge(QueryRejected):
    """A function call could build a value larger than a statement may (DuckDB's `repeat`,
    `lpad`, `printf` widths, scalar `range`…, SQLite's `printf('%.*c', …)`;
    docs/security.md), or its size argument is not a constant: the engine cannot be
    interrupted inside one call, so it is refused first."""

    code = "SQL_VALUE_TOO_LARGE"


class QueryFailed(QueryDeckError):
    """The engine reported an error (unknown table, bad cast…); its message is kept, and
    what the engine adds: `detail.hint` (PostgreSQL's "Perhaps you meant to reference the
    column …"), `detail.engine_detail`, `detail.sqlstate`, and the error's place as
    `detail.position` (1-based character) with `line`/`column`."""

    code = "QUERY_FAILED"
    http_status = 400


class ResultTypeMismatch(QueryFailed):
    """A value has no exact form in its column's type (a SQLite column mixing types, an
    infinite date, a NaN numeric in a decimal column, a value an engine returned that its
    column's type cannot hold); add a `CAST`."""

    code = "RESULT_TYPE_MISMATCH"


class QueryTimeout(QueryDeckError):
    """The statement exceeded its timeout and was stopped on the engine."""

    code = "QUERY_TIMEOUT"
    http_status = 504


class QueryCancelled(QueryDeckError):
    """The run was cancelled (API, CLI Ctrl-C, shutdown)."""

    code = "QUERY_CANCELLED"
    http_status = 409


class ResourceLimit(QueryDeckError):
    """The engine ran out of its memory limit."""

    code = "RESOURCE_LIMIT"
    http_status = 422


class RunNotFinished(Conflict):
    """Rows asked for before the run ended."""

    code = "RUN_NOT_FINISHED"


class ResultUnavailable(QueryDeckError):
    """The run ended without rows (failed, rejected, cancelled)."""

    code = "RESULT_UNAVAILABLE"
    http_status = 409


class ResultExpired(ResultUnavailable):
    """The stored rows were removed; run it again."""

    code = "RESULT_EXPIRED"
    http_status = 410


class FileAccessDenied(QueryRejected):
    """A function or engine feature that reads or writes server files (also a DuckDB table name
    that is a path or URL, or a file access DuckDB itself refused)."""

    code = "FILE_ACCESS_DENIED"
    http_status = 403


# --- catalog ------------------------------------------------------------------------------


class CatalogUnsupported(QueryDeckError):
    """The driver cannot describe its catalog."""

    code = "CATALOG_UNSUPPORTED"
    http_status = 422


class CatalogNotFound(NotFound):
    """A schema, relation or column that is not in the catalog ([catalog.md](catalog.md))."""

    code = "CATALOG_NOT_FOUND"


class CatalogPathInvalid(InvalidInput):
    """A malformed catalog path, search text or schema pattern."""

    code = "CATALOG_PATH_INVALID"


class CatalogTimeout(QueryTimeout):
    """Reading the catalog ran past its timeout; the last good snapshot is kept."""

    code = "CATALOG_TIMEOUT"


class ResultCorrupt(ResultUnavailable):
    """The stored result file is damaged."""

    code = "RESULT_CORRUPT"
    http_status = 409


class ResultMissing(ResultExpired):
    """The stored rows are gone from disk (not evicted); the run is marked; run it again."""

    code = "RESULT_MISSING"
    http_status = 410


class ResultStoreFull(QueryDeckError):
    """The disk of the result store filled up while the run saved rows; the run failed and its
    partial result was removed."""

    code = "RESULT_STORE_FULL"
    http_status = 507


class TooManyRuns(QueryDeckError):
    """The user or the connection has as many runs in flight as allowed; `Retry-After` says
    when to try again."""

    code = "TOO_MANY_RUNS"
    http_status = 429


class SavedQueryNotFound(NotFound):
    """No saved query with that id or name (for this user)."""

    code = "SAVED_QUERY_NOT_FOUND"


class ResultColumnUnknown(InvalidInput):
    """A sort, filter, statistic or chart names a column the stored result does not have."""

    code = "RESULT_COLUMN_UNKNOWN"


class ResultViewInvalid(InvalidInput):
    """A sort or filter of a stored result is malformed, or its value does not fit the
    column's type."""

    code = "RESULT_VIEW_INVALID"


class ExportUnavailable(ResultUnavailable):
    """Only a succeeded run can be exported."""

    code = "EXPORT_UNAVAILABLE"
    http_status = 409


# --- uploaded certificates ----------------------------------------------------------------


class CertificateInvalid(InvalidInput):
    """Not PEM certificates only (garbage, DER, other PEM blocks, unparsable), more than 32
    certificates, or a certificate that is neither a CA nor self-signed."""

    code = "CERTIFICATE_INVALID"


class CertificatePrivateKey(CertificateInvalid):
    """The upload contains a private key; nothing was stored, the key is never echoed."""

    code = "CERTIFICATE_PRIVATE_KEY"


class CertificateExpired(CertificateInvalid):
    """A certificate of the upload has expired or is not valid yet."""

    code = "CERTIFICATE_EXPIRED"


class CertificateTooLarge(InvalidInput):
    """The PEM is larger than 64 KB."""

    code = "CERTIFICATE_TOO_LARGE"
    http_status = 413


class CertificateNotFound(NotFound):
    """No certificate with that id."""

    code = "CERTIFICATE_NOT_FOUND"


class CertificateInUse(Conflict):
    """Connections name it in `ssl_ca_certificate` (`detail.connections`)."""

    code = "CERTIFICATE_IN_USE"


class CertificateUnknown(ConnectionOptionsInvalid):
    """`ssl_ca_certificate` names no uploaded certificate."""

    code = "CONNECTION_CERTIFICATE_UNKNOWN"


class ConnectionUntrusted(ConnectionFailed):
    """The server's TLS certificate did not chain to the connection's CA, or did not name its
    host (`verify-full`)."""

    code = "CONNECTION_TLS_UNTRUSTED"
    http_status = 502


# --- accounts, permissions and HTTP limits --------------------------------------------------


class Unauthenticated(QueryDeckError):
    """No valid session cookie or API token: missing, unknown, forged, expired (`detail.reason:
    "expired"`), revoked, or of a disabled user. From the server: the token expired or
    was revoked; the CLI adds "log in again with `querydeck login URL`"."""

    code = "UNAUTHENTICATED"
    http_status = 401


class LoginFailed(Unauthenticated):
    """Wrong user name or password (never says which), or a disabled user."""

    code = "LOGIN_FAILED"


class Forbidden(QueryDeckError):
    """Authenticated, but not allowed: the family of the refusals below; raised as such for
    the local command line acting without an account where one is needed (log in)."""

    code = "FORBIDDEN"
    http_status = 403


class HistoryUserForbidden(Forbidden):
    """A user who is not an administrator asked for another user's history: everyone sees
    their own runs; only administrators see (and filter by) other users'."""

    code = "HISTORY_USER_FORBIDDEN"


class AdminRequired(Forbidden):
    """An administrator's operation, the one code for every admin-only refusal: users,
    groups, grants, connections added or deleted, file-based connections managed,
    certificates, the audit log, model endpoints."""

    code = "ADMIN_REQUIRED"


class GrantMissing(Forbidden):
    """The user sees the connection but their grants lack the action (`detail.action`)."""

    code = "GRANT_MISSING"


class RoleForbidden(Forbidden):
    """The user's role never allows this (a viewer writing SQL or exporting)."""

    code = "ROLE_FORBIDDEN"


class SavedQueryNotOwner(Forbidden):
    """Changing or deleting another user's shared saved query."""

    code = "SAVED_QUERY_NOT_OWNER"


class CsrfFailed(Forbidden):
    """A cookie-authenticated `POST`/`PUT`/`PATCH`/`DELETE` without the session's `X-CSRF-
    Token`, or whose `Origin`/`Referer` is another site; a login from another site."""

    code = "CSRF_FAILED"


class RateLimited(QueryDeckError):
    """Too many logins, runs or assistant questions for one user or one address in the window;
    `Retry-After` (and `detail.retry_after_s`) says when to try again, `detail.scope`
    which limit (`login_user`, `login_address`, `runs_user`, `runs_address`,
    `assistant_user`)."""

    code = "RATE_LIMITED"
    http_status = 429


class RequestBodyTimeout(QueryDeckError):
    """The request body did not arrive within `QUERYDECK_REQUEST_BODY_TIMEOUT_S` of the
    request's start (a client sending slowly or not at all); the connection is closed."""

    code = "REQUEST_BODY_TIMEOUT"
    http_status = 408


class PayloadTooLarge(QueryDeckError):
    """The upload request body is larger than its bound. The value is over 65,536 bytes of
    compact UTF-8 JSON, or the request body over 266,240 bytes. A request body over
    `QUERYDECK_MAX_REQUEST_BYTES` (10 MiB): refused from its Content-Length without
    being read, or as soon as a chunked body passes the limit; the connection is closed.
    `detail.limit`, `detail.size_at_least`."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


# --- uploaded files -------------------------------------------------------------------------


class UploadTooLarge(PayloadTooLarge):
    """An uploaded file larger than `QUERYDECK_UPLOAD_MAX_BYTES`; nothing is kept.
    `detail.limit`."""

    code = "UPLOAD_TOO_LARGE"
    http_status = 413


class UploadTypeUnsupported(UnsupportedMediaType):
    """An uploaded file that is not CSV, Parquet or Excel (.xlsx) by its content (its name
    does not count); nothing is kept."""

    code = "UPLOAD_TYPE_UNSUPPORTED"
    http_status = 415


class UploadNameInvalid(InvalidInput):
    """A table name for an upload that is not letters, digits and `_` (not starting with a
    digit, at most 63 characters), or an upload without a file part."""

    code = "UPLOAD_NAME_INVALID"


class UploadExists(Conflict):
    """Your uploads already hold a table of that name; upload with `replace` to overwrite
    it."""

    code = "UPLOAD_EXISTS"


class UploadsConnectionTaken(Conflict):
    """The name of your uploads connection (`uploads-<username>`) is taken by another
    connection; an administrator renames that one."""

    code = "UPLOADS_CONNECTION_TAKEN"


# --- user accounts, passwords and API tokens ------------------------------------------------


class UserNotFound(NotFound):
    """No user with that name."""

    code = "USER_NOT_FOUND"


class UserExists(Conflict):
    """A user with that name exists (compared ignoring case)."""

    code = "USER_EXISTS"


class UsernameInvalid(InvalidInput):
    """Not 1 to 64 letters, digits, `.`, `_`, `-` starting with a letter or digit, or reserved
    (`local`)."""

    code = "USERNAME_INVALID"


class PasswordRejected(InvalidInput):
    """The policy refuses the new password; `detail.reason` is `too_short`, `too_long`,
    `username` or `common`. The password is never echoed."""

    code = "PASSWORD_REJECTED"


class PasswordIncorrect(Forbidden):
    """Changing one's own password with a wrong current password."""

    code = "PASSWORD_INCORRECT"


class LastAdmin(Conflict):
    """The change would leave no enabled administrator."""

    code = "LAST_ADMIN"


class TokenNotFound(NotFound):
    """The caller has no API token with that id (another user's token answers this too)."""

    code = "TOKEN_NOT_FOUND"


# --- per-user preferences -------------------------------------------------------------------


class PreferenceNotFound(NotFound):
    """You have no preference with that key (another user's are never found)."""

    code = "PREFERENCE_NOT_FOUND"


class PreferenceKeyInvalid(InvalidInput):
    """A key that is empty, longer than 128 characters after NFC normalisation, or not letters,
    digits and `. _ : - /` with every `/`-separated part starting with a letter or digit
    (`detail.problem`: `empty`, `too_long` or `character` with `detail.position`)."""

    code = "PREFERENCE_KEY_INVALID"


class PreferenceValueInvalid(InvalidInput):
    """A value that is not plain JSON: nesting deeper than 255 levels, integers beyond signed
    64 bits, NaN or infinities."""

    code = "PREFERENCE_VALUE_INVALID"


# --- HTTP hardening and rate limits ---------------------------------------------------------


class JsonTooDeep(QueryDeckError):
    """A JSON body nests arrays and objects deeper than `QUERYDECK_MAX_JSON_DEPTH` (64;
    `detail.limit`)."""

    code = "JSON_TOO_DEEP"
    http_status = 400


class RateLimitUnavailable(QueryDeckError):
    """`QUERYDECK_REDIS_URL` is set but Redis cannot be reached: logins and assistant questions
    are refused until it is back (runs are not rate limited meanwhile)."""

    code = "RATE_LIMIT_UNAVAILABLE"
    http_status = 503


# --- the command line against a querydeck server --------------------------------------------


class ServerUrlInvalid(InvalidInput):
    """Not an `http(s)://HOST[:PORT][/PATH]` address (no user, query or fragment), or plain
    `http` to another machine without `--insecure`."""

    code = "SERVER_URL_INVALID"


class ServerUnreachable(QueryDeckError):
    """The server could not be reached (refused, name not resolved, TLS certificate not
    verified, timed out) or the connection broke."""

    code = "SERVER_UNREACHABLE"
    http_status = 503


class ServerAnswerInvalid(QueryDeckError):
    """An answer that is not querydeck's: a proxy's error page, a redirect (never followed: the
    token must not go elsewhere), another service, another querydeck version's form."""

    code = "SERVER_ANSWER_INVALID"
    http_status = 502


class NotLoggedIn(Unauthenticated):
    """`--server`/`QUERYDECK_SERVER` without a token for that server: run `querydeck login URL`
    or set `QUERYDECK_TOKEN`."""

    code = "NOT_LOGGED_IN"


class CredentialsInvalid(ConfigError):
    """The credentials file cannot be read or written, is not a querydeck credentials file, or
    can be read by other users (`chmod 600` it)."""

    code = "CREDENTIALS_INVALID"


class LocalOnlyCommand(QueryDeckError):
    """A command that works on this machine's data directory (keys, certificates, users,
    groups, grants, audit, serve, demo) was run with
    `--server`/`QUERYDECK_SERVER`."""

    code = "LOCAL_ONLY_COMMAND"
    http_status = 400


# --- audit log ----------------------------------------------------------------------------


class AuditUnavailable(QueryDeckError):
    """The run's audit entry could not be written, so the run ended `failed` and its rows were
    deleted (reading data never goes unaudited; see [audit.md](audit.md))."""

    code = "AUDIT_UNAVAILABLE"
    http_status = 503


# --- the assistant: model endpoints, asking, the knowledge base -----------------------------


class LLMNotConfigured(QueryDeckError):
    """No model endpoint of the kind needed is registered (an administrator adds one)."""

    code = "LLM_NOT_CONFIGURED"
    http_status = 503


class ModelEndpointNotFound(NotFound):
    """No model endpoint has that name."""

    code = "MODEL_ENDPOINT_NOT_FOUND"


class ModelEndpointExists(Conflict):
    """Another model endpoint already has this name (names are unique ignoring case)."""

    code = "MODEL_ENDPOINT_EXISTS"


class ModelEndpointInvalid(InvalidInput):
    """A model endpoint's URL, kind or limits are not usable (not http(s), user info or a
    query in the URL, a kind the call does not fit)."""

    code = "MODEL_ENDPOINT_INVALID"


class ModelTargetForbidden(InvalidInput):
    """The endpoint's address is refused by the outbound-address policy (loopback needs
    the assistant_allow_loopback setting)."""

    code = "MODEL_TARGET_FORBIDDEN"


class ModelTimeout(QueryDeckError):
    """The model server did not answer within the endpoint's timeout."""

    code = "MODEL_TIMEOUT"
    http_status = 504


class ModelUnreachable(QueryDeckError):
    """The model server could not be reached (refused, reset, name not resolved)."""

    code = "MODEL_UNREACHABLE"
    http_status = 503


class ModelUnavailable(QueryDeckError):
    """The model server answered with a server error (5xx)."""

    code = "MODEL_UNAVAILABLE"
    http_status = 503


class ModelRateLimited(QueryDeckError):
    """The model provider refused the call for its own rate limits (429);
    `detail.retry_after_s` when it said."""

    code = "MODEL_RATE_LIMITED"
    http_status = 429


class ModelAuthFailed(QueryDeckError):
    """The model provider refused the endpoint's API key (401/403)."""

    code = "MODEL_AUTH_FAILED"
    http_status = 502


class ModelRequestRejected(QueryDeckError):
    """The model provider refused the request (another 4xx: unknown model, too long)."""

    code = "MODEL_REQUEST_REJECTED"
    http_status = 502


class ModelOutputInvalid(QueryDeckError):
    """The model's answer is not what was asked for (not the protocol's JSON, no SQL, no
    valid structured output, larger than the limit), after the bounded retries."""

    code = "LLM_INVALID_OUTPUT"
    http_status = 502


class ModelSqlRejected(QueryRejected):
    """The model's SQL is refused by the guard (not one read-only statement); it is never
    executed."""

    code = "LLM_SQL_REJECTED"
    http_status = 422


class ModelSqlInvalid(QueryDeckError):
    """The model's SQL still names unknown tables or columns, or fails EXPLAIN, after the
    bounded corrections; `detail` holds the SQL and the problems."""

    code = "LLM_SQL_INVALID"
    http_status = 422


class ExampleSqlInvalid(InvalidInput):
    """An example's SQL that the guard refuses, that names tables or columns the catalog
    does not have, or that fails EXPLAIN; `detail.problems` says which."""

    code = "EXAMPLE_SQL_INVALID"


class ExampleNotFound(NotFound):
    """No example of the connection's knowledge base has that id."""

    code = "EXAMPLE_NOT_FOUND"


class GlossaryEntryNotFound(NotFound):
    """The connection's glossary has no such term."""

    code = "GLOSSARY_ENTRY_NOT_FOUND"


class GlossaryEntryExists(Conflict):
    """The term is in the connection's glossary already."""

    code = "GLOSSARY_ENTRY_EXISTS"


class AnswerNotFound(NotFound):
    """No answer of the caller has this id (another user's answers this too)."""

    code = "ANSWER_NOT_FOUND"


class KnowledgeFileInvalid(InvalidInput):
    """A Markdown knowledge file that does not follow the documented layout;
    `detail.line` says where."""

    code = "KNOWLEDGE_FILE_INVALID"


class EvalNoQuestions(InvalidInput):
    """`eval` without a question file on a connection that has no approved example."""

    code = "EVAL_NO_QUESTIONS"


class ExampleIdAmbiguous(InvalidInput):
    """A shortened example id (as the CLI lists them) that starts more than one id."""

    code = "EXAMPLE_ID_AMBIGUOUS"


class QuestionFileInvalid(InvalidInput):
    """A question file for `eval` that is not JSON Lines of `{"question", "sql"}`;
    `detail.line` says where."""

    code = "QUESTION_FILE_INVALID"


# --- codes ------------------------------------------------------------------------------


def error_class(code: str) -> type[QueryDeckError] | None:
    """The class whose stable code is ``code`` (None for a code this version does not
    know: a newer server's, or an older history row's)."""
    pending: list[type[QueryDeckError]] = [QueryDeckError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def recorded(
    code: str | None,
    message: str,
    *,
    detail: dict[str, Any] | None = None,
    http_status: int | None = None,
    default: type[QueryDeckError] = QueryFailed,
) -> QueryDeckError:
    """An error as it was recorded (a run's history row, another server's answer): the
    class of its code, else ``default`` carrying the unknown code as it was."""
    cls = error_class(code) if code else None
    if cls is not None:
        return cls(message, detail=detail, http_status=http_status)
    return default(message, code=code, detail=detail, http_status=http_status)
