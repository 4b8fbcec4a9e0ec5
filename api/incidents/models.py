"""What the incident routes take and give: contract v1 values, strict on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from misper.engine.contract.evaluation import Instant
from misper.engine.contract.timeline import MAX_EVENTS, Child, Event, Id
from misper.engine.contract.vocabulary import Grade, Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IncidentProfile(_Strict):
    """PUT /v1/incidents/{id}: the child, and optionally the policy version to judge by."""

    child: Child
    policy: Id | None = None


class EventBatch(_Strict):
    """POST /v1/incidents/{id}/events: one or more contract v1 events."""

    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]


@dataclass(frozen=True)
class WorklistEntry:
    """What the worklist shows of an incident, worked out by the service from its timeline in event
    time and written with the incident's row."""

    status: str
    report_at: int | None
    recorded_on: str | None
    current_grade: str | None
    required_role: str | None
    next_deadline: str | None = None
    next_occurrence: int | None = None
    next_owner: str | None = None
    next_due_at: int | None = None
    next_due_text: str | None = None
    next_change_at: int | None = None
    next_change_text: str | None = None


class IncidentSaved(BaseModel):
    incident_id: str
    created: bool
    profile_version: int


class NextDuty(BaseModel):
    id: str
    occurrence: int
    owner: Role
    due_at: Instant
    overdue: bool


class EventsAppended(BaseModel):
    incident_id: str
    added: list[str]  # ids stored by this request
    repeated: list[str]  # ids already stored with the same content (acknowledged again)
    event_count: int
    status: Literal["open", "closed"]
    current_grade: Grade | None
    required_role: Role | None
    next_deadline: NextDuty | None
    next_change_at: Instant | None


class WorklistItem(BaseModel):
    incident_id: str
    status: Literal["open", "closed"]
    events: int
    current_grade: Grade | None
    required_role: Role | None
    next_deadline: NextDuty | None
    next_change_at: Instant | None


class Worklist(BaseModel):
    status: Literal["open", "closed", "all"]
    page: int
    per_page: int
    total: int
    incidents: list[WorklistItem]


class PolicyUsed(BaseModel):
    id: str
    sha256: str


class Decision(BaseModel):
    decision: int  # its number in the incident's trail: 1, 2, 3 ... (decisions are never deleted)
    asked_at: Instant
    key_name: str
    policy: PolicyUsed
    engine_version: str
    as_of: Instant
    event_ids: list[str]
    profile_version: int
    result_sha256: str


class AuditTrail(BaseModel):
    incident_id: str
    page: int
    per_page: int
    total: int
    decisions: list[Decision]


class StoredIncident(BaseModel):
    """GET /v1/incidents/{id}: what a control-room system needs to resynchronise."""

    incident_id: str
    status: Literal["open", "closed"]
    profile_version: int
    child: Child
    policy: str | None
    events: list[Event]  # as stored, in the order stored, corrections included
    next_change_at: Instant | None


MODELS = (IncidentProfile, EventBatch, IncidentSaved, EventsAppended, Worklist, AuditTrail, StoredIncident)
