"""What the evaluation and simulation routes share: the capped body, the policy choice and
instants given as query parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from fastapi import Request

from api.body import read_capped
from api.problems import ApiProblem
from engine import (
    FieldError,
    Policy,
    PolicyRegistry,
    Timeline,
    agree,
    choose_policy,
    parse_instant,
)

T = TypeVar("T")


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


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes: JSON, not encoded, within the size limit (parsed by the caller, off
    the event loop when it is large)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiProblem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"the body must be sent as Content-Type: application/json, not {media or 'no content type'}",
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


def instant(name: str, value: str | None) -> datetime | None:
    """A query-string instant, read as the CLI reads one (engine.parse_instant)."""
    return None if value is None else parse_instant(f"query.{name}", value)


def merged(name: str, query: T | None, body: T | None) -> T | None:
    """A value given both in the query and in the body must agree: nothing is silently chosen."""
    return agree(f"query.{name}", query, body, name)


def choose(registry: PolicyRegistry, timeline: Timeline, policy_id: str | None) -> Policy:
    """The policy named in the query and/or the body (which must agree), else the one in force."""
    return choose_policy(registry, timeline, policy_id, "query.policy")
