"""uvicorn's HTTP/1.1 protocol, guarded against clients that hold connections open.

uvicorn times out an idle keep-alive connection but not one that sends nothing after
connecting, or sends part of a request and stops: each such connection was held for minutes,
and about a thousand of them stopped the server answering (its file descriptors ran out, and
asyncio logged a traceback for every failed accept). Here:

- a request must arrive whole (headers and body) within REQUEST_SECONDS of the connection
  opening or of the previous response; otherwise a 408 problem is sent (when no response has
  started) and the connection closed;
- connections beyond the cap are closed as soon as they are accepted, quietly;
- uvicorn's own 400 for a malformed request is problem+json, like every other error.
"""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from misper.api.http.problems import MEDIA_TYPE, TYPE_BASE
from misper.api.settings import Settings


def max_connections(wanted: int) -> int:
    """The connection cap: MISPER_MAX_CONNECTIONS, and never more than half the files the process
    may open (the rest is for the key file, logs and sockets being accepted). The soft limit on
    open files is raised to the hard one first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:  # use what the system allows
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else max(1, min(wanted, soft // 2))


class GuardedH11Protocol(H11Protocol):
    # Worked out once per process (uvicorn's worker processes import this module afresh).
    max_connections = max_connections(Settings.from_env().max_connections)
    request_seconds = Settings.from_env().request_seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.abort()  # connection_lost follows and forgets it
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def send_400_response(self, msg: str) -> None:
        self._send_problem(400, "Bad request", "the request is not valid HTTP/1.1", "bad_request")

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE) and (
            self.cycle is None or self.cycle.response_complete
        ):
            if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
                self.transport.close()  # nothing was sent: nothing to answer
                return
            self._timed_out()
            return
        if self.cycle is not None and not self.cycle.response_started:
            # The headers came but the body stopped: the app is still waiting for it. Answer 408
            # now; the app then sees the client gone and its own answer goes nowhere.
            self.cycle.disconnected = True
            self._timed_out()
            return
        self.transport.close()  # a response is under way: the client stopped reading it

    def _timed_out(self) -> None:
        detail = f"the request did not arrive whole within {self.request_seconds:g} seconds"
        self._send_problem(408, "Request timeout", detail, "request_timeout")

    def _send_problem(self, status: int, title: str, detail: str, slug: str) -> None:
        """Write a whole problem response and close: the client's request state may be broken,
        so this does not go through h11's state machine."""
        body = json.dumps(
            {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {title}\r\ncontent-type: {MEDIA_TYPE}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
