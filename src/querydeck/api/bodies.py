"""Reading a request body no further than a route's own limit (below the app-wide one)."""

from __future__ import annotations

from fastapi import Request

from querydeck.errors import PayloadTooLarge


def too_large(what: str, limit: int, size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} has at most {limit} bytes.",
        detail={"limit": limit, "size_at_least": size},
    )


async def bounded_body(request: Request, limit: int, what: str) -> bytes:
    """The body, refused with 413 PAYLOAD_TOO_LARGE as soon as it is known to exceed
    ``limit`` bytes: at once from Content-Length, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(what, limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(what, limit, size)
        chunks.append(chunk)
    return b"".join(chunks)
