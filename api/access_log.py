"""One structured line per request: request id, route, status, duration and key name.

Never the body, the query string or anything else from the timeline: no child id, age, risk
factor or free text can reach the log this way.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

LOG = logging.getLogger("misper.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure() -> None:
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False


def route_template(request: Request) -> str:
    """'/v1/policies/{policy_id}', not the path a caller typed (which could carry an id)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    given = request.headers.get("x-request-id", "")
    request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["X-Request-ID"] = request_id
        return response
    finally:
        LOG.info(
            json.dumps(
                {
                    "request_id": request_id,
                    "method": request.method,
                    "route": route_template(request),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "key": getattr(request.state, "key_name", None),
                }
            )
        )
