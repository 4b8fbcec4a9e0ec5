"""Live incidents: a stored timeline fed event by event, its evaluation, the control room's
worklist and the audit trail of every decision served.

The control room writes; the control room and auditors read. Every store operation runs in the
worker pools (api/workers/), never on the event loop: route -> worker task -> incident service
-> store, and back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AfterValidator

from misper.api.http.deps import Allow, CallerDep, PoolsDep, ReadWhereDep, RulesDep, SettingsDep, WhereDep
from misper.api.http.openapi import REF, json_response, problems
from misper.api.http.requests import (
    QueryInstant,
    declared_length,
    instant,
    only_query,
    read_body,
    remember_policy,
)
from misper.api.keys import KeyRole
from misper.api.workers import tasks
from misper.engine.contract.timeline import plain_id

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
WRITER = Allow(KeyRole.CONTROL_ROOM)
READERS = Allow(KeyRole.CONTROL_ROOM, KeyRole.AUDITOR)
# The incident's id in the path: the contract's id (no control characters, no U+FFFD, which is
# what a percent-encoded byte that is not UTF-8 becomes), refused with 422 naming path.incident_id.
IncidentId = Annotated[
    str, Path(min_length=1, max_length=200, description="The incident's id."), AfterValidator(plain_id)
]


def _body(model: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        }
    }


def _remember(request: Request, incident_id: str) -> None:
    """For the access log: which incident a request was about (an id, nothing about the child)."""
    request.state.incident_id = incident_id


@WRITER.route(
    router.put,
    "/{incident_id}",
    operation_id="putIncident",
    dependencies=[Depends(only_query())],
    openapi_extra=_body("IncidentProfile"),
    responses={
        **json_response("IncidentSaved", "A new child profile was saved, or the same one was given again"),
        201: {
            "description": "The incident was created",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="IncidentSaved")}}},
        },
        **problems(401, 403, 413, 415, 422, 429, 503),
    },
)
async def put_incident(
    request: Request,
    incident_id: IncidentId,
    rules: RulesDep,
    settings: SettingsDep,
    where: WhereDep,
    pools: PoolsDep,
) -> Response:
    """Create an incident, or give it a new child profile (each version is kept)."""
    _remember(request, incident_id)
    pools.small.check()
    raw = await read_body(request, settings.max_body_bytes)
    answer = await pools.small.run(tasks.put_incident, rules, where, incident_id, raw)
    created = b'"created":true' in answer
    return Response(answer, status_code=201 if created else 200, media_type="application/json")


@WRITER.route(
    router.post,
    "/{incident_id}/events",
    operation_id="appendEvents",
    dependencies=[Depends(only_query())],
    openapi_extra=_body("EventBatch"),
    responses={
        **json_response("EventsAppended", "Which events were added and which were already stored"),
        **problems(401, 403, 404, 409, 413, 415, 422, 429, 503),
    },
)
async def append_events(
    request: Request,
    incident_id: IncidentId,
    rules: RulesDep,
    settings: SettingsDep,
    where: WhereDep,
    pools: PoolsDep,
) -> Response:
    """Append one or more events. An identical retry is acknowledged again; an id already stored
    with other content is refused (409): events are never edited, a correction names the event
    it corrects (`corrects`)."""
    _remember(request, incident_id)
    pools.lane(declared_length(request)).check()
    raw = await read_body(request, settings.max_body_bytes)
    stored = await pools.small.run(tasks.incident_size, where, incident_id)
    lane = pools.lane(len(raw), stored)
    answer = await lane.run(tasks.append_events, rules, where, incident_id, raw)
    if request.app.state.dispatcher is not None:
        request.app.state.dispatcher.wake()  # the new events may raise alerts now
    return Response(answer, media_type="application/json")


@READERS.route(
    router.get,
    "/{incident_id}",
    operation_id="getIncident",
    dependencies=[Depends(only_query("force"))],
    responses={
        **json_response("StoredIncident", "The incident as stored: profile, events, status, next change"),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def get_incident(
    request: Request, incident_id: IncidentId, where: ReadWhereDep, pools: PoolsDep
) -> Response:
    """The incident as stored: its current child profile, every event in the order stored
    (corrections included), whether it is open, and when its evaluation next changes by the
    clock, so a control-room system that lost its state can resynchronise."""
    _remember(request, incident_id)
    stored = await pools.small.run(tasks.incident_size, where, incident_id)
    answer = await pools.lane(0, stored).run(tasks.stored_incident, where, incident_id)
    return Response(answer, media_type="application/json")


@READERS.route(
    router.get,
    "/{incident_id}/evaluation",
    operation_id="getIncidentEvaluation",
    dependencies=[Depends(only_query("as_of"))],
    responses={
        **json_response("Evaluation", "The evaluation of the stored timeline (contract v1)"),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def incident_evaluation(
    request: Request,
    incident_id: IncidentId,
    caller: CallerDep,
    rules: RulesDep,
    where: WhereDep,
    pools: PoolsDep,
    as_of: Annotated[
        QueryInstant, Query(description="Judge at this instant; default: now, or the close.")
    ] = None,
) -> Response:
    """The evaluation of the stored timeline, recorded in the incident's audit trail."""
    _remember(request, incident_id)
    given = instant("as_of", as_of)
    stored = await pools.small.run(tasks.incident_size, where, incident_id)
    answer = await pools.lane(0, stored).run(
        tasks.stored_evaluation, rules, where, incident_id, given, caller.name
    )
    remember_policy(request, answer)
    return Response(answer, media_type="application/json")


@READERS.route(
    router.get,
    "",
    operation_id="listIncidents",
    dependencies=[Depends(only_query("status", "page", "per_page", "force"))],
    responses={
        **json_response("Worklist", "Incidents, most urgent first: the earliest next due duty first"),
        **problems(401, 403, 422, 429, 503),
    },
)
async def list_incidents(
    where: ReadWhereDep,
    pools: PoolsDep,
    status: Annotated[Literal["open", "closed", "all"], Query(description="Which incidents.")] = "open",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Which page (from 1).")] = 1,
    per_page: Annotated[int, Query(ge=1, le=200, description="How many per page (at most 200).")] = 50,
) -> Response:
    """The worklist: each incident's current grade, the oversight its grade requires and its next
    duty not yet done (what, whose, when, and whether it is overdue)."""
    answer = await pools.small.run(tasks.worklist, where, status, page, per_page)
    return Response(answer, media_type="application/json")


@READERS.route(
    router.get,
    "/{incident_id}/decisions",
    operation_id="listDecisions",
    dependencies=[Depends(only_query("page", "per_page", "force"))],
    responses={
        **json_response("AuditTrail", "Every evaluation served from this incident, oldest first"),
        **problems(401, 403, 404, 422, 429, 503),
    },
)
async def list_decisions(
    request: Request,
    incident_id: IncidentId,
    where: ReadWhereDep,
    pools: PoolsDep,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Which page (from 1).")] = 1,
    per_page: Annotated[int, Query(ge=1, le=200, description="How many per page (at most 200).")] = 50,
) -> Response:
    """The audit trail: who was told what, when, under which policy and engine, with a hash of
    the answer (misper audit verify re-evaluates and compares)."""
    _remember(request, incident_id)
    answer = await pools.small.run(tasks.decisions, where, incident_id, page, per_page)
    return Response(answer, media_type="application/json")
