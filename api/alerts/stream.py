"""The live stream's side in the server: one watcher per server process learns the newest alert's
sequence number (a dispatcher here pokes it at once; alerts another server raised are seen by a
cheap poll while anyone listens), and each stream reads from the store every alert after the last
one it sent, so a screen that reconnects with Last-Event-ID misses nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

POLL = 0.25  # seconds between looks at the newest sequence number while a stream is open


class AlertWatch:
    def __init__(self, newest: Callable[[], Awaitable[int]]) -> None:
        self.newest = newest
        self.seq = 0
        self._changed = asyncio.Event()  # set (and replaced) when the newest sequence number grows
        self._poke = asyncio.Event()
        self._listeners = 0
        self._poller: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Alerts may have been raised: look now."""
        self._poke.set()

    async def wait_beyond(self, seq: int, timeout: float) -> None:
        """Return once an alert after ``seq`` may exist, or after ``timeout`` seconds."""
        self._listeners += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while self.seq <= seq:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wait_change(), left)
        finally:
            self._listeners -= 1

    async def _wait_change(self) -> None:
        event = self._changed
        await event.wait()

    async def _poll(self) -> None:
        while self._listeners > 0:
            self._poke.clear()
            with contextlib.suppress(Exception):  # the store away: the next look tries again
                found = await self.newest()
                if found > self.seq:
                    self.seq = found
                    changed, self._changed = self._changed, asyncio.Event()
                    changed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), POLL)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
