"""/api/v1/certificates: upload, list, read and remove CA certificates.

An upload is JSON ``{"name": …, "pem": …}``; the body is read with a bound (twice the PEM
limit plus room for the name and JSON escapes) before it is parsed, so an oversized upload
answers 413 without being held in memory.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from querydeck.api.auth import CurrentPrincipal
from querydeck.api.bodies import bounded_body
from querydeck.api.deps import Limit, Offset, WorkbenchDep
from querydeck.auth.access import admin_only
from querydeck.errors import UnsupportedMediaType
from querydeck.sources.models import CertificateInfo
from querydeck.sources.pem import MAX_PEM_BYTES
from querydeck.store.pages import Page

router = APIRouter(tags=["certificates"])
MAX_BODY_BYTES = 2 * MAX_PEM_BYTES + 4096


class CertificateUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="A unique name.")
    pem: str = Field(description="One or more PEM CA certificates; never a private key.")


@router.post(
    "/certificates",
    status_code=201,
    response_model=CertificateInfo,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CertificateUpload.model_json_schema()}},
        }
    },
)
async def upload_certificate(
    request: Request, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> CertificateInfo:
    """Upload a bundle of PEM CA certificates (at most 64 KB and 32 certificates; private
    keys, other PEM blocks, non-CA and expired certificates are refused)."""
    admin_only(principal, "upload certificates")  # before reading the body
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType('Send the upload as application/json: {"name": …, "pem": …}.')
    body = await bounded_body(request, MAX_BODY_BYTES, "A certificate upload request")
    try:
        upload = CertificateUpload.model_validate_json(body)
    except ValidationError as exc:
        problems = [  # never the input: it may hold a key
            {"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise RequestValidationError(problems) from None
    return await run_in_threadpool(
        workbench.admin.add_certificate, upload.name, upload.pem.encode("utf-8")
    )


@router.get("/certificates", response_model=Page[CertificateInfo])
def list_certificates(
    workbench: WorkbenchDep, principal: CurrentPrincipal, limit: Limit = 100, offset: Offset = 0
) -> Page[CertificateInfo]:
    """Uploaded certificates (not for viewers); ``used_by`` names only the connections
    the caller may see."""
    return workbench.admin.list_certificates(limit=limit, offset=offset, actor=principal)


@router.get("/certificates/{certificate_id}", response_model=CertificateInfo)
def get_certificate(
    certificate_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> CertificateInfo:
    return workbench.admin.get_certificate(certificate_id, actor=principal)


@router.delete("/certificates/{certificate_id}", status_code=204)
def delete_certificate(
    certificate_id: str, workbench: WorkbenchDep, principal: CurrentPrincipal
) -> Response:
    """Remove a certificate; 409 ``CERTIFICATE_IN_USE`` while a connection names it."""
    workbench.admin.remove_certificate(certificate_id, actor=principal)
    return Response(status_code=204)
