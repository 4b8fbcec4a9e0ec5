"""Alerts: listed, acknowledged and streamed live (Server-Sent Events), the receivers an admin
registers for them with each delivery's attempts, and an incident's audit trail of
acknowledgements. The dispatcher that raises and delivers them runs beside the server
(api/alerts/dispatcher.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from sse_starlette import EventSourceResponse

from misper.api.alerts import service
from misper.api.alerts.models import AckAsk, SubscriptionAsk
from misper.api.http.deps import Allow, CallerDep, PoolsDep, ReadWhereDep, WhereDep
from misper.api.http.openapi import REF, json_response, problems
from misper.api.http.problems import ApiProblem
from misper.api.http.requests import only_query, read_body
from misper.api.http.routes.incidents import IncidentId
from misper.api.incidents.service import read_request
from misper.api.keys import KeyRole
from misper.api.workers import tasks
from misper.engine import FieldError

router = APIRouter(tags=["alerts"])
READERS = Allow(KeyRole.CONTROL_ROOM, KeyRole.AUDITOR)
CONTROL_ROOM = Allow(KeyRole.CONTROL_ROOM)
ADMIN = Allow()
DELIVERY_READERS = Allow(KeyRole.AUDITOR)
AlertId = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^al_[0-9a-f]{32}$", description="The alert's id.")
]
SubscriptionId = Annotated[
    str,
    Path(min_length=1, max_length=40, pattern=r"^sub_[0-9a-f]{24}$", description="The subscription's id."),
]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="Which page (from 1).")]
PerPage = Annotated[int, Query(ge=1, le=200, description="How many per page (at most 200).")]
STREAM_BATCH = 500  # alerts read from the store per look, when a screen has many to catch up on


def _body(model: str, required: bool = True) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        }
    }


@READERS.route(
    router.get,
    "/v1/alerts",
    operation_id="listAlerts",
    dependencies=[Depends(only_query("status", "page", "per_page"))],
    responses={**json_response("AlertList", "Alerts, the latest first"), **problems(401, 403, 422, 429, 503)},
)
async def list_alerts(
    where: WhereDep,
    pools: PoolsDep,
    status: Annotated[Literal["open", "acknowledged", "all"], Query(description="Which alerts.")] = "open",
    page: Page = 1,
    per_page: PerPage = 50,
) -> Response:
    """Alerts raised for stored incidents: a duty due soon or due, a finding of severity breach or
    action, an escalation; open ones until acknowledged."""
    answer = await pools.small.run(tasks.alerts_list, where, status, page, per_page)
    return Response(answer, media_type="application/json")


@CONTROL_ROOM.route(
    router.post,
    "/v1/alerts/{alert_id}/ack",
    operation_id="acknowledgeAlert",
    dependencies=[Depends(only_query())],
    openapi_extra=_body("AckAsk", required=False),
    responses={
        **json_response("Alert", "The alert, acknowledged (by this request, or by an earlier one)"),
        **problems(401, 403, 404, 413, 415, 422, 429, 503),
    },
)
async def acknowledge(
    request: Request, alert_id: AlertId, caller: CallerDep, where: WhereDep, pools: PoolsDep
) -> Response:
    """Acknowledge an alert, with an optional note: it stops escalating, leaves the open list and
    goes into its incident's audit trail with the key and the time. An empty body is no note."""
    note = None
    if request.headers.get("content-length", "0") != "0" or request.headers.get("transfer-encoding"):
        raw = await read_body(request, 16 * 1024)
        if raw.strip():
            note = read_request(AckAsk, raw).note
    answer = await pools.small.run(tasks.alerts_ack, where, alert_id, caller.name, note)
    return Response(answer, media_type="application/json")


