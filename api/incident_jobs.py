"""Incident work as it runs in a worker process: checking bodies, reading and writing the store,
evaluating stored timelines and recording each decision served. Each function takes plain
values and returns JSON bytes, so it can cross a process boundary."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from misper.api.store import Store, Summary
from misper.engine.clock.localtime import to_epoch
from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import field_error, parse_timeline
from misper.engine.contract.timeline import Child, Event, Id, Timeline
from misper.engine.errors import EngineError, FieldError, InvalidRequest, InvalidTimeline
from misper.engine.inputs import choose_policy
from misper.engine.jobs import registry_checked
from misper.engine.judging.judge import evaluate
from misper.engine.policy.registry import PolicyRegistry
from misper.engine.version import __version__

EVENT = TypeAdapter(Event)
OPEN_STATUSES = ("pending", "due_soon", "breached")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IncidentProfile(_Strict):
    """PUT /v1/incidents/{id}: the child, and optionally the policy version to judge by."""

    child: Child
    policy: Id | None = None


class EventBatch(_Strict):
    """POST /v1/incidents/{id}/events: one or more contract v1 events."""

    events: Annotated[list[Event], Field(min_length=1, max_length=5_000)]


class IncidentSaved(BaseModel):
    incident_id: str
    created: bool
    profile_version: int


class EventsAppended(BaseModel):
    incident_id: str
    added: list[str]  # ids stored by this request
    repeated: list[str]  # ids already stored with the same content (acknowledged again)
    event_count: int


class NextDuty(BaseModel):
    id: str
    occurrence: int
    owner: str
    due_at: str
    overdue: bool


class WorklistItem(BaseModel):
    incident_id: str
    status: Literal["open", "closed"]
    events: int
    current_grade: str | None
    required_role: str | None
    next_deadline: NextDuty | None


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
    decision: int
    asked_at: str
    key_name: str
    policy: PolicyUsed
    engine_version: str
    as_of: str
    event_ids: list[str]
    profile_version: int
    result_sha256: str


class AuditTrail(BaseModel):
    incident_id: str
    page: int
    per_page: int
    total: int
    decisions: list[Decision]


MODELS = (IncidentProfile, EventBatch, IncidentSaved, EventsAppended, Worklist, AuditTrail)


def epoch(instant: str | datetime) -> int:
    return to_epoch(datetime.fromisoformat(instant) if isinstance(instant, str) else instant)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _checked(model: type[_Strict], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        data = _loads(raw)
        raise InvalidRequest(
            "the request body does not follow contract v1",
            [field_error(err, data) for err in exc.errors(include_url=False)],
        ) from None


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def put_incident(url: str, incident_id: str, raw: bytes) -> bytes:
    profile = _checked(IncidentProfile, raw)
    child = json.loads(raw)["child"]
    created, version = Store(url).put_incident(incident_id, child, profile.policy, now_iso())
    return _dump({"incident_id": incident_id, "created": created, "profile_version": version})


def append_events(rules_dir: str, hashes: dict[str, str], url: str, incident_id: str, raw: bytes) -> bytes:
    _checked(EventBatch, raw)
    batch = json.loads(raw)["events"]
    registry = registry_checked(rules_dir, hashes)

    def same(stored: str, event: dict[str, Any]) -> bool:
        return bool(EVENT.validate_json(stored) == EVENT.validate_json(json.dumps(event)))

    def check(body: dict[str, Any], stored: int, positions: list[int]) -> Summary:
        try:
            timeline = parse_timeline(json.dumps(body))
        except InvalidTimeline as exc:
            raise InvalidTimeline(
                "these events would make the incident's timeline invalid",
                [_batch_field(e, stored, positions) for e in exc.errors],
            ) from None
        policy = choose_policy(registry, timeline, None, "policy")
        last = max(e.at for e in timeline.events)
        return summary(timeline, evaluate(timeline, policy, last))

    result = Store(url).append(incident_id, batch, now_iso(), same, check)
    return _dump(result)


def _batch_field(error: FieldError, stored: int, positions: list[int]) -> FieldError:
    """events[k] of the combined timeline -> events[i] of the request (or a stored event)."""
    head, sep, rest = error.field.partition("]")
    if error.field.startswith("events[") and sep:
        k = int(head[len("events[") :])
        where = f"events[{positions[k - stored]}]" if k >= stored else f"stored event {k}"
        return FieldError(where + rest, error.message)
    return error


def summary(timeline: Timeline, result: Evaluation) -> Summary:
    """The worklist's view of an incident, from its evaluation at its last event."""
    types = {e.type for e in timeline.events}
    recorded = "compact" if "compact_record_created" in types else None
    if recorded is None and "child_risk_assessment_form" in types:
        recorded = "child_risk_assessment_form"
    closed = "closed" in types
    waiting = [] if closed else [d for d in result.deadlines if d.status in OPEN_STATUSES]
    nxt = min(waiting, key=lambda d: (epoch(d.due_at), d.id, d.occurrence), default=None)
    return Summary(
        status="closed" if closed else "open",
        report_at=epoch(timeline.report().at),
        recorded_on=recorded,
        current_grade=result.grade.current,
        required_role=result.oversight.required_role,
        next_deadline=nxt.id if nxt else None,
        next_occurrence=nxt.occurrence if nxt else None,
        next_owner=nxt.owner if nxt else None,
        next_due_at=epoch(nxt.due_at) if nxt else None,
        next_due_text=nxt.due_at if nxt else None,
    )


