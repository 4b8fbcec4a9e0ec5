"""The incident service: what a control room's writes and reads of a stored incident mean. It owns
each transaction: it reads what it needs through the store, decides (merges a batch, assembles the
timeline, judges it) and writes, and the store never calls back into it. Answers are JSON bytes,
so a worker process can hand them to the server as they are."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from misper.api.incidents.models import EventBatch, IncidentProfile, WorklistEntry
from misper.api.incidents.schema import audit
from misper.api.incidents.store import CreatedMeanwhile, IncidentStore, Profile, Rows
from misper.api.incidents.timelines import Stored, assemble, stored_timeline
from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import duplicate_keys, field_error, loads_or_none
from misper.engine.contract.timeline import MAX_EVENTS, Child, Event, Timeline
from misper.engine.errors import EngineError, FieldError, InvalidRequest, InvalidTimeline
from misper.engine.localtime import text_epoch, to_epoch
from misper.engine.policy.registry import PolicyRegistry
from misper.engine.usecases import EvaluationAsk, evaluation
from misper.engine.version import __version__

EVENT = TypeAdapter(Event)
EVENT_INDEX = re.compile(r"\bevents\[(\d+)\]")
OPEN_STATUSES = ("pending", "due_soon", "breached")


class UnknownIncident(EngineError):
    code = "unknown_incident"


class IncidentConflict(EngineError):
    code = "incident_conflict"


class IncidentFull(EngineError):
    """An incident holds as many events as it may besides the room kept for closing it."""

    code = "incident_full"


# A stored incident keeps at most MAX_EVENTS events (one timeline's limit). The last CLOSING_ROOM
# of them are kept for found and closed events and their corrections, so an incident can always
# be recorded found and closed, whatever was appended before.
CLOSING_ROOM = 10
CLOSING_TYPES = frozenset({"found", "closed"})


def put_incident(
    store: IncidentStore, registry: PolicyRegistry, incident_id: str, raw: bytes, now: str
) -> bytes:
    """Create the incident, or give it a new child profile when this one differs. A profile the
    stored events could not be judged with (a previous episode after the report, a policy that
    does not exist) is refused and the incident left as it was; one that is saved re-judges the
    worklist entry in the same transaction. Two clients creating one incident at once: the
    primary key refuses the second insert, and that client then saves its profile as the next
    version."""
    asked = read_request(IncidentProfile, raw)
    if asked.policy is not None:
        registry.usable(asked.policy, store.scope.force)  # refused, naming the field, if not the force's
    try:
        created, version = _save_profile(store, registry, incident_id, asked, now)
    except CreatedMeanwhile:
        created, version = _save_profile(store, registry, incident_id, asked, now)
    return _dump({"incident_id": incident_id, "created": created, "profile_version": version})


def _save_profile(
    store: IncidentStore, registry: PolicyRegistry, incident_id: str, asked: IncidentProfile, now: str
) -> tuple[bool, int]:
    profile = Profile(_stored_form(asked.child), asked.policy)
    with store.writing() as rows:
        incident = rows.incident(incident_id, lock=True)
        if incident is None:
            rows.create(incident_id, profile, now)
            return True, 1
        version = int(incident.profile_version)
        current = rows.profile(incident_id, version)
        if (
            current.policy == asked.policy
            and Child.model_validate_json(json.dumps(current.child)) == asked.child
        ):
            return False, version
        rows.add_profile(incident_id, version + 1, profile, now)
        stored = rows.events(incident_id)
        if stored:
            # Judged as now stored (the child's id, and so its other episodes, may have changed);
            # a profile the events cannot be judged with rolls the whole transaction back.
            incident = rows.incident(incident_id)
            try:
                judged = stored_timeline(incident_id, profile, stored.values(), [], rows.episodes(incident))
                entry = worklist_entry(registry, judged, rows.scope.force)
            except InvalidTimeline as exc:
                raise InvalidTimeline(
                    "this profile would make the incident's stored timeline invalid", exc.errors
                ) from None
            rows.write_entry(incident_id, len(stored), entry)
            rows.check_alerts(incident_id, text_epoch(now))
        return False, version + 1


def append_events(
    store: IncidentStore, registry: PolicyRegistry, incident_id: str, raw: bytes, now: str
) -> bytes:
    """Append events; an id already stored with the same content is acknowledged again, with
    other content refused (409). The combined timeline must stay valid; the incident's worklist
    entry is judged from it in the same transaction."""
    batch = read_request(EventBatch, raw)
    with store.writing() as rows:
        incident = known(rows.incident(incident_id, lock=True), incident_id)
        stored = rows.events(incident_id)
        merged = merge(incident_id, stored, batch.events)
        _room_for(incident_id, len(stored), merged.added)
        if merged.added:
            profile = rows.profile(incident_id, incident.profile_version)
            try:
                judged = stored_timeline(
                    incident_id, profile, stored.values(), merged.added, rows.episodes(incident)
                )
                entry = worklist_entry(registry, judged, rows.scope.force)
            except InvalidTimeline as exc:
                request = _RequestIndices(list(stored), merged.positions)
                raise InvalidTimeline(
                    "these events would make the incident's timeline invalid",
                    [request.named(e) for e in exc.errors],
                ) from None
            rows.add_events(incident_id, merged.added, now)
            rows.write_entry(incident_id, len(stored) + len(merged.added), entry)
            # The alert dispatcher judges it at the wall clock's now, in its own transaction.
            rows.check_alerts(incident_id, text_epoch(now))
            incident = rows.incident(incident_id)
    item = _worklist_item(dict(incident._mapping), text_epoch(now))
    return _dump(
        {
            "incident_id": incident_id,
            "added": [e["id"] for e in merged.added],
            "repeated": merged.repeated,
            "event_count": len(stored) + len(merged.added),
            **{k: v for k, v in item.items() if k not in ("incident_id", "events")},
        }
    )


def _room_for(incident_id: str, stored: int, added: list[dict[str, Any]]) -> None:
    ordinary = sum(e["type"] not in CLOSING_TYPES for e in added)
    limit = MAX_EVENTS - CLOSING_ROOM
    if ordinary and stored + ordinary > limit:
        raise IncidentFull(
            f"incident {incident_id} holds {stored} events; a stored incident keeps at most {limit} "
            f"besides the last {CLOSING_ROOM}, which are kept for found and closed events",
            [FieldError("events", "only found and closed events (and their corrections) fit now")],
        )
    if stored + len(added) > MAX_EVENTS:
        raise IncidentFull(
            f"incident {incident_id} holds {stored} events, and a stored incident at most {MAX_EVENTS}",
            [FieldError("events", f"{len(added)} more would make {stored + len(added)}")],
        )


@dataclass(frozen=True)
class Merged:
    added: list[dict[str, Any]]  # new events, in their stored form
    positions: list[int]  # the request's index of each added event
    repeated: list[str]  # ids already stored (or earlier in the batch) with the same content


def merge(incident_id: str, stored: dict[str, str], batch: list[Event]) -> Merged:
    """A batch against the stored events (id -> stored JSON): new ids are added, an id stored with
    the same content is acknowledged again, other content under a known id is a conflict."""
    added: list[dict[str, Any]] = []
    positions: list[int] = []
    repeated: list[str] = []
    conflicts: list[FieldError] = []
    in_batch: dict[str, Event] = {}
    for index, event in enumerate(batch):
        if event.id in stored:
            same = EVENT.validate_json(stored[event.id]) == event
        elif event.id in in_batch:
            same = in_batch[event.id] == event
        else:
            in_batch[event.id] = event
            added.append(_stored_form(event))
            positions.append(index)
            continue
        if same:
            repeated.append(event.id)
        else:
            conflicts.append(
                FieldError(
                    f"events[{index}]",
                    f"event {event.id!r} is already stored with different content; an event is never "
                    "edited: send a new event with 'corrects' naming it",
                )
            )
    if conflicts:
        raise IncidentConflict(
            f"incident {incident_id} already holds other events under these ids", conflicts
        )
    return Merged(added, positions, repeated)


def worklist_entry(registry: PolicyRegistry, stored: Stored, force: str | None) -> WorklistEntry:
    """The worklist's view of an incident of ``force``, from its evaluation at its last event."""
    timeline = stored.timeline
    last = max(e.at for e in timeline.events)
    ask = EvaluationAsk(as_of=last, force=force)
    return entry_of(timeline, evaluation(registry, timeline, ask, stored.ordered))


