"""/api/v1/uploads: upload a CSV, Parquet or Excel file as a table of your own connection.

The body is ``multipart/form-data`` with one file part named ``file``; ``table`` (default:
the file name's stem) and ``replace`` are query parameters. The body is parsed as it
streams in and the file part written straight to disk (never held in memory), refused with
413 ``UPLOAD_TOO_LARGE`` once it passes ``upload_max_bytes``; its type is read from its
content, never from its name or the part's content type.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import MultipartParser, parse_options_header

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.deps import WorkbenchDep
from querydeck.api.schemas import ErrorBody
from querydeck.errors import BadRequest, UnsupportedMediaType, UploadNameInvalid
from querydeck.sources.models import UploadInfo
from querydeck.sources.uploads import PendingUpload

router = APIRouter(tags=["uploads"])
#: Room the multipart framing and the other parts may take beside the file.
MULTIPART_OVERHEAD = 64 * 1024


class _FilePart:
    """Collects the parts' headers; hands the ``file`` part's bytes to ``write``."""

    def __init__(self) -> None:
        self.filename: str | None = None
        self.chunks: list[bytes] = []
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self.files = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
        }

    def _begin(self) -> None:
        self._headers, self._in_file = {}, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if params.get(b"name") == b"file" and b"filename" in params:
            self.files += 1
            self._in_file = self.files == 1
            if self._in_file:
                self.filename = params[b"filename"].decode("utf-8", "replace")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.chunks.append(data[start:end])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadInfo,
    responses={
        415: {
            "model": ErrorBody,
            "description": "Not multipart/form-data, or a file that is not CSV, Parquet or xlsx.",
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_file(
    request: Request,
    workbench: WorkbenchDep,
    principal: CurrentPrincipal,
    table: Annotated[str | None, Query(max_length=63, description="The table's name.")] = None,
    replace: Annotated[bool, Query(description="Overwrite a table of that name.")] = False,
) -> UploadInfo:
    """Upload a CSV, Parquet or Excel (.xlsx) file (``multipart/form-data``, part
    ``file``) as a table of your connection ``uploads-<username>``, created on your first
    upload and visible to you (and administrators) until it is shared through grants."""
    media, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "Send the file as multipart/form-data with one part named 'file'."
        )
    receiver = _FilePart()
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    pending: PendingUpload | None = None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if receiver.filename is not None and pending is None:
                pending = await run_in_threadpool(
                    workbench.uploads.begin, receiver.filename, table=table, actor=principal
                )
            if pending is not None and receiver.chunks:
                data, receiver.chunks = b"".join(receiver.chunks), []
                await run_in_threadpool(pending.write, data)
        parser.finalize()
    except BaseException:
        if pending is not None:
            pending.discard()
        raise
    if pending is None:
        raise UploadNameInvalid("The upload has no file part named 'file' with a file name.")
    if receiver.chunks:
        await run_in_threadpool(pending.write, b"".join(receiver.chunks))
    if receiver.files != 1:
        pending.discard()
        raise BadRequest("Send exactly one file part named 'file'.")
    return await run_in_threadpool(
        workbench.uploads.finish, pending, replace=replace, actor=principal
    )
