"""POST /v1/simulations: the states a trainer steps through, streamed as they are worked out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import GateDep, PolicyDep, SettingsDep, allow
from api.keys import KeyRole
from api.openapi import json_response, problems, timeline_body
from api.requests import choose, instant, only_query, read_body
from engine import parse_timeline
from engine.simulate import header, plan, steps

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
    gate: GateDep,
    until: Annotated[str | None, Query(description="Stop at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
) -> StreamingResponse:
    """Step through an incident: a state at every event and every deadline instant."""
    raw = await read_body(request, settings.max_body_bytes)
    stop = instant("until", until)
    await gate.enter()  # held until the last step is sent (or the client goes away)
    try:
        timeline = await run_in_threadpool(parse_timeline, raw)
        chosen = choose(registry, timeline, policy)
        planned = await run_in_threadpool(plan, timeline, chosen, stop)  # refused here when too large
    except BaseException:
        gate.leave()
        raise
    opening = header(timeline, chosen, planned).model_dump_json().encode()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield opening[: -len(b"]}")]  # '{..., "steps":[' : the same bytes as one whole answer
            separator = b""
            async for step in iterate_in_threadpool(steps(timeline, chosen, planned)):
                yield separator + step.model_dump_json().encode()
                separator = b","
            yield b"]}"
        finally:
            gate.leave()

    return StreamingResponse(body(), media_type="application/json")
