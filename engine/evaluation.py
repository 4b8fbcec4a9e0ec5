"""Contract v1's evaluation: what the engine answers. Instants are ISO 8601 in the policy's
local time with their offset, so the same input gives the same bytes on any machine."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PolicyRef(_Out):
    id: str
    sha256: str
    title: str


class GradeView(_Out):
    current: str | None
    recommended: str
    reasons: list[str]


class OversightView(_Out):
    required_role: str
    accepted_at: str | None
    deadline: str


class RepeatMissing(_Out):
    episodes_in_window: int
    window_days: int
    threshold: int
    response_plan_required: bool
    response_plan_exists: bool


class Deadline(_Out):
    id: str
    occurrence: int
    clause: str
    code: str
    owner: str
    duty: str
    starts_at: str
    due_at: str
    met_at: str | None
    met_by: str | None
    status: str
    reason: str | None
    evidence: list[str]


class Finding(_Out):
    code: str
    clause: str
    severity: str
    message: str
    at: str
    evidence: list[str]
    rule: str


class Evaluation(_Out):
    incident_id: str
    policy: PolicyRef
    as_of: str
    mode: str
    grade: GradeView
    oversight: OversightView
    repeat_missing: RepeatMissing
    deadlines: list[Deadline]
    findings: list[Finding]
    trace: dict[str, Any] | None = None

    def to_json(self, indent: int | None = 2) -> str:
        """The contract's JSON; the opt-in trace appears only when it was asked for."""
        return self.model_dump_json(indent=indent, exclude={"trace"} if self.trace is None else None)


class DeadlineState(_Out):
    id: str
    occurrence: int
    status: str
    due_at: str


class Step(_Out):
    """One instant a trainer steps to: what happened, where each clock stands, what is new."""

    at: str
    triggers: list[str]
    mode: str
    grade: GradeView
    oversight: OversightView
    deadlines: list[DeadlineState]
    new_findings: list[Finding]


class Simulation(_Out):
    incident_id: str
    policy: PolicyRef
    until: str
    steps: list[Step]
