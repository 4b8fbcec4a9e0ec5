"""POST /v1/evaluations: a timeline in, an evaluation out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import GateDep, PolicyDep, SettingsDep, allow
from api.keys import KeyRole
from api.openapi import json_response, problems, timeline_body
from api.requests import choose, instant, merged, only_query, read_body
from api.work import INLINE_BYTES
from engine import evaluate, parse_timeline

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])
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
    gate: GateDep,
    as_of: Annotated[str | None, Query(description="Judge at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
    trace: Annotated[bool, Query(description="Include the facts and the rules that fired.")] = False,
) -> Response:
    """Evaluate a timeline: recommended grade, oversight, deadlines and explained findings."""
    raw = await read_body(request, settings.max_body_bytes)
    given = instant("as_of", as_of)

    def work() -> str:
        timeline = parse_timeline(raw)
        chosen = choose(registry, timeline, policy)
        moment = merged("as_of", given, timeline.as_of)
        return evaluate(timeline, chosen, moment, trace=trace).to_json(indent=None)

    # A small body takes a couple of milliseconds: no thread hop. A large one must not hold the
    # event loop (health checks, other requests), and waits its turn for a worker slot.
    body = work() if len(raw) <= INLINE_BYTES else await gate.run(work)
    return Response(body, media_type="application/json")
