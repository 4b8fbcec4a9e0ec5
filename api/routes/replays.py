"""POST /v1/replays: a corpus of historical incidents (JSON Lines) in, results streamed back as
JSON Lines, one per incident in line order, with the summary as the last line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from misper.api.deps import PolicyDep, SettingsDep, WorkDep, allow
from misper.api.keys import KeyRole
from misper.api.openapi import problems, roles
from misper.api.problems import ApiProblem
from misper.api.replay.run import replay_chunk
from misper.api.replay.summary import Summary
from misper.api.requests import checked, only_query, read_body
from misper.engine import FieldError, UnknownPolicy

router = APIRouter(prefix="/v1/replays", tags=["replays"])
CHUNK = 200  # corpus lines per job in a worker process


@router.post(
    "",
    operation_id="createReplay",
    dependencies=[Depends(allow(KeyRole.AUDITOR)), Depends(only_query("policy", "compare"))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            "description": "JSON Lines (application/x-ndjson): one contract v1 timeline per line, "
            "optionally with `area`.",
        },
        **roles("auditor"),
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
    settings: SettingsDep,
    work: WorkDep,
    policy: Annotated[str | None, Query(description="Judge every incident by this policy.")] = None,
    compare: Annotated[
        str | None, Query(description="Also judge by this policy and summarise what changes.")
    ] = None,
) -> StreamingResponse:
    """Replay historical incidents in complete mode, streaming the results.

    Roles: auditor, admin."""
    for field, name in (("query.policy", policy), ("query.compare", compare)):
        if name is not None:
            try:
                registry.get(name)
            except UnknownPolicy as exc:
                errors = [FieldError(field, exc.message)]
                raise ApiProblem(422, "unknown_policy", "Unknown policy", exc.message, errors) from None
    work.large.check()
    raw = await read_body(request, settings.max_replay_bytes, ("application/x-ndjson",))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiProblem(
            422, "invalid_request", "The request is not valid", "the body is not UTF-8 text"
        ) from None
    items = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    args = checked(registry, settings)

    async def results() -> AsyncIterator[bytes]:
        summary = Summary()
        for start in range(0, len(items), CHUNK):
            chunk = await work.large.run(replay_chunk, *args, policy, compare, items[start : start + CHUNK])
            lines = []
            for result in chunk:
                summary.add(result)
                lines.append(result["out"] if "out" in result else json.dumps(result, separators=(",", ":")))
            yield ("\n".join(lines) + "\n").encode()
        yield (json.dumps({"summary": summary.as_dict(registry)}, separators=(",", ":")) + "\n").encode()

    return StreamingResponse(results(), media_type="application/x-ndjson")
