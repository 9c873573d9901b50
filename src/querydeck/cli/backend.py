"""What the server-capable commands need from a Workbench, as a Protocol.

``query``, ``history``, ``runs``, ``export``, ``schema``, ``search``, ``upload``,
``connections``, ``drivers`` and ``saved`` work
the same on this machine's Workbench and, with ``--server``, on
:class:`querydeck.cli.remote.RemoteWorkbench`; mypy checks both against :class:`Client`,
service by service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from querydeck.catalog.models import (
    CatalogLevel,
    CatalogSettings,
    RefreshReport,
    SearchHit,
    TableDetail,
)
from querydeck.runs.export.formats import ExportFormat
from querydeck.runs.models import (
    HistoryPage,
    RowsPage,
    RunInfo,
    RunRequest,
    RunStatus,
    SavedQuery,
    SavedQueryChanges,
    SavedQueryInput,
)
from querydeck.sources.models import ConnectionInfo, DriverInfo, TestResult, UploadInfo
from querydeck.store.pages import Page

if TYPE_CHECKING:  # pydantic models the CLI's start does not need to build
    from querydeck.assistant.models import AskAnswer, AskInput, EvalQuestion, EvalReport


class ExportStream(Protocol):
    """An export's bytes, chunk by chunk, and how many rows they held so far."""

    @property
    def total_rows(self) -> int: ...

    @property
    def rows_written(self) -> int: ...

    def chunks(self) -> Iterator[bytes]: ...


class RunsClient(Protocol):
    """The runs service's methods the server-capable commands call."""

    def start(self, request: RunRequest) -> str: ...

    def wait(self, run_id: str, timeout_s: float | None) -> RunInfo: ...

    def get(self, run_id: str) -> RunInfo: ...

    def rows(self, run_id: str, *, offset: int = ..., limit: int = ...) -> RowsPage: ...

    def cancel(self, run_id: str) -> RunInfo: ...

    def rerun(self, run_id: str) -> str: ...

    def listing(
        self,
        *,
        limit: int = ...,
        offset: int = ...,
        connection: str | None = ...,
        status: RunStatus | None = ...,
        text: str | None = ...,
        since: datetime | None = ...,
        until: datetime | None = ...,
        cursor: str | None = ...,
        user: str | None = ...,
    ) -> HistoryPage: ...

    def export(self, run_id: str, fmt: ExportFormat) -> ExportStream: ...


class ConnectionsClient(Protocol):
    """The connections service's methods the ``connections`` and ``drivers`` commands
    call."""

    def drivers(self) -> list[DriverInfo]: ...

    def create(
        self,
        name: str,
        *,
        driver: str | None = ...,
        url: str | None = ...,
        options: dict[str, Any] | None = ...,
        allow_privileged: bool = ...,
        test: bool = ...,
    ) -> ConnectionInfo: ...

    def listing(self, *, limit: int = ..., offset: int = ...) -> Page[ConnectionInfo]: ...

    def get(self, name: str) -> ConnectionInfo: ...

    def update(
        self, name: str, options: dict[str, Any], *, allow_privileged: bool | None = ...
    ) -> ConnectionInfo: ...

    def rename(self, name: str, new_name: str) -> ConnectionInfo: ...

    def delete(self, name: str) -> None: ...

    def test(self, name: str) -> TestResult: ...


class SavedClient(Protocol):
    """The saved-query service's methods the ``saved`` commands call."""

    def listing(
        self,
        *,
        limit: int = ...,
        offset: int = ...,
        tag: str | None = ...,
        favourite: bool | None = ...,
        text: str | None = ...,
    ) -> Page[SavedQuery]: ...

    def create(self, data: SavedQueryInput) -> SavedQuery: ...

    def get(self, ref: str) -> SavedQuery: ...

    def update(self, ref: str, changes: SavedQueryChanges) -> SavedQuery: ...

    def delete(self, ref: str) -> None: ...

    def run(
        self,
        ref: str,
        *,
        connection: str | None = ...,
        max_rows: int | None = ...,
        timeout_s: float | None = ...,
        export_all: bool = ...,
    ) -> str: ...


class CatalogClient(Protocol):
    """The catalog service's methods the server-capable commands call."""

    def level(
        self, connection: str, path: str = ..., *, limit: int = ..., offset: int = ...
    ) -> CatalogLevel: ...

    def refresh(self, connection: str, schema: str | None = ...) -> RefreshReport: ...

    def table_detail(
        self, connection: str, schema: str, table: str, *, preview_rows: int = ...
    ) -> TableDetail: ...

    def search(self, text: str, *, limit: int = ..., offset: int = ...) -> Page[SearchHit]: ...

    def settings(self, connection: str) -> CatalogSettings: ...

    def set_settings(self, connection: str, values: CatalogSettings) -> CatalogSettings: ...


class UploadsClient(Protocol):
    """The uploads service's method the ``upload`` command calls."""

    def upload(
        self,
        filename: str,
        chunks: Iterable[bytes],
        *,
        table: str | None = ...,
        replace: bool = ...,
    ) -> UploadInfo: ...


class HarnessClient(Protocol):
    """The accuracy harness's method ``querydeck eval`` calls."""

    def evaluate(
        self,
        connection: str,
        questions: Sequence[EvalQuestion] | None,
        *,
        mode: Literal["pipeline", "baseline", "retrieval"] = ...,
        endpoint: str | None = ...,
    ) -> EvalReport: ...


class AssistantClient(Protocol):
    """The assistant's methods ``querydeck ask`` and ``eval`` call."""

    def ask(self, connection: str, values: AskInput) -> AskAnswer: ...

    @property
    def harness(self) -> HarnessClient: ...


class Client(Protocol):
    """What the server-capable commands need: the Workbench's ``runs``, ``connections``,
    ``saved``, ``catalog``, ``uploads`` and ``assistant`` services, locally or over HTTP."""

    @property
    def runs(self) -> RunsClient: ...

    @property
    def connections(self) -> ConnectionsClient: ...

    @property
    def saved(self) -> SavedClient: ...

    @property
    def catalog(self) -> CatalogClient: ...

    @property
    def uploads(self) -> UploadsClient: ...

    @property
    def assistant(self) -> AssistantClient: ...
