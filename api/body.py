"""Request bodies read with a size cap, so a huge body is refused (413) before it is parsed."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from misper.api.problems import ApiProblem


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiProblem(
            400, "client_disconnected", "Client disconnected", "the client went away before the body was read"
        ) from None
    return b"".join(chunks)


def _too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        "request_body_too_large",
        "Request body too large",
        f"the body is over the limit of {limit} bytes",
    )