def stored_evaluation(
    rules_dir: str,
    hashes: dict[str, str],
    url: str,
    incident_id: str,
    as_of: datetime | None,
    key_name: str,
) -> bytes:
    """Evaluate the stored timeline and record the decision served (append-only)."""
    store = Store(url)
    body, version, counted = store.timeline(incident_id)
    registry = registry_checked(rules_dir, hashes)
    timeline = parse_timeline(json.dumps(body))
    policy = choose_policy(registry, timeline, None, "policy")
    answer = evaluate(timeline, policy, as_of).to_json(indent=None).encode()
    store.record_decision(
        {
            "incident_id": incident_id,
            "asked_at": now_iso(),
            "key_name": key_name,
            "policy_id": policy.id,
            "policy_sha256": policy.sha256,
            "engine_version": __version__,
            "as_of": json.loads(answer)["as_of"],
            "event_ids": json.dumps([e["id"] for e in body["events"]]),
            "profile_version": version,
            "previous_episodes": json.dumps(counted, sort_keys=True),
            "result_sha256": hashlib.sha256(answer).hexdigest(),
        }
    )
    return answer


def worklist(url: str, status: str, page: int, per_page: int) -> bytes:
    rows, total = Store(url).worklist(status, page, per_page)
    now = int(datetime.now(UTC).timestamp())
    items = [
        {
            "incident_id": r["incident_id"],
            "status": r["status"],
            "events": r["event_count"],
            "current_grade": r["current_grade"],
            "required_role": r["required_role"],
            "next_deadline": None
            if r["next_deadline"] is None
            else {
                "id": r["next_deadline"],
                "occurrence": r["next_occurrence"],
                "owner": r["next_owner"],
                "due_at": r["next_due_text"],
                "overdue": r["next_due_at"] <= now,
            },
        }
        for r in rows
    ]
    return _dump({"status": status, "page": page, "per_page": per_page, "total": total, "incidents": items})


def decisions(url: str, incident_id: str, page: int, per_page: int) -> bytes:
    rows, total = Store(url).decisions(incident_id, page, per_page)
    items = [
        {
            "decision": r["seq"],
            "asked_at": r["asked_at"],
            "key_name": r["key_name"],
            "policy": {"id": r["policy_id"], "sha256": r["policy_sha256"]},
            "engine_version": r["engine_version"],
            "as_of": r["as_of"],
            "event_ids": json.loads(r["event_ids"]),
            "profile_version": r["profile_version"],
            "result_sha256": r["result_sha256"],
        }
        for r in rows
    ]
    body = {
        "incident_id": incident_id,
        "page": page,
        "per_page": per_page,
        "total": total,
        "decisions": items,
    }
    return _dump(body)


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def verify(url: str, registry: PolicyRegistry, incident_id: str) -> list[tuple[int, bool, str]]:
    """Re-evaluate every decision recorded for the incident on the timeline it saw, under the
    policy and at the instant it names, and compare the answer's hash with the one recorded.
    Returns (decision, same, what differs)."""
    store = Store(url)
    out = []
    page, total = 1, 1
    while (page - 1) * 200 < total:
        rows, total = store.decisions(incident_id, page, 200)
        for record in rows:
            out.append(_verify_one(store, registry, record))
        page += 1
    return out


def _verify_one(store: Store, registry: PolicyRegistry, record: dict[str, Any]) -> tuple[int, bool, str]:
    seq = int(record["seq"])
    try:
        policy = registry.get(record["policy_id"])
    except EngineError as exc:
        return seq, False, exc.message
    timeline = parse_timeline(json.dumps(store.decision_timeline(record)))
    answer = evaluate(timeline, policy, datetime.fromisoformat(record["as_of"])).to_json(indent=None).encode()
    if hashlib.sha256(answer).hexdigest() == record["result_sha256"]:
        return seq, True, "same answer"
    why = []
    if policy.sha256 != record["policy_sha256"]:
        why.append(
            f"policy {policy.id} changed since (sha256 {record['policy_sha256'][:12]} then, "
            f"{policy.sha256[:12]} now)"
        )
    if __version__ != record["engine_version"]:
        why.append(f"engine {record['engine_version']} then, {__version__} now")
    return seq, False, "different answer" + (": " + "; ".join(why) if why else "")
