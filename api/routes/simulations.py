"""POST /v1/simulations: the states a trainer steps through (bounded: engine/judging/simulate.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from misper.api.deps import PolicyDep, SettingsDep, WorkDep, allow
from misper.api.keys import KeyRole
from misper.api.openapi import json_response, problems, roles, timeline_body
from misper.api.requests import QueryInstant, checked, instant, only_query, read_body
from misper.engine.jobs import simulation_json

router = APIRouter(prefix="/v1/simulations", tags=["simulations"])
Caller = Depends(allow(KeyRole.TRAINER, KeyRole.AUDITOR))
Query_ = Depends(only_query("until", "policy", "page", "at"))


@router.post(
    "",
    operation_id="createSimulation",
    dependencies=[Caller, Query_],
    openapi_extra={**timeline_body(), **roles("trainer", "auditor")},
    responses={
        **json_response("Simulation", "One page of the steps of the incident, in time order"),
        **problems(401, 403, 413, 415, 422, 429, 500, 503),
    },
)
async def create_simulation(
    request: Request,
    registry: PolicyDep,
    settings: SettingsDep,
    work: WorkDep,
    until: Annotated[QueryInstant, Query(description="Stop at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
    page: Annotated[
        int, Query(ge=1, description="Which page of steps (a long incident comes in pages of bounded work).")
    ] = 1,
    at: Annotated[
        QueryInstant, Query(description="Only the state at this instant (a trainer jumping to a time).")
    ] = None,
) -> Response:
    """Step through an incident: a state at every event and every deadline instant, by page.

    Roles: trainer, auditor, admin."""
    stop = instant("until", until)
    moment = instant("at", at)
    work.large.check()  # a full lane answers 429 before the body is read
    raw = await read_body(request, settings.max_body_bytes)
    answer = await work.large.run(
        simulation_json,
        *checked(registry, settings),
        raw,
        policy,
        stop,
        page,
        ("query.policy", "query.page"),
        moment,
    )
    return Response(answer, media_type="application/json")
