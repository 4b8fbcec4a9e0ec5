"""POST /v1/simulations: the states a trainer steps through (bounded: engine/judging/simulate.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from misper.api.http.deps import Allow, CallerDep, PoolsDep, RulesDep, SettingsDep
from misper.api.http.openapi import json_response, problems, timeline_body
from misper.api.http.requests import QueryInstant, instant, only_query, read_body
from misper.api.keys import KeyRole
from misper.api.workers.tasks import simulation_json
from misper.engine.usecases import SimulationAsk

router = APIRouter(prefix="/v1/simulations", tags=["simulations"])
CALLERS = Allow(KeyRole.TRAINER, KeyRole.AUDITOR)


@CALLERS.route(
    router.post,
    "",
    operation_id="createSimulation",
    dependencies=[Depends(only_query("until", "policy", "page", "at"))],
    openapi_extra=timeline_body(),
    responses={
        **json_response("Simulation", "One page of the steps of the incident, in time order"),
        **problems(401, 403, 413, 415, 422, 429, 500, 503),
    },
)
async def create_simulation(
    request: Request,
    caller: CallerDep,
    rules: RulesDep,
    settings: SettingsDep,
    pools: PoolsDep,
    until: Annotated[QueryInstant, Query(description="Stop at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
    page: Annotated[
        int, Query(ge=1, description="Which page of steps (a long incident comes in pages of bounded work).")
    ] = 1,
    at: Annotated[
        QueryInstant, Query(description="Only the state at this instant (a trainer jumping to a time).")
    ] = None,
) -> Response:
    """Step through an incident: a state at every event and every deadline instant, by page."""
    ask = SimulationAsk(
        policy=policy, until=instant("until", until), page=page, at=instant("at", at), force=caller.force
    )
    pools.large.check()  # a full lane answers 429 before the body is read
    raw = await read_body(request, settings.max_body_bytes)
    answer = await pools.large.run(simulation_json, rules, raw, ask)
    return Response(answer, media_type="application/json")
