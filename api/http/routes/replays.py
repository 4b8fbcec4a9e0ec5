"""POST /v1/replays: a corpus of historical incidents (JSON Lines) in, results streamed back as
JSON Lines, one per incident in line order, with the summary as the last line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from misper.api.http.deps import Allow, PolicyDep, PoolsDep, RulesDep, SettingsDep
from misper.api.http.openapi import problems
from misper.api.http.problems import QUERY_LABELS, ApiProblem
from misper.api.http.requests import only_query, read_body
from misper.api.keys import KeyRole
from misper.api.replay.runner import ReplayOptions, Tally, corpus_lines
from misper.api.workers.tasks import replay_chunk

router = APIRouter(prefix="/v1/replays", tags=["replays"])
CHUNK = 200  # corpus lines per job in a worker process


@Allow(KeyRole.AUDITOR).route(
    router.post,
    "",
    operation_id="createReplay",
    dependencies=[Depends(only_query("policy", "compare"))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            "description": "JSON Lines (application/x-ndjson): one contract v1 timeline per line, "
            "optionally with `area`.",
        },
    },
    responses={
        200: {
            "description": 'JSON Lines: a result per incident (or its line\'s error), then {"summary": ...}',
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        **problems(401, 403, 413, 415, 422, 429, 503),
    },
)
async def create_replay(
    request: Request,
    registry: PolicyDep,
    rules: RulesDep,
    settings: SettingsDep,
    pools: PoolsDep,
    policy: Annotated[str | None, Query(description="Judge every incident by this policy.")] = None,
    compare: Annotated[
        str | None, Query(description="Also judge by this policy and summarise what changes.")
    ] = None,
) -> StreamingResponse:
    """Replay historical incidents in complete mode, streaming the results."""
    options = ReplayOptions(policy, compare, QUERY_LABELS)
    options.check(registry)
    pools.large.check()
    raw = await read_body(request, settings.replay_max_bytes, ("application/x-ndjson",))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiProblem(
            422, "invalid_request", "The request is not valid", "the body is not UTF-8 text"
        ) from None
    items = corpus_lines(text)

    async def results() -> AsyncIterator[bytes]:
        tally = Tally()
        for start in range(0, len(items), CHUNK):
            chunk = await pools.large.run(replay_chunk, rules, options, items[start : start + CHUNK])
            yield ("\n".join(tally.take(result) for result in chunk) + "\n").encode()
        yield (
            json.dumps({"summary": tally.summary.as_dict(registry)}, separators=(",", ":")) + "\n"
        ).encode()

    return StreamingResponse(results(), media_type="application/x-ndjson")
