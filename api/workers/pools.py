"""Evaluation work off the server's event loop and interpreter, and bounded.

Parsing and evaluating are CPU-bound; pydantic parses and serialises a large timeline in Rust
for tens of milliseconds without releasing the interpreter lock, and the rule engine's C core
holds it too. Work done in the server process, even in a thread, therefore delays every other
request, /healthz included (measured: /healthz p99 530 ms under a flood of large timelines with
a worker thread). So all of it runs in worker processes, in two lanes:

- ``small``: bodies up to SMALL_BYTES, the control room's everyday timelines;
- ``large``: larger bodies, and every simulation (trainers and auditors).

A large timeline never queues in front of a small one. Each lane runs its processes and lets a
bounded number of requests wait; beyond that a request is answered 429 at once (with
Retry-After), before its body is read when its Content-Length says which lane it needs. A worker
that dies (the rule engine's C core can crash) is replaced and its request answered 503; workers
are also replaced after about MAX_TASKS jobs, which returns their memory to the system. The
replacement is started and warmed (its processes spawned and the rules loaded, about half a
second) while the old pool goes on taking jobs, so no request waits for it (measured: when the
first jobs of a fresh pool waited for it to start, p99 at 32 connections went from 45 ms to
over 250 ms).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from misper.api.http.problems import ApiProblem
from misper.api.metrics import LANE_BUSY, LANE_REFUSED, PROCESS, WORKER_RESTARTS
from misper.api.workers.tasks import watch_parent

SMALL_BYTES = 16 * 1024
# A stored incident beyond this many events is judged in the large lane (about what a 16 KiB
# timeline holds), so a long incident never queues in front of the everyday ones.
SMALL_EVENTS = 100
# Worker processes are replaced after this many jobs (returning their memory to the system). A
# worker's resident set is flat once its caches fill (measured: 57.9 MB after 1,000 synthetic
# incidents, 60.3 MB after 10,000 and after 50,000), and each replacement costs about half a
# second of a core, so at full load (about 800 a second) it happens about once a minute.
# Not with max_tasks_per_child: on Python 3.11 a pool using it stops running queued jobs once a
# worker retires (measured: a 1-worker pool with max_tasks_per_child=2 hung after 2 of 10 jobs).
MAX_TASKS = 50_000


@dataclass
class Lane:
    """Worker processes for one kind of work, with admission control."""

    name: str
    processes: int
    waiting: int
    _pool: ProcessPoolExecutor | None = None
    _jobs: int = 0  # jobs given to the current pool
    # A picklable job that readies a fresh worker (loads the rules), given by the app; a new pool
    # takes over once one such job per process has run (a process may run two, so one may
    # still be cold).
    warm: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
    _next: ProcessPoolExecutor | None = None
    _warming: list[Future[Any]] = field(default_factory=list)
    _busy: int = 0  # requests admitted: running or waiting
    _lock: asyncio.Lock | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Every lane's series exist from the start (a count of 0 is something to see)."""
        LANE_BUSY.labels(self.name, PROCESS).set(0)
        LANE_REFUSED.labels(self.name, PROCESS)
        for reason in ("retired", "broken"):
            WORKER_RESTARTS.labels(self.name, reason, PROCESS)

    def full(self) -> bool:
        return self._busy >= self.processes + self.waiting

    def check(self) -> None:
        """429 now, before anything else is done, when no more work can be admitted."""
        if self.full():
            LANE_REFUSED.labels(self.name, PROCESS).inc()
            raise ApiProblem(
                429,
                "too_many_requests",
                "Too many requests",
                f"the {self.name} evaluation lane is full ({self.processes} running, {self.waiting} "
                "waiting); retry in a moment",
                headers={"Retry-After": "1"},
            )

    async def run(self, fn: Callable[..., Any], *args: Any, admitted: bool = False) -> Any:
        """``fn(*args)`` in a worker process; the slot is held until that work has ended, even
        when the client goes away meanwhile. ``admitted``: the request was admitted already (a
        replay, whose later chunks must not be refused once its answer has begun)."""
        if not admitted:
            self.check()
        self._busy += 1
        LANE_BUSY.labels(self.name, PROCESS).set(self._busy)
        released = False

        def release(_: object = None) -> None:
            nonlocal released
            if not released:
                released = True
                self._busy -= 1
                LANE_BUSY.labels(self.name, PROCESS).set(self._busy)

        pool = None
        try:
            pool = self._executor()
            future: Future[bytes] = pool.submit(fn, *args)
        except BrokenProcessPool:
            release()
            raise self._broken(pool) from None
        except BaseException:
            release()
            raise
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiting)
        except BrokenProcessPool:
            raise self._broken(pool) from None
        except asyncio.CancelledError:
            waiting.add_done_callback(release)  # the client left: free the slot when the work ends
            raise
        finally:
            if future.done():
                release()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is not None and self._jobs >= MAX_TASKS and self._next is None:
            # The replacement starts while this pool goes on taking jobs.
            self._next = self._new_pool()
            if self.warm is not None:
                fn, args = self.warm
                self._warming = [self._next.submit(fn, *args) for _ in range(self.processes)]
        if self._next is not None and all(f.done() for f in self._warming):
            WORKER_RESTARTS.labels(self.name, "retired", PROCESS).inc()
            # The fresh pool is ready: it takes new jobs; the old one finishes those it has,
            # then its processes exit. A fresh pool that broke while warming is dropped, and a
            # new one started cold in its place (as before warming existed: never a loop of
            # pools breaking while they warm).
            fresh: ProcessPoolExecutor | None = self._next
            if any(not f.cancelled() and isinstance(f.exception(), BrokenProcessPool) for f in self._warming):
                self._next.shutdown(wait=False, cancel_futures=True)
                fresh = None
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool, self._next, self._warming = fresh, None, []
            self._jobs = 0
        if self._pool is None:
            self._pool = self._new_pool()
            self._jobs = 0
        self._jobs += 1
        return self._pool

    def _broken(self, pool: ProcessPoolExecutor | None) -> ApiProblem:
        """A worker process stopped: the pool is made again for the next request (a retired
        pool is let go), and this one is answered 503."""
        if pool is not None and self._pool is pool:
            self._pool = None
        WORKER_RESTARTS.labels(self.name, "broken", PROCESS).inc()
        return ApiProblem(
            503,
            "evaluation_failed",
            "The evaluation could not be made",
            "the worker process evaluating this request stopped; it has been replaced, retry",
        )

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),  # never fork a threaded server
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )

    def shutdown(self) -> None:
        for pool in (self._pool, self._next):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._next, self._warming = None, None, []