@dataclass(frozen=True)
class _RequestIndices:
    """The combined timeline's events[k] named as the caller knows them: an event of the request
    by its index in the request's own array, a stored event by its id."""

    stored: list[str]  # the stored events' ids, in stored order
    positions: list[int]  # the request's index of each new event

    def named(self, error: FieldError) -> FieldError:
        field = EVENT_INDEX.sub(self._name, error.field)
        return FieldError(field, EVENT_INDEX.sub(self._name, error.message), error.parameter)

    def _name(self, found: re.Match[str]) -> str:
        k = int(found.group(1))
        if k < len(self.stored):
            return f"stored event {self.stored[k]!r}"
        return f"events[{self.positions[k - len(self.stored)]}]"


def entry_of(timeline: Timeline, result: Evaluation) -> WorklistEntry:
    types = {e.type for e in timeline.events}
    recorded = "compact" if "compact_record_created" in types else None
    if recorded is None and "child_risk_assessment_form" in types:
        recorded = "child_risk_assessment_form"
    closed = "closed" in types
    waiting = [] if closed else [d for d in result.deadlines if d.status in OPEN_STATUSES]
    nxt = min(waiting, key=lambda d: (text_epoch(d.due_at), d.id, d.occurrence), default=None)
    return WorklistEntry(
        status="closed" if closed else "open",
        report_at=to_epoch(timeline.report().at),
        recorded_on=recorded,
        current_grade=result.grade.current,
        required_role=result.oversight.required_role,
        next_deadline=nxt.id if nxt else None,
        next_occurrence=nxt.occurrence if nxt else None,
        next_owner=nxt.owner if nxt else None,
        next_due_at=text_epoch(nxt.due_at) if nxt else None,
        next_due_text=nxt.due_at if nxt else None,
        next_change_at=text_epoch(result.next_change_at) if result.next_change_at else None,
        next_change_text=result.next_change_at,
    )


