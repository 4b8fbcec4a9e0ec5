"""POST /v1/evaluations: a timeline in, an evaluation out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from misper.api.http.deps import Allow, CallerDep, PoolsDep, RulesDep, SettingsDep
from misper.api.http.openapi import json_response, problems, timeline_body
from misper.api.http.requests import (
    QueryInstant,
    declared_length,
    instant,
    only_query,
    read_body,
    remember_policy,
)
from misper.api.keys import KeyRole
from misper.api.workers.tasks import evaluation_json
from misper.engine.contract.vocabulary import FORCE_CODE_PATTERN
from misper.engine.usecases import EvaluationAsk

router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])
CALLERS = Allow(KeyRole.CONTROL_ROOM, KeyRole.TRAINER, KeyRole.AUDITOR)


@CALLERS.route(
    router.post,
    "",
    operation_id="createEvaluation",
    dependencies=[Depends(only_query("as_of", "policy", "trace", "why_not"))],
    openapi_extra=timeline_body(),
    responses={
        **json_response("Evaluation", "The evaluation (contract v1)", "evaluation.json"),
        **problems(401, 403, 413, 415, 422, 429, 500, 503),
    },
)
async def create_evaluation(
    request: Request,
    caller: CallerDep,
    rules: RulesDep,
    settings: SettingsDep,
    pools: PoolsDep,
    as_of: Annotated[QueryInstant, Query(description="Judge at this instant (ISO 8601 with offset).")] = None,
    policy: Annotated[str | None, Query(description="Policy id; default: the one in force.")] = None,
    trace: Annotated[bool, Query(description="Include the facts and the rules that fired.")] = False,
    why_not: Annotated[
        str | None,
        Query(
            description="A finding code: include the trace and, for each rule that raises the code, "
            "which of its conditions no fact met.",
            pattern=FORCE_CODE_PATTERN,
        ),
    ] = None,
) -> Response:
    """Evaluate a timeline: recommended grade, oversight, deadlines and explained findings."""
    ask = EvaluationAsk(
        policy=policy, as_of=instant("as_of", as_of), trace=trace, why_not=why_not, force=caller.force
    )
    pools.lane(declared_length(request)).check()  # a full lane answers 429 before the body is read
    raw = await read_body(request, settings.max_body_bytes)
    answer = await pools.lane(len(raw)).run(evaluation_json, rules, raw, ask)
    remember_policy(request, answer)
    return Response(answer, media_type="application/json")
