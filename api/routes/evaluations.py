from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import PolicyDep, SettingsDep, allow
from api.keys import KeyRole
from api.openapi import json_response, problems, timeline_body
from api.requests import choose, instant, merged, only_query, read_timeline
from engine import evaluate

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])
# Timelines up to this size are evaluated on the event loop (about 1 ms for 20 events); larger
# ones in a worker thread. The hop costs more than a small evaluation.
INLINE_EVENTS = 100
Caller = Depends(allow(KeyRole.CONTROL_ROOM, KeyRole.TRAINER, KeyRole.AUDITOR))
Query_ = Depends(only_query("as_of", "policy", "trace"))


@router.post(
    "",
    dependencies=[Caller, Query_],
    openapi_extra=timeline_body(),
    responses={
        **json_response("Evaluation", "The evaluation (contract v1)", "evaluation.json"),
        **problems(401, 403, 413, 415, 422, 503),
    },
)
async def create_evaluation(
    request: Request,
    registry: PolicyDep,
    settings: SettingsDep,
    as_of: Annotated[str | None, Query(description="Judge at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
    trace: Annotated[bool, Query(description="Include the facts and the rules that fired.")] = False,
) -> Response:
    """Evaluate a timeline: recommended grade, oversight, deadlines and explained findings."""
    timeline = await read_timeline(request, settings.max_body_bytes)
    chosen = choose(registry, timeline, policy)
    moment = merged("as_of", instant("as_of", as_of), timeline.as_of)
    if len(timeline.events) <= INLINE_EVENTS:
        result = evaluate(timeline, chosen, moment, trace=trace)  # a millisecond or so: no thread hop
    else:  # a large timeline must not stall health checks and other requests
        result = await run_in_threadpool(evaluate, timeline, chosen, moment, trace=trace)
    return Response(result.to_json(indent=None), media_type="application/json")
