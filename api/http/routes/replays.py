"""POST /v1/replays: a corpus of historical incidents (JSON Lines) in, results streamed back as
JSON Lines, one per incident in line order, with the summary as the last line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from misper.api.http.deps import Allow, CallerDep, PolicyDep, PoolsDep, RulesDep, SettingsDep
from misper.api.http.openapi import problems
from misper.api.http.problems import QUERY_LABELS, ApiProblem
from misper.api.http.requests import only_query, read_body
from misper.api.keys import KeyRole
from misper.api.replay.runner import ReplayOptions, Tally, corpus_lines
from misper.api.workers.tasks import replay_chunk

router = APIRouter(prefix="/v1/replays", tags=["replays"])
NDJSON = ("application/x-ndjson",)
NDJSON = ("application/x-ndjson",)
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
    caller: CallerDep,
    registry: PolicyDep,
    rules: RulesDep,
    settings: SettingsDep,
    pools: PoolsDep,
    policy: Annotated[str | None, Query(description="Judge every incident by this policy.")] = None,
    compare: Annotated[
        str | None,
        Query(
            description="Also judge by this policy and summarise what changes; comma-separated, one "
            "per force, when the corpus holds several forces' incidents (the inspectorate's key).",
        ),
    ] = None,
) -> StreamingResponse:
    """Replay historical incidents in complete mode, streaming the results. A force's auditor
    replays its own force's incidents (a line naming another force is refused); the
    inspectorate's key replays any force's, each line judged under its own force."""
    compared = tuple(p.strip() for p in (compare or "").split(",") if p.strip())
    options = ReplayOptions(policy, compared, QUERY_LABELS, force=caller.force)
    options.check(registry)
    release = pools.replays.admit()  # a bounded number at once, before any body is read
    try:
        items = corpus_lines(_text(await read_body(request, settings.replay_max_bytes, NDJSON)))
    except BaseException:
        release()
        raise

    async def results() -> AsyncIterator[bytes]:
        """Once admitted, a replay runs to its end: its chunks are not refused when the lane is
        busy, they wait their turn (an answer that has begun cannot become a 429)."""
        try:
            tally = Tally()
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                done = await pools.large.run(replay_chunk, rules, options, chunk, admitted=True)
                yield ("\n".join(tally.take(result) for result in done) + "\n").encode()
            summary = {"summary": tally.summary.as_dict(registry)}
            yield (json.dumps(summary, separators=(",", ":")) + "\n").encode()
        finally:
            release()

    # The background task gives the place back too when the stream never started (the client
    # went away first); giving it back twice is harmless.
    return StreamingResponse(results(), media_type=NDJSON[0], background=BackgroundTask(release))


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiProblem(
            422, "invalid_request", "The request is not valid", "the body is not UTF-8 text"
        ) from None
