from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import PolicyDep, SettingsDep, allow
from api.keys import KeyRole
from api.openapi import json_response, problems, timeline_body
from api.requests import choose, instant, only_query, read_timeline
from engine.simulate import simulate

router = APIRouter(prefix="/v1/simulations", tags=["simulations"])
Caller = Depends(allow(KeyRole.TRAINER, KeyRole.AUDITOR))
Query_ = Depends(only_query("until", "policy"))


@router.post(
    "",
    dependencies=[Caller, Query_],
    openapi_extra=timeline_body(),
    responses={
        **json_response("Simulation", "The steps of the incident, in time order"),
        **problems(401, 403, 413, 415, 422, 503),
    },
)
async def create_simulation(
    request: Request,
    registry: PolicyDep,
    settings: SettingsDep,
    until: Annotated[str | None, Query(description="Stop at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
) -> Response:
    """Step through an incident: a state at every event and every deadline instant."""
    timeline = await read_timeline(request, settings.max_body_bytes)
    chosen = choose(registry, timeline, policy)
    stop = instant("until", until)
    result = await run_in_threadpool(simulate, timeline, chosen, stop)
    return Response(result.model_dump_json(), media_type="application/json")
