from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from misper.api.http.deps import KeysDep, PolicyDep
from misper.api.http.openapi import problems
from misper.api.http.problems import ApiProblem
from misper.api.http.requests import only_query

router = APIRouter(tags=["health"], dependencies=[Depends(only_query())])


@router.get("/healthz", operation_id="getHealth", responses=problems(422))
async def healthz() -> dict[str, str]:
    """The process is up (no credential needed)."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="getReadiness", responses=problems(422, 503))
async def readyz(registry: PolicyDep, keys: KeysDep) -> dict[str, Any]:
    """The policies are loaded and checked, and the key store is readable (no credential needed)."""
    problem = keys.problem()
    if problem is not None:
        raise ApiProblem(503, "not_ready", "Not ready", problem)
    return {"status": "ready", "policies": [p.id for p in registry.policies]}
