"""GET /metrics: Prometheus metrics for operators, behind a key like every other route (a
Prometheus server scrapes with a metrics key as its bearer token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from misper.api.http.deps import Allow, PoolsDep, SettingsDep
from misper.api.http.openapi import problems
from misper.api.http.requests import only_query
from misper.api.incidents.store import EVERY_FORCE, Where
from misper.api.keys import KeyRole
from misper.api.metrics import OPEN_ALERTS, OPEN_INCIDENTS, REGISTRY
from misper.api.workers import tasks

router = APIRouter(tags=["metrics"])


@Allow(KeyRole.METRICS).route(
    router.get,
    "/metrics",
    operation_id="getMetrics",
    dependencies=[Depends(only_query())],
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        },
        **problems(401, 403, 422, 503),
    },
)
async def metrics(settings: SettingsDep, pools: PoolsDep) -> Response:
    """Requests by route and status with latency, lane queues and refusals, worker pools
    replaced, store errors by kind, open incidents, open alerts and webhook delivery attempts. No
    child data in any label."""
    # A scrape is never refused for a busy lane: it is one count, and most wanted under load.
    # Counts over every force: a metric names no force, nor anything of one.
    where = Where(settings.store_url, EVERY_FORCE)
    OPEN_INCIDENTS.set(await pools.small.run(tasks.open_incidents, where, admitted=True))
    OPEN_ALERTS.set(await pools.small.run(tasks.open_alerts, where, admitted=True))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