@CONTROL_ROOM.route(
    router.get,
    "/v1/alerts/stream",
    operation_id="streamAlerts",
    dependencies=[Depends(only_query())],
    responses={
        200: {
            "description": "Server-Sent Events: each alert as it is raised; `id` is its sequence number "
            "and `data` the webhook delivery's body",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems(401, 403, 422, 503),
    },
)
async def stream(
    request: Request,
    where: WhereDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The last alert's sequence number this screen saw: every alert after it is "
            "sent first. Absent: only alerts raised from now on.",
        ),
    ] = None,
) -> EventSourceResponse:
    """Each alert as it is raised, live. A screen that reconnects with Last-Event-ID gets every
    alert it missed, from the store. A browser's EventSource cannot send the key: read the stream
    with fetch and an Authorization header (the board does)."""
    store = where.store()
    if last_event_id is None:
        after = await asyncio.to_thread(service.last_seq, store)
    elif last_event_id.isdigit() and len(last_event_id) <= 18:
        after = int(last_event_id)
    else:
        raise ApiProblem(
            422,
            "invalid_request",
            "The request is not valid",
            "Last-Event-ID is an alert's sequence number",
            [FieldError("header.Last-Event-ID", "must be a whole number (an event's id from this stream)")],
        )
    watch = request.app.state.alert_watch

    async def events() -> AsyncIterator[dict[str, str]]:
        nonlocal after
        while True:
            found = await asyncio.to_thread(service.alerts_after, store, after, STREAM_BATCH)
            for seq, body in found:
                yield {"id": str(seq), "data": body.decode()}
                after = seq
            if len(found) < STREAM_BATCH:
                await watch.wait_beyond(after, 15.0)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})


@READERS.route(
    router.get,
    "/v1/incidents/{incident_id}/audit",
    operation_id="incidentAudit",
    dependencies=[Depends(only_query("page", "per_page", "force"))],
    responses={
        **json_response(
            "IncidentAudit",
            "What people did about the incident: each alert acknowledged, each inspectorate read",
        ),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def incident_audit(
    incident_id: IncidentId, where: ReadWhereDep, pools: PoolsDep, page: Page = 1, per_page: PerPage = 50
) -> Response:
    """The incident's audit trail of acknowledgements: which key acknowledged which alert, when,
    with its note (the evaluations served are in /decisions)."""
    answer = await pools.small.run(tasks.incident_audit, where, incident_id, page, per_page)
    return Response(answer, media_type="application/json")


@ADMIN.route(
    router.post,
    "/v1/subscriptions",
    operation_id="createSubscription",
    dependencies=[Depends(only_query())],
    openapi_extra=_body("SubscriptionAsk"),
    status_code=201,
    responses={
        201: {
            "description": "The receiver is registered; its signing secret is shown this once",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="SubscriptionCreated")}}},
        },
        **problems(401, 403, 413, 415, 422, 429, 503),
    },
)
async def subscribe(request: Request, caller: CallerDep, where: WhereDep, pools: PoolsDep) -> Response:
    """Register a receiver: each alert its filters take (owner roles, severities, kinds; none
    given: every alert) is POSTed to its URL, signed as Standard Webhooks says, at least once."""
    asked = read_request(SubscriptionAsk, await read_body(request, 16 * 1024))
    answer = await pools.small.run(tasks.subscribe, where, asked, caller.name)
    return Response(answer, status_code=201, media_type="application/json")


@ADMIN.route(
    router.get,
    "/v1/subscriptions",
    operation_id="listSubscriptions",
    dependencies=[Depends(only_query())],
    responses={
        **json_response("SubscriptionList", "Every receiver registered"),
        **problems(401, 403, 429, 503),
    },
)
async def list_subscriptions(where: WhereDep, pools: PoolsDep) -> Response:
    """Every receiver registered, active or not (secrets are never shown again)."""
    answer = await pools.small.run(tasks.subscriptions, where)
    return Response(answer, media_type="application/json")


@ADMIN.route(
    router.delete,
    "/v1/subscriptions/{subscription_id}",
    operation_id="deleteSubscription",
    dependencies=[Depends(only_query())],
    responses={
        **json_response("Subscription", "The receiver, no longer sent alerts"),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def unsubscribe(subscription_id: SubscriptionId, where: WhereDep, pools: PoolsDep) -> Response:
    """Stop sending alerts to a receiver; its deliveries so far are kept for the audit."""
    answer = await pools.small.run(tasks.unsubscribe, where, subscription_id)
    return Response(answer, media_type="application/json")


@DELIVERY_READERS.route(
    router.get,
    "/v1/subscriptions/{subscription_id}/deliveries",
    operation_id="listDeliveries",
    dependencies=[Depends(only_query("page", "per_page"))],
    responses={
        **json_response("DeliveryLog", "Each delivery to the receiver, the latest first, with its attempts"),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def deliveries(
    subscription_id: SubscriptionId,
    where: WhereDep,
    pools: PoolsDep,
    page: Page = 1,
    per_page: PerPage = 50,
) -> Response:
    """Each alert sent to the receiver: its webhook-id, whether it was delivered, and every
    attempt's time, HTTP status, latency and error."""
    answer = await pools.small.run(tasks.delivery_log, where, subscription_id, page, per_page)
    return Response(answer, media_type="application/json")