@dataclass
class Admission:
    """At most ``limit`` long requests at once (replays: each holds its body, up to
    MISPER_REPLAY_MAX_BYTES, until it ends); beyond that 429 before the body is read."""

    name: str
    limit: int
    held: int = 0

    def admit(self) -> Callable[[], None]:
        """Take a place, or answer 429; the function returned gives it back (once)."""
        if self.held >= self.limit:
            LANE_REFUSED.labels(self.name, PROCESS).inc()
            raise ApiProblem(
                429,
                "too_many_requests",
                "Too many requests",
                f"{self.limit} {self.name} are running, the most this server takes at once; retry later",
                headers={"Retry-After": "5"},
            )
        self.held += 1
        given_back = False

        def release() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                self.held -= 1

        return release


@dataclass
class WorkerPools:
    """The server's worker pools: two lanes, and the admission of replays (which run in the large
    lane, a chunk at a time)."""

    small: Lane
    large: Lane
    replays: Admission

    def lane(self, size: int | None, stored_events: int = 0) -> Lane:
        """The lane for a body of ``size`` bytes (None: not declared) about a stored incident of
        ``stored_events`` events: small only when both are small."""
        small = size is not None and size <= SMALL_BYTES and stored_events <= SMALL_EVENTS
        return self.small if small else self.large

    def shutdown(self) -> None:
        self.small.shutdown()
        self.large.shutdown()


_SHARED: dict[tuple[int, ...], WorkerPools] = {}


def shared_pools(small: tuple[int, int], large: tuple[int, int], replays: int = 2) -> WorkerPools:
    """One set of lanes per process and configuration: apps made in one process (tests make
    many) share their worker processes instead of starting their own."""
    key = (*small, *large, replays)
    if key not in _SHARED:
        _SHARED[key] = WorkerPools(
            Lane("small", *small), Lane("large", *large), Admission("replays", replays)
        )
    return _SHARED[key]
