"""The OpenAPI document's authentication: the bearer token and the session cookie.

``current_principal`` reads the ``Authorization`` header and the cookie itself, so it needs
no FastAPI security dependencies at run time (each one cost every request a dependency
resolution). The document still says how every operation but the public ones
authenticates, and the docs' **Authorize** button takes an API token.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI

from querydeck.api.auth import CSRF_HEADER, SESSION_COOKIE

SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token: `Authorization: Bearer qdt_...`.",
    },
    "APIKeyCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": f"The login session; state-changing requests also need {CSRF_HEADER}.",
    },
}
_REQUIREMENT: list[dict[str, list[str]]] = [{name: []} for name in SCHEMES]


def document_security(app: FastAPI, public: Collection[str]) -> None:
    """Make ``app``'s OpenAPI document name the authentication of every operation whose
    path is not in ``public``."""

    generate = app.openapi  # FastAPI's own: builds the document once and keeps it

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = generate()
        if first:
            schema.setdefault("components", {})["securitySchemes"] = SCHEMES
            for path, operations in schema.get("paths", {}).items():
                if path not in public:
                    for operation in operations.values():
                        operation["security"] = _REQUIREMENT
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
