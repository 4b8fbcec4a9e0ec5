"""One delivery attempt: the alert POSTed to a receiver, signed as the Standard Webhooks
specification says (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, by the
``standardwebhooks`` package), with a bounded timeout and no redirect followed (a 3xx answer is a
failed attempt: a receiver that moved is re-registered by an admin, never followed blindly)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

TIMEOUT = 10.0  # seconds for a whole attempt: connecting, sending, the answer
ERROR_LIMIT = 300  # characters of an error kept with an attempt


def signed_headers(secret: str, webhook_id: str, body: bytes, at: float) -> dict[str, str]:
    moment = datetime.fromtimestamp(at, UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": Webhook(secret).sign(webhook_id, moment, body),
        "user-agent": "misper-alerts",
    }


async def attempt(client: httpx.AsyncClient, delivery: dict[str, Any], wall: float) -> dict[str, Any]:
    """POST one claimed delivery; its outcome, for ``service.record_attempt``. ``wall`` is the
    attempt's instant as the dispatcher's clock reads it (the signature's timestamp)."""
    headers = signed_headers(delivery["secret"], delivery["webhook_id"], delivery["body"], wall)
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        answer = await client.post(delivery["url"], content=delivery["body"], headers=headers)
        status_code = answer.status_code
        if not 200 <= status_code < 300:
            error = f"answered {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    return {
        "force": delivery["force"],
        "delivery_id": delivery["delivery_id"],
        "attempt": delivery["attempt"],
        "at": wall,
        "status_code": status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000),
        "error": error,
        "ok": error is None,
    }


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
