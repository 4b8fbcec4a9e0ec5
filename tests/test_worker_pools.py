"""The server's worker-process lanes: a pool is replaced after MAX_TASKS jobs without losing work,
its successor takes over only once warm, and a successor that breaks while warming is dropped."""

from __future__ import annotations

import pytest


def _die() -> None:
    import os

    os._exit(1)  # a worker that dies while warming (killed for memory, a crash of the C core)


def _twice(x: int) -> int:
    return 2 * x


@pytest.mark.slow
def test_a_worker_pool_is_replaced_only_once_its_successor_is_warm(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: When a lane retires its pool, the successor starts and warms while the old pool goes on
    answering: jobs given meanwhile run on the old pool, without waiting for the warm-up."""
    import asyncio
    import os
    import time

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 3)
    lane = work.Lane("test", 1, 64)
    lane.warm = (time.sleep, (3.0,))

    async def scenario() -> tuple[list[int], float, list[int]]:
        first = [await lane.run(os.getpid) for _ in range(5)]  # the 4th starts the successor
        started = time.perf_counter()
        during = [await lane.run(os.getpid) for _ in range(5)]
        waited = time.perf_counter() - started
        await asyncio.sleep(4.0)  # the successor's warm-up ends
        after = [await lane.run(os.getpid) for _ in range(2)]
        return first + during, waited, after

    try:
        before, waited, after = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    finally:
        lane.shutdown()
    assert len(set(before)) == 1 and waited < 2.0  # the old pool answered, not the warming one
    assert set(after).isdisjoint(before) and len(set(after)) == 1


@pytest.mark.slow
def test_a_successor_pool_that_breaks_while_warming_is_not_handed_over(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: A pool whose worker dies during its warm-up is dropped and a fresh one used instead:
    every job is still answered."""
    import asyncio

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 2)
    lane = work.Lane("test", 1, 8)
    lane.warm = (_die, ())

    async def scenario() -> list[int]:
        out = []
        for n in range(8):
            out.append(await lane.run(_twice, n))
            await asyncio.sleep(0.3)
        return out

    try:
        answers = asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    finally:
        lane.shutdown()
    assert answers == [2 * n for n in range(8)] and lane._busy == 0


@pytest.mark.slow
def test_worker_processes_are_replaced_without_losing_work(monkeypatch) -> None:
    """Issue 7: Python 3.11's max_tasks_per_child hangs queued jobs once a worker retires: the lanes
    replace whole pools instead. Every job must be answered, by more than one process."""
    import asyncio
    import os

    import misper.api.workers.pools as work

    monkeypatch.setattr(work, "MAX_TASKS", 3)
    lane = work.Lane("test", 1, 64)

    async def run_all() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(lane.run(os.getpid) for _ in range(20))), timeout=120)

    try:
        pids = asyncio.run(run_all())
    finally:
        lane.shutdown()
    assert len(pids) == 20 and len(set(pids)) >= 5 and lane._busy == 0
