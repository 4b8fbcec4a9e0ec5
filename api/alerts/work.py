"""Where a dispatcher's store work runs: in the server's worker pools (``misper serve``: the
evaluations never hold the server's interpreter), or in threads of its own process (``misper
alerts run``, and tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from misper.api.alerts import service
from misper.api.alerts.dispatcher import AlertWork
from misper.api.incidents.store import IncidentStore, Where
from misper.api.workers import tasks
from misper.api.workers.pools import WorkerPools
from misper.engine.policy.registry import PolicyRegistry


def in_threads(store: IncidentStore, registry: PolicyRegistry, retry_seconds: float) -> AlertWork:
    async def raising(now: float) -> Any:
        return await asyncio.to_thread(service.raise_due, store, registry, now)

    async def claim(now: float) -> list[dict[str, Any]]:
        return await asyncio.to_thread(service.claim_deliveries, store, now)

    async def record(outcome: dict[str, Any], now: float) -> str:
        return await asyncio.to_thread(service.record_attempt, store, outcome, now, retry_seconds)

    async def wake_at() -> float | None:
        return await asyncio.to_thread(service.wake_at, store)

    return AlertWork(raising, claim, record, wake_at)


def in_pools(pools: WorkerPools, rules: tasks.CheckedRules, url: Where, retry_seconds: float) -> AlertWork:
    lane = pools.small

    async def raising(now: float) -> Any:
        return await lane.run(tasks.alerts_raise, rules, url, now, admitted=True)

    async def claim(now: float) -> list[dict[str, Any]]:
        return await lane.run(tasks.alerts_claim, url, now, admitted=True)  # type: ignore[no-any-return]

    async def record(outcome: dict[str, Any], now: float) -> str:
        return await lane.run(tasks.alerts_record, url, outcome, now, retry_seconds, admitted=True)  # type: ignore[no-any-return]

    async def wake_at() -> float | None:
        return await lane.run(tasks.alerts_wake_at, url, admitted=True)  # type: ignore[no-any-return]

    return AlertWork(raising, claim, record, wake_at)
