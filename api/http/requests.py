"""What the routes share in reading a request: the body with its size cap (a huge body is refused,
413, before it is parsed), its media type, query parameters and instants given in them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Request
from pydantic import WithJsonSchema
from starlette.requests import ClientDisconnect

from misper.api.http.problems import ApiProblem
from misper.engine import FieldError, parse_instant


def only_query(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing query parameters the route does not take: a typo such as ?asof=
    must not be ignored silently (it would change what the answer means)."""

    async def check(request: Request) -> None:
        repeated = sorted({k for k in request.query_params if len(request.query_params.getlist(k)) > 1})
        if repeated:
            raise ApiProblem(
                422,
                "invalid_request",
                "The request is not valid",
                "a query parameter is given more than once",
                [FieldError(f"query.{name}", "is given more than once; give it once") for name in repeated],
            )
        unknown = sorted(set(request.query_params) - set(names))
        if unknown:
            accepted = ", ".join(names) or "none"
            raise ApiProblem(
                422,
                "invalid_request",
                "The request is not valid",
                "the request has query parameters this route does not take",
                [
                    FieldError(f"query.{name}", f"is not a parameter of this route; accepted: {accepted}")
                    for name in unknown
                ],
            )

    return check


def declared_length(request: Request) -> int | None:
    """The body size the client declared (None when it did not, or not as a number)."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def read_body(
    request: Request, limit: int, media_types: tuple[str, ...] = ("application/json",)
) -> bytes:
    """The body's bytes: JSON, not encoded, within the size limit (parsed by the caller, off
    the event loop when it is large)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in media_types:
        raise ApiProblem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"the body must be sent as Content-Type: {' or '.join(media_types)}, "
            f"not {media or 'no content type'}",
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ApiProblem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"the body must not be encoded (Content-Encoding: {encoding}); send plain JSON",
        )
    return await read_capped(request, limit)


# A query instant: text the engine parses (its errors name the parameter), typed date-time in
# the document so a generated client takes and sends a datetime.
QueryInstant = Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"})]


def instant(name: str, value: str | None) -> datetime | None:
    """A query-string instant, read as the CLI reads one (engine.parse_instant); its errors name
    the parameter, which the problem handler calls query.<name>."""
    return None if value is None else parse_instant(name, value)


_POLICY_HASH = re.compile(rb'"policy":\{"id":"[^"]*",(?:"force":"[^"]*",)?"sha256":"([0-9a-f]{64})"')


def remember_policy(request: Request, answer: bytes) -> None:
    """For the access log: the hash of the policy an answer was made under (from its head)."""
    found = _POLICY_HASH.search(answer, 0, 1_000)
    if found:
        request.state.policy_sha256 = found.group(1).decode()


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
