"""GET /problems and /problems/{slug}: what each problem type means (documentation, no key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from misper.api.http.openapi import problems
from misper.api.http.problem_types import REGISTRY
from misper.api.http.problems import ApiProblem
from misper.api.http.requests import only_query

router = APIRouter(prefix="/problems", tags=["problems"], dependencies=[Depends(only_query())])


@router.get("", operation_id="listProblemTypes", responses=problems(422))
async def list_problem_types() -> list[dict[str, Any]]:
    """Every problem type the API answers with: its type, status, title and meaning (no key)."""
    return [t.as_dict() for t in REGISTRY.values()]


@router.get("/{slug}", operation_id="getProblemType", responses=problems(404, 422))
async def get_problem_type(
    slug: Annotated[str, Path(description="The problem type's slug, the last part of its type address.")],
) -> dict[str, Any]:
    """One problem type, at the address its problems carry in ``type`` (no key)."""
    if slug not in REGISTRY:
        raise ApiProblem(404, "not_found", "Not found", f"no problem type {slug!r}; GET /problems lists them")
    return REGISTRY[slug].as_dict()