def stored_evaluation(
    store: IncidentStore,
    registry: PolicyRegistry,
    incident_id: str,
    as_of: datetime | None,
    key_name: str,
    now: str,
) -> bytes:
    """Evaluate the stored timeline and record the decision served (append-only)."""
    with store.reading() as rows:
        incident = known(rows.incident(incident_id), incident_id)
        profile = rows.profile(incident_id, incident.profile_version)
        stored = rows.events(incident_id)
        episodes = rows.episodes(incident)
    if not stored:
        raise InvalidRequest(
            f"incident {incident_id} has no events yet: append its report_received first",
            [FieldError("incident_id", f"{incident_id!r} has no stored events to evaluate")],
        )
    ask = EvaluationAsk(as_of=as_of, force=store.scope.force)
    judged = stored_timeline(incident_id, profile, stored.values(), [], episodes)
    result = evaluation(registry, judged.timeline, ask, judged.ordered)
    counted = judged.counted
    answer = result.to_json(indent=None).encode()
    with store.writing() as rows:
        rows.add_decision(
            {
                "incident_id": incident_id,
                "asked_at": now,
                "key_name": key_name,
                "policy_id": result.policy.id,
                "policy_sha256": result.policy.sha256,
                "engine_version": __version__,
                "as_of": result.as_of,
                "event_ids": json.dumps(list(stored)),
                "profile_version": int(incident.profile_version),
                "previous_episodes": json.dumps(counted, sort_keys=True),
                "result_sha256": answer_hash(answer),
            }
        )
    return answer


def size(store: IncidentStore, incident_id: str) -> int:
    """The number of events stored for the incident (0 for none, or no such incident)."""
    with store.reading() as rows:
        incident = rows.incident(incident_id)
    return 0 if incident is None else int(incident.event_count)


def open_count(store: IncidentStore) -> int:
    with store.reading() as rows:
        return rows.open_count()


def answer_hash(answer: bytes) -> str:
    """The hash recorded with a decision, and compared by ``verify``."""
    return hashlib.sha256(answer).hexdigest()


def worklist(store: IncidentStore, status: str, page: int, per_page: int, now: int) -> bytes:
    """A page of the worklist; a next duty is overdue when it was due at or before ``now``."""
    with store.reading() as rows:
        found, total = rows.worklist(status, page, per_page)
    items = [_worklist_item(r, now) for r in found]
    return _dump({"status": status, "page": page, "per_page": per_page, "total": total, "incidents": items})


def _worklist_item(r: dict[str, Any], now: int) -> dict[str, Any]:
    """An incident's row as the worklist (and an append's answer) shows it; its next duty is
    overdue when it was due at or before ``now``."""
    return {
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
        "next_change_at": r["next_change_text"],
    }


def stored_incident(store: IncidentStore, incident_id: str) -> bytes:
    """The incident as stored: its current profile, every event in the order stored (corrections
    included) and its next change by the clock, so a control-room system can resynchronise."""
    with store.reading() as rows:
        incident = known(rows.incident(incident_id), incident_id)
        profile = rows.profile(incident_id, incident.profile_version)
        events = [json.loads(text) for text in rows.events(incident_id).values()]
    body = {
        "incident_id": incident_id,
        "status": incident.status,
        "profile_version": int(incident.profile_version),
        "child": profile.child,
        "policy": profile.policy,
        "events": events,
        "next_change_at": incident.next_change_text,
    }
    return _dump(body)


