"""Heavy work off the event loop, and bounded: at most a few evaluations run at once in worker
threads, a bounded number wait, and beyond that a request is answered 429 at once.

Why: evaluation is CPU-bound Python and the C rule engine holds the GIL, so more threads add no
throughput, only latency for everyone, /healthz included. Small timelines (a few kilobytes, a
couple of milliseconds) are evaluated on the loop: the hop to a thread costs more than they do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from api.problems import ApiProblem

T = TypeVar("T")
# Bodies up to this size are parsed and evaluated on the event loop: measured at about 3.5 ms
# worst case (alternating regrades, benchmarks/README.md), 2 ms for the case study.
INLINE_BYTES = 4096


class Gate:
    """Admission for heavy work: ``running`` at once, ``waiting`` queued, the rest refused."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.waiting = running, waiting
        self._slots: asyncio.Semaphore | None = None
        self._queued = 0

    async def enter(self) -> None:
        """Wait for a slot, or raise 429 when too many requests are already waiting."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.running)
        if self._slots.locked() and self._queued >= self.waiting:
            raise ApiProblem(
                429,
                "too_many_requests",
                "Too many requests",
                f"{self.running} large evaluations are running and {self._queued} are waiting; "
                "retry in a moment",
                headers={"Retry-After": "1"},
            )
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1

    def leave(self) -> None:
        assert self._slots is not None
        self._slots.release()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread once a slot is free."""
        await self.enter()
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self.leave()
