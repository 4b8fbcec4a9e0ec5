from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import PolicyDep
from api.openapi import problems
from api.requests import only_query

router = APIRouter(tags=["health"], dependencies=[Depends(only_query())])


@router.get("/healthz", responses=problems(422))
async def healthz() -> dict[str, str]:
    """The process is up (no credential needed)."""
    return {"status": "ok"}


@router.get("/readyz", responses=problems(422, 503))
async def readyz(registry: PolicyDep) -> dict[str, Any]:
    """The policies are loaded and checked (no credential needed)."""
    return {"status": "ready", "policies": [p.id for p in registry.policies]}