def decisions(store: IncidentStore, incident_id: str, page: int, per_page: int) -> bytes:
    with store.reading() as rows:
        known(rows.incident(incident_id), incident_id)
        found, total = rows.decisions(incident_id, page, per_page)
    first = (page - 1) * per_page + 1
    items = [
        {
            "decision": number,
            "asked_at": r["asked_at"],
            "key_name": r["key_name"],
            "policy": {"id": r["policy_id"], "sha256": r["policy_sha256"]},
            "engine_version": r["engine_version"],
            "as_of": r["as_of"],
            "event_ids": json.loads(r["event_ids"]),
            "profile_version": r["profile_version"],
            "result_sha256": r["result_sha256"],
        }
        for number, r in enumerate(found, start=first)
    ]
    body = {
        "incident_id": incident_id,
        "page": page,
        "per_page": per_page,
        "total": total,
        "decisions": items,
    }
    return _dump(body)


def verify(store: IncidentStore, registry: PolicyRegistry, incident_id: str) -> list[tuple[int, bool, str]]:
    """Re-evaluate every decision recorded for the incident on the timeline it saw (its profile
    version, the events it saw and the stored episodes it counted), under the policy and at the
    instant it names, and compare the answer's hash with the one recorded. Returns (decision,
    same, what differs)."""
    out = []
    page, total = 1, 1
    while (page - 1) * 200 < total:
        with store.reading() as rows:
            known(rows.incident(incident_id), incident_id)
            records, total = rows.decisions(incident_id, page, 200)
            first = (page - 1) * 200 + 1
            out += [_verify_one(rows, registry, n, record) for n, record in enumerate(records, start=first)]
        page += 1
    return out


def reproduced(rows: Rows, registry: PolicyRegistry, record: dict[str, Any]) -> bytes:
    """The answer a recorded decision's inputs give now: the timeline it saw (its profile version,
    the events it saw and the stored episodes it counted), under the policy and at the instant it
    names."""
    incident_id = record["incident_id"]
    wanted = json.loads(record["event_ids"])
    stored = rows.events(incident_id, wanted)
    profile = rows.profile(incident_id, record["profile_version"])
    events = [json.loads(stored[i]) for i in wanted]
    body, _ = assemble(incident_id, profile, events, json.loads(record["previous_episodes"]))
    ask = EvaluationAsk(
        policy=record["policy_id"], as_of=datetime.fromisoformat(record["as_of"]), force=record["force"]
    )
    return evaluation(registry, json.dumps(body).encode(), ask).to_json(indent=None).encode()


def _verify_one(
    rows: Rows, registry: PolicyRegistry, seq: int, record: dict[str, Any]
) -> tuple[int, bool, str]:
    try:
        policy = registry.get(record["policy_id"])
    except EngineError as exc:
        return seq, False, exc.message
    if answer_hash(reproduced(rows, registry, record)) == record["result_sha256"]:
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


def record_reads(store: IncidentStore, incident_ids: list[str], what: str, reader: str, now: str) -> None:
    """The inspectorate's reads, each written to the audit trail of the incident it read (before
    the answer is served: a read that cannot be audited is not served)."""
    if not incident_ids:
        return
    with store.writing() as rows:
        rows.db.execute(
            audit.insert(),
            [
                {
                    "incident_id": incident_id,
                    "at": now,
                    "key_name": reader,
                    "action": "inspectorate_read",
                    "alert_id": None,
                    "note": what,
                }
                for incident_id in incident_ids
            ],
        )


def known(incident: Any, incident_id: str) -> Any:
    if incident is None:
        raise UnknownIncident(
            f"no incident {incident_id!r} is stored; create it with PUT /v1/incidents/{{incident_id}} first",
            [FieldError("incident_id", f"{incident_id!r} is not a stored incident")],
        )
    return incident


BODY_INVALID = "the request body does not follow contract v1"


def read_request(model: type[BaseModel], raw: bytes) -> Any:
    """The request body, parsed into its model; an invalid one names each bad field, and a key
    given twice in one object is refused (a parser would keep one of its values silently)."""
    repeated = duplicate_keys(raw)
    try:
        value = model.model_validate_json(raw)
    except ValidationError as exc:
        data = loads_or_none(raw)
        errors = [field_error(err, data, model) for err in exc.errors(include_url=False)]
        raise InvalidRequest(BODY_INVALID, repeated + errors) from None
    if repeated:
        raise InvalidRequest(BODY_INVALID, repeated)
    return value


def _stored_form(value: BaseModel) -> dict[str, Any]:
    """A checked contract value as it is stored: the fields the caller gave, as JSON data."""
    return value.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
