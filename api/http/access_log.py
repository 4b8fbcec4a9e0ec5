"""One structured line per request: when, request id, route, status, duration, key name, and the
incident id where the request names one.

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
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from misper.api.http.problems import INTERNAL, problem_response
from misper.api.metrics import PROCESS, REQUESTS

LOG = logging.getLogger("misper.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def configure() -> None:
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False


class AccessLog:
    """Plain ASGI middleware: it sees the status and the matched route without wrapping the
    app's exceptions (and costs less than a BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        status: int | None = None
        error: str | None = None
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # answered here, so no traceback (which may quote the body) is logged
            error = type(exc).__name__
            if status is None:
                await problem_response(INTERNAL)(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            seconds = time.perf_counter() - start
            REQUESTS.labels(route, scope.get("method") or "", str(status or 500), PROCESS).observe(seconds)
            record = {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": request_id,
                "method": scope.get("method"),
                "route": route,
                "status": status or 500,
                "duration_ms": round(seconds * 1000, 2),
                "key": state.get("key_name"),
            }
            for name in ("incident_id", "policy_sha256"):  # ids only: nothing about the child
                if state.get(name):
                    record[name] = state[name]
            if error:
                record["error"] = error
            LOG.info(json.dumps(record))
