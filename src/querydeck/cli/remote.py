"""The command line against a querydeck server: :class:`RemoteWorkbench` speaks the HTTP API
with the same services, methods, arguments and return values as the Workbench calls the
CLI makes (``runs`` and ``catalog``; :mod:`querydeck.cli.backend` is the shared protocol).

Errors come back as the API's envelope and are raised as the same ``QueryDeckError``
(code, message, detail, HTTP status), so the CLI prints the same ``Error [CODE]`` lines and
exits with the same codes as on this machine. A server that cannot be reached is
``SERVER_UNREACHABLE``; an answer that is not querydeck's is ``SERVER_ANSWER_INVALID``;
an expired or revoked token says to log in again. Redirects are never followed (the token
must not travel to another address).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from querydeck import __version__, errors
from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.cli.credentials import TOKEN_ENV, CredentialStore, check_transport, server_url
from querydeck.cli.remote_assistant import RemoteAssistant
from querydeck.cli.remote_connections import RemoteConnections
from querydeck.cli.remote_saved import RemoteSaved
from querydeck.errors import (
    NotLoggedIn,
    QueryDeckError,
    ServerAnswerInvalid,
    ServerUnreachable,
)
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import HistoryPage, RowsPage, RunInfo, RunRequest, RunStatus
from querydeck.sources.models import UploadInfo
from querydeck.store.pages import Page

API_PREFIX = "/api/v1"
#: Seconds to connect, and to wait for any answer (a catalog refresh can take a while).
TIMEOUT = httpx.Timeout(300.0, connect=15.0)
#: Shortest and longest pause between two looks at a run in flight, seconds.
POLL_MIN_S = 0.02
POLL_MAX_S = 0.25
M = TypeVar("M", bound=BaseModel)


class RunView(BaseModel):
    """``POST /runs``, ``GET /runs/{id}``: a run and (succeeded) its first page."""

    run: RunInfo
    page: RowsPage | None = None


_BY_STATUS: dict[int, type[QueryDeckError]] = {
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
    429: errors.RateLimited,
}


def segment(value: str) -> str:
    """One path segment of a URL, every reserved character escaped."""
    return quote(value, safe="")


def _reason(exc: Exception) -> str:
    text = (str(exc).splitlines() or [""])[0].strip()[:200]
    return text or type(exc).__name__


@functools.cache
def _certificate_check() -> ssl.SSLContext:
    """httpx's own default check of a server's certificate (its CA bundle, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), built once per process: building one reads the
    whole bundle, about 20 ms, and a command opens up to three clients (``login``)."""
    return httpx.create_ssl_context()


class ServerClient:
    """An HTTP client of one querydeck server; ``token`` authenticates every request."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server
        self.uses_env_token = False
        headers = {"User-Agent": f"querydeck-cli/{__version__}", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=server + API_PREFIX,
            headers=headers,
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=transport,
            verify=_certificate_check(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the wire -------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        content: Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """One request (a body from ``json`` or streamed from ``content``); an error
        answer is raised as its ``QueryDeckError``."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._http.build_request(
            method, path, params=clean, json=json, headers=headers, content=content
        )
        try:
            response = self._http.send(request, stream=stream)
        except httpx.ConnectError as exc:
            raise ServerUnreachable(
                f"Cannot reach the querydeck server at {self.server}: {_reason(exc)}."
            ) from None
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"The querydeck server at {self.server} did not answer in time."
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"The connection to the querydeck server at {self.server} broke: {_reason(exc)}."
            ) from None
        if response.is_success:
            return response
        if stream:
            try:
                response.read()
            except httpx.TransportError:
                pass
            finally:
                response.close()
        raise self.error(response)

    def error(self, response: httpx.Response) -> QueryDeckError:
        """The ``QueryDeckError`` of an error answer (the class the server raised when it
        declares that code, else one of the HTTP status)."""
        status = response.status_code
        if response.is_redirect:
            target = response.headers.get("location", "")
            return ServerAnswerInvalid(
                f"The server at {self.server} answered with a redirect (HTTP {status}) to "
                f"{target[:200]}; use that address.",
                detail={"status": status},
            )
        try:
            body = response.json()["error"]
            code, text = str(body["code"]), str(body["message"])
            detail = body.get("detail") or {}
            if not isinstance(detail, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return ServerAnswerInvalid(
                f"The server at {self.server} answered HTTP {status} with something that is "
                "not a querydeck answer; is the address right?",
                detail={"status": status},
            )
        if code == errors.Unauthenticated.code:
            text = f"{text} Log in again with `querydeck login {self.server}`" + (
                " (or set a valid QUERYDECK_TOKEN)." if self.uses_env_token else "."
            )
        default = _BY_STATUS.get(status, QueryDeckError)
        return errors.recorded(code, text, detail=detail, http_status=status, default=default)

    def call(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """A request whose answer is ``model``."""
        response = self.send(method, path, **kwargs)
        return parse(self.server, model, response.content)


def parse(server: str, model: type[M], content: bytes) -> M:
    try:
        return model.model_validate_json(content)
    except ValidationError:
        raise ServerAnswerInvalid(
            f"The server at {server} answered in a form this querydeck {__version__} does "
            "not know; is it the same version?"
        ) from None


def _ended_run_id(exc: QueryDeckError) -> str | None:
    """The run id of ``POST /runs`` answering a run that already ended without rows (the
    caller reads the run like any other); None for an error of the start itself."""
    run_id, status = exc.detail.get("run_id"), exc.detail.get("status")
    ended = {s.value for s in RunStatus if s.finished and s is not RunStatus.succeeded}
    if isinstance(run_id, str) and status in ended:
        return run_id
    return None


@contextlib.contextmanager
def _held_interrupt() -> Iterator[list[int]]:
    """Hold SIGINT while the block runs (the list gets an item if one came); only in the
    main thread with Python's own handler, else the block runs as is."""
    caught: list[int] = []
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield caught
        return

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class RemoteExport:
    """An export streamed from the server: chunks are written as they arrive. Rows are
    counted from line ends for CSV, TSV and NDJSON (an estimate for the progress bar when
    values hold line breaks); JSON and Parquet count all rows at the end."""

    def __init__(self, server: str, response: httpx.Response, fmt: ExportFormat) -> None:
        self._server = server
        self._response = response
        self._format = fmt
        self.total_rows = int(response.headers.get("x-querydeck-rows", "0") or 0)
        self.rows_written = 0

    def chunks(self) -> Iterator[bytes]:
        header = 1 if self._format in (ExportFormat.csv, ExportFormat.tsv) else 0
        counts = self._format in (ExportFormat.csv, ExportFormat.tsv, ExportFormat.ndjson)
        lines = 0
        try:
            for chunk in self._response.iter_bytes():
                if counts:
                    lines += chunk.count(b"\n")
                    self.rows_written = min(max(lines - header, 0), self.total_rows)
                yield chunk
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"The connection to the querydeck server at {self._server} broke during the "
                f"export: {_reason(exc)}."
            ) from None
        finally:
            self._response.close()
        self.rows_written = self.total_rows


class RemoteWorkbench(ServerClient):
    """The Workbench's run, history, export and catalog services over the HTTP API, as the
    token's user (their permissions, history and audit): ``runs`` and ``catalog`` share
    this one HTTP client."""

    def __init__(
        self, server: str, token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(server, token, transport=transport)
        self.runs = RemoteRuns(self)
        self.connections = RemoteConnections(self)
        self.saved = RemoteSaved(self, self.runs)
        self.catalog = RemoteCatalog(self)
        self.uploads = RemoteUploads(self)
        self.assistant = RemoteAssistant(self)

    def __enter__(self) -> RemoteWorkbench:
        return self


class RemoteUploads:
    """Uploads over the HTTP API: the file streamed as ``multipart/form-data``."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def upload(
        self,
        filename: str,
        chunks: Iterable[bytes],
        *,
        table: str | None = None,
        replace: bool = False,
    ) -> UploadInfo:
        boundary = f"querydeck-{uuid.uuid4().hex}"
        quoted = filename.replace("\\", "_").replace('"', "_").replace("\r", "_")
        quoted = quoted.replace("\n", "_")

        def body() -> Iterator[bytes]:
            yield (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            yield from chunks
            yield f"\r\n--{boundary}--\r\n".encode()

        return self._client.call(
            UploadInfo,
            "POST",
            "/uploads",
            params={"table": table, "replace": str(replace).lower()},
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=body(),
        )


class RemoteRuns:
    """Runs, history and exports over the HTTP API."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client
        self._pause: dict[str, float] = {}
        self._interrupted = False

    def _started(self, method: str, path: str, **kwargs: Any) -> str:
        """Start a run without waiting for it. A Ctrl-C while the server answers is held
        until the run's id is known, then raised by the next :meth:`wait`, so the caller
        can cancel the run instead of leaving it running."""
        with _held_interrupt() as interrupted:
            try:
                run_id = self._client.call(RunView, method, path, **kwargs).run.id
            except QueryDeckError as exc:
                ended = _ended_run_id(exc)
                if ended is None:
                    raise
                run_id = ended
        if interrupted:
            self._interrupted = True
        return run_id

    def start(self, request: RunRequest) -> str:
        body = {**request.model_dump(mode="json"), "wait_ms": 0, "page_size": 1}
        return self._started("POST", "/runs", json=body)

    def start_at(self, path: str, body: dict[str, Any]) -> str:
        """Start a run with a POST to ``path`` that answers like ``POST /runs`` (a saved
        query's run), without waiting for it."""
        return self._started("POST", path, json=body)

    def rerun(self, run_id: str) -> str:
        return self._started(
            "POST", f"/runs/{segment(run_id)}/rerun", params={"wait_ms": 0, "page_size": 1}
        )

    def get(self, run_id: str) -> RunInfo:
        path = f"/runs/{segment(run_id)}"
        return self._client.call(RunView, "GET", path, params={"page_size": 1}).run

    def wait(self, run_id: str, timeout_s: float | None) -> RunInfo:
        """Look at the run until it ends or ``timeout_s`` passes (None: until it ends); the
        pause between looks grows from 20 ms to 250 ms over the run's life."""
        if self._interrupted:
            self._interrupted = False
            raise KeyboardInterrupt
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            run = self.get(run_id)
            if run.status.finished:
                self._pause.pop(run_id, None)
                return run
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return run
            pause = self._pause.get(run_id, POLL_MIN_S)
            self._pause[run_id] = min(pause * 1.5, POLL_MAX_S)
            time.sleep(pause if left is None else min(pause, left))

    def rows(self, run_id: str, *, offset: int = 0, limit: int = 500) -> RowsPage:
        params = {"offset": offset, "limit": limit}
        return self._client.call(RowsPage, "GET", f"/runs/{segment(run_id)}/rows", params=params)

    def cancel(self, run_id: str) -> RunInfo:
        return self._client.call(RunInfo, "POST", f"/runs/{segment(run_id)}/cancel")

    def listing(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        connection: str | None = None,
        status: RunStatus | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        user: str | None = None,
    ) -> HistoryPage:
        params = {
            "user": user,
            "limit": limit,
            "offset": offset,
            "connection": connection,
            "status": status.value if status is not None else None,
            "q": text,
            "since": since.isoformat() if since is not None else None,
            "until": until.isoformat() if until is not None else None,
            "cursor": cursor,
        }
        return self._client.call(HistoryPage, "GET", "/runs", params=params)

    def export(self, run_id: str, fmt: ExportFormat) -> RemoteExport:
        """The export's answer once its headers arrived; the body streams in ``chunks``."""
        response = self._client.send(
            "GET",
            f"/runs/{segment(run_id)}/export",
            params={"format": fmt.value},
            headers={"Accept": "*/*"},
            stream=True,
        )
        return RemoteExport(self._client.server, response, fmt)


class RemoteCatalog:
    """Catalog browsing, refresh, table detail, search and settings over the HTTP API."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client

    def level(
        self, connection: str, path: str = "", *, limit: int = 100, offset: int = 0
    ) -> CatalogLevel:
        params = {"path": path, "limit": limit, "offset": offset}
        url = f"/connections/{segment(connection)}/catalog"
        return self._client.call(CatalogLevel, "GET", url, params=params)

    def refresh(self, connection: str, schema: str | None = None) -> RefreshReport:
        body = {"schema_name": schema} if schema is not None else None
        url = f"/connections/{segment(connection)}/catalog/refresh"
        return self._client.call(RefreshReport, "POST", url, json=body)

    def table_detail(
        self, connection: str, schema: str, table: str, *, preview_rows: int = 0
    ) -> TableDetail:
        path = f"/connections/{segment(connection)}/tables/{segment(schema)}/{segment(table)}"
        return self._client.call(TableDetail, "GET", path, params={"preview": preview_rows})

    def search(self, text: str, *, limit: int = 50, offset: int = 0) -> Page[SearchHit]:
        params = {"q": text, "limit": limit, "offset": offset}
        return self._client.call(Page[SearchHit], "GET", "/search", params=params)

    def settings(self, connection: str) -> CatalogSettings:
        path = f"/connections/{segment(connection)}/catalog/settings"
        return self._client.call(CatalogSettings, "GET", path)

    def set_settings(self, connection: str, values: CatalogSettings) -> CatalogSettings:
        path = f"/connections/{segment(connection)}/catalog/settings"
        body = values.model_dump(mode="json")
        return self._client.call(CatalogSettings, "PUT", path, json=body)


def connect(server: str, *, insecure: bool = False) -> RemoteWorkbench:
    """A RemoteWorkbench of ``server`` with ``QUERYDECK_TOKEN``, else the token that
    ``querydeck login`` kept for it (NOT_LOGGED_IN when there is none)."""
    url = server_url(server)
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    kept = None if from_env else CredentialStore().get(url)
    token = from_env or (kept.token if kept is not None else "")
    if not token:
        raise NotLoggedIn(
            f"Not logged in to {url}: run `querydeck login {url}` (or set QUERYDECK_TOKEN).",
            detail={"server": url},
        )
    check_transport(url, insecure=insecure or (kept is not None and kept.insecure))
    client = RemoteWorkbench(url, token)
    client.uses_env_token = bool(from_env)
    return client
