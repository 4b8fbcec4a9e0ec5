"""The alert dispatcher: one loop that judges the open incidents whose alerts are due, escalates
what nobody acknowledged and makes the delivery attempts that are due, then sleeps until the
earliest next piece of alert work (an incident's next change by the clock, an escalation, a
retry) or until an append wakes it.

Every ``misper serve`` runs one (its store work in the server's worker pools, never on the event
loop), and ``misper alerts run`` runs one alone. With several on one PostgreSQL database each
transition still becomes one alert and each attempt is made by one of them (see service.py); a
dispatcher also wakes at least every ``idle`` seconds, so work another server left (a claim that
lapsed when it died) is taken up.

Live alerts read the wall clock: ``clock`` is ``time.time`` in service, and tests give their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from misper.api.alerts import webhooks
from misper.api.metrics import ALERT_ATTEMPT_SECONDS, ALERT_ATTEMPTS, ALERT_LAG, ALERT_PASSES, PROCESS

log = logging.getLogger("misper.alerts")
SENDING = 64  # delivery attempts in flight at once


@dataclass(frozen=True)
class AlertWork:
    """The store work of a pass, as coroutines (run in worker processes, or in threads)."""

    raise_due: Callable[[float], Awaitable[Any]]  # judge due incidents, escalate; at now
    claim: Callable[[float], Awaitable[list[dict[str, Any]]]]
    record: Callable[[dict[str, Any], float], Awaitable[str]]
    wake_at: Callable[[], Awaitable[float | None]]


class Dispatcher:
    def __init__(
        self,
        work: AlertWork,
        clock: Callable[[], float] = time.time,
        idle: float = 5.0,
        raised: Callable[[], None] | None = None,
    ) -> None:
        self.work = work
        self.raised = raised  # told when a pass raised alerts (the live stream looks at once)
        self.clock = clock
        self.idle = idle
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(SENDING)
        self._sending: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Run a pass now (an append may have made alerts due)."""
        self._wake.set()

    async def run(self) -> None:
        async with webhooks.client() as http:
            try:
                while True:
                    try:
                        delay = await self.once(http)
                        ALERT_PASSES.labels("ok", PROCESS).inc()
                    except Exception:
                        # The database away, a worker replaced: the next pass tries again.
                        log.exception("alert dispatcher pass failed; trying again shortly")
                        ALERT_PASSES.labels("failed", PROCESS).inc()
                        delay = self.idle
                    try:
                        await asyncio.wait_for(self._wake.wait(), delay)
                    except TimeoutError:
                        pass
                    self._wake.clear()
            finally:
                for task in list(self._sending):
                    task.cancel()

    async def once(self, http: httpx.AsyncClient) -> float:
        """One pass; the seconds until the next one is due (at most ``idle``)."""
        now = self.clock()
        due = await self.work.wake_at()
        if due is not None and due <= now:
            ALERT_LAG.labels(PROCESS).set(now - due)
        if await self.work.raise_due(now) and self.raised is not None:
            self.raised()
        for delivery in await self.work.claim(self.clock()):
            await self._slots.acquire()
            task = asyncio.create_task(self._send(http, delivery))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        following = await self.work.wake_at()
        if following is None:
            return self.idle
        return min(self.idle, max(0.02, following - self.clock()))

    async def _send(self, http: httpx.AsyncClient, delivery: dict[str, Any]) -> None:
        try:
            outcome = await webhooks.attempt(http, delivery, self.clock())
            ALERT_ATTEMPT_SECONDS.labels(PROCESS).observe(outcome["latency_ms"] / 1000)
            status = await self.work.record(outcome, self.clock())
            ALERT_ATTEMPTS.labels(
                "delivered" if outcome["ok"] else ("failed" if status == "failed" else "retry"), PROCESS
            ).inc()
            if not outcome["ok"]:
                self.wake()  # its retry may be due before the next pass was planned
        except Exception:
            # Not recorded: the claim lapses and the attempt is made again (the same webhook-id).
            log.exception("a delivery attempt could not be recorded; it will be made again")
        finally:
            self._slots.release()

    async def drain(self) -> None:
        """Wait for the attempts in flight (tests, and a clean stop)."""
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)
