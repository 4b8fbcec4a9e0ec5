from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from misper.api.http.deps import Allow, CallerDep, PolicyDep
from misper.api.http.openapi import problems
from misper.api.http.problems import ApiProblem
from misper.api.http.requests import only_query
from misper.api.keys import KeyRole
from misper.engine import Policy, UnknownPolicy
from misper.engine.contract.vocabulary import CONTRACT_CODES, FindingCode, ForceCode
from misper.engine.policy.files import DeadlineSpec, Parameter, RuleSpec, TestCase

router = APIRouter(prefix="/v1/policies", tags=["policies"], dependencies=[Depends(only_query())])
ANY_KEY = Allow(KeyRole.CONTROL_ROOM, KeyRole.TRAINER, KeyRole.AUDITOR)


class PolicySummary(BaseModel):
    id: str
    force: str | None  # the force whose policy it is; null for a national one
    title: str
    effective_from: date
    effective_to: date | None
    timezone: str
    sha256: str


class DeadlineView(DeadlineSpec):
    """A deadline as the policy file declares it, without its embedded tests."""

    code: FindingCode | ForceCode  # type: ignore[assignment]

    tests: list[TestCase] = Field(default_factory=list, exclude=True)


class RuleView(RuleSpec):
    """A rule as the policy file declares it, without its embedded tests."""

    code: FindingCode | ForceCode  # type: ignore[assignment]

    tests: list[TestCase] = Field(default_factory=list, exclude=True)


class FindingCodeView(BaseModel):
    """A code the policy's rules and deadlines can raise."""

    code: FindingCode | ForceCode
    clauses: list[str]  # the clauses whose rules or deadlines raise it
    reserved: bool  # one of contract v1's codes (its meaning is the contract's)
    meaning: str | None  # the policy's own words for a code it declares


class PolicyDetail(PolicySummary):
    source: str
    clauses: dict[str, str]
    parameters: dict[str, Parameter]
    finding_codes: list[FindingCodeView]
    deadlines: list[DeadlineView]
    rules: list[RuleView]


def _finding_codes(p: Policy) -> list[dict[str, Any]]:
    clauses: dict[str, list[str]] = {}
    for rule in p.compiled.values():
        seen = clauses.setdefault(rule.code, [])
        if rule.clause not in seen:
            seen.append(rule.clause)
    return [
        {
            "code": code,
            "clauses": sorted(found, key=p.clause_rank.__getitem__),
            "reserved": code in CONTRACT_CODES,
            "meaning": p.meta.finding_codes.get(code),
        }
        for code, found in sorted(clauses.items())
    ]


def _summary(p: Policy) -> dict[str, Any]:
    m = p.meta
    return {
        "id": p.id,
        "force": m.force,
        "title": m.title,
        "effective_from": m.effective_from,
        "effective_to": m.effective_to,
        "timezone": m.timezone,
        "sha256": p.sha256,
    }


@ANY_KEY.route(
    router.get,
    "",
    operation_id="listPolicies",
    response_model=list[PolicySummary],
    responses=problems(401, 422, 503),
)
async def list_policies(registry: PolicyDep, caller: CallerDep) -> list[dict[str, Any]]:
    """The policy versions the key's force may be judged by (its own and the national ones),
    with their effective dates and content hashes."""
    national = caller.force is None  # the inspectorate's key: every force's
    return [_summary(p) for p in (registry.policies if national else registry.usable_by(caller.force))]


@ANY_KEY.route(
    router.get,
    "/{policy_id}",
    operation_id="getPolicy",
    response_model=PolicyDetail,
    responses=problems(401, 404, 422, 503),
)
async def get_policy(
    policy_id: Annotated[str, Path(description="The policy version's id, e.g. suffolk-2023-02.")],
    registry: PolicyDep,
    caller: CallerDep,
) -> dict[str, Any]:
    """One policy version of the key's force, or a national one: its clauses, parameters,
    deadlines and rules, to explain a flag."""
    try:
        p = registry.usable(policy_id, caller.force)
    except UnknownPolicy as exc:
        raise ApiProblem(404, "unknown_policy", "Not found", exc.message) from None
    return {
        **_summary(p),
        "source": p.meta.source,
        "clauses": p.meta.clauses,
        "parameters": {name: param.model_dump() for name, param in p.parameters.items()},
        "finding_codes": _finding_codes(p),
        "deadlines": [d.model_dump(exclude={"tests"}, exclude_none=True) for d in p.deadlines],
        "rules": [r.model_dump(exclude={"tests"}) for r in p.rules],
    }
