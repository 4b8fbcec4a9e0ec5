"""The alert service: raising alerts for open incidents, escalating them, acknowledging them, the
receivers registered for them and each delivery's attempts. It owns each transaction, in the
incident store's database; ``now`` (wall-clock seconds) is always given, so tests set the clock.

Several servers on one PostgreSQL database may run this at once: an incident is judged by one of
them at a time (its row is claimed with ``FOR UPDATE SKIP LOCKED``), an alert's id is unique in
the table, and a delivery is claimed by one server for a lease; the alerts are inserted under
one transaction-scoped advisory lock, so they commit in the order of their sequence numbers and
a stream reading "every alert after n" never skips one committed late. On SQLite every write
transaction holds the database's write lock, with the same effect for one server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from misper.api.alerts.raising import Draft, delivery_body, drafts, escalation
from misper.api.incidents.schema import alerts, attempts, audit, deliveries, incidents, subscriptions
from misper.api.incidents.service import known
from misper.api.incidents.store import IncidentStore, Rows, Scope
from misper.api.incidents.timelines import stored_timeline
from misper.engine.errors import EngineError, FieldError
from misper.engine.localtime import to_epoch
from misper.engine.policy.registry import PolicyRegistry
from misper.engine.usecases import EvaluationAsk, evaluation

log = logging.getLogger("misper.alerts")
ALERT_LOCK = 0x6D69737065720002  # "misper" and 2: alerts are inserted under it, in sequence order
BATCH = 200  # incidents judged, alerts escalated or deliveries claimed per pass
RETRY_FIRST = 5.0  # seconds before the first retry (at most; jitter takes up to half off)
RETRY_CAP = 60.0  # the longest wait between two attempts
LEASE = 20.0  # a claimed delivery is another server's to make if this one has not recorded it by then
BROKEN_RETRY = 300  # an incident that cannot be judged (its policy gone) is tried again after this


class UnknownAlert(EngineError):
    code = "unknown_alert"


class UnknownSubscription(EngineError):
    code = "unknown_subscription"


def text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")


# -- raising -------------------------------------------------------------------------------------


def raise_due(store: IncidentStore, registry: PolicyRegistry, now: float) -> int:
    """Judge the incidents whose alerts are due, then escalate what waited too long; the number
    of alerts raised."""
    return check_incidents(store, registry, now) + escalate(store, registry, now)


def check_incidents(store: IncidentStore, registry: PolicyRegistry, now: float) -> int:
    """Judge at ``now`` every open incident (of the store's scope: the dispatcher's is every
    force) whose alert check is due; the number of alerts raised. Each is judged in a transaction
    of its own force's scope."""
    with store.reading() as rows:
        due = rows.db.execute(
            sa.select(incidents.c.force, incidents.c.incident_id)
            .where(incidents.c.status == "open", incidents.c.alert_check_at <= now)
            .order_by(incidents.c.alert_check_at)
            .limit(BATCH)
        ).all()
    return sum(
        check_incident(IncidentStore(store.url, Scope(force)), registry, incident_id, now)
        for force, incident_id in due
    )


def check_incident(store: IncidentStore, registry: PolicyRegistry, incident_id: str, now: float) -> int:
    """Judge one incident of the store's force at ``now`` (or at its last event, when that is
    later) and store the alerts it raises; its next check is when that evaluation next changes by
    the clock."""
    with store.writing() as rows:
        row = rows.db.execute(
            sa.select(incidents)
            .where(
                incidents.c.incident_id == incident_id,
                incidents.c.status == "open",
                incidents.c.alert_check_at <= now,
            )
            # FOR NO KEY UPDATE: the alerts another dispatcher inserts for this incident (an
            # escalation) take a key-share lock on its row for their foreign key, which FOR UPDATE
            # would block while this one waits for the alert lock that dispatcher holds.
            .with_for_update(skip_locked=True, key_share=True)
        ).first()
        if row is None:
            return 0  # another server has it, or it was judged meanwhile
        stored = rows.events(incident_id)
        if not stored:
            _next_check(rows, incident_id, None)
            return 0
        profile = rows.profile(incident_id, row.profile_version)
        try:
            judged = stored_timeline(incident_id, profile, stored.values(), [], rows.episodes(row))
            timeline = judged.timeline
            moment = max(datetime.fromtimestamp(int(now), UTC), max(e.at for e in timeline.events))
            result = evaluation(
                registry, timeline, EvaluationAsk(as_of=moment, force=row.force), judged.ordered
            )
            policy = registry.get(result.policy.id)
        except EngineError as exc:
            log.warning("incident could not be judged for alerts (%s); tried again later", exc.code)
            _next_check(rows, incident_id, int(now) + BROKEN_RETRY)
            return 0
        if result.mode == "complete":
            _next_check(rows, incident_id, None)
            return 0
        raised = insert(rows, policy_steps(registry), drafts(row.force, policy, result), now)
        following = to_epoch(datetime.fromisoformat(result.next_change_at)) if result.next_change_at else None
        _next_check(rows, incident_id, following)
        return raised


def _next_check(rows: Rows, incident_id: str, at: int | None) -> None:
    rows.db.execute(
        incidents.update().where(incidents.c.incident_id == incident_id).values(alert_check_at=at)
    )


def policy_steps(registry: PolicyRegistry) -> Any:
    """A role's escalation step under a policy id: (next role, seconds) or None."""

    def step(policy_id: str, role: str | None) -> tuple[str, int] | None:
        return registry.get(policy_id).escalation(role) if role else None

    return step


def insert(rows: Rows, step: Any, found: Iterable[Draft], now: float) -> int:
    """Store each alert not stored yet, with a delivery to each receiver whose filters take it;
    the number stored. An alert on a duty gone due (or an escalation) waits for escalation from
    when it was raised, or from its due instant if that is later."""
    found = list(found)
    if not found:
        return 0
    if rows.db.dialect.name == "postgresql":
        rows.db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALERT_LOCK})
    known = set(
        rows.db.execute(
            sa.select(alerts.c.force, alerts.c.alert_id).where(
                sa.tuple_(alerts.c.force, alerts.c.alert_id).in_([(d.force, d.alert_id) for d in found])
            )
        ).all()
    )
    receivers = [r for r in rows.db.execute(sa.select(subscriptions).where(subscriptions.c.active))]
    stored = 0
    for draft in found:
        if (draft.force, draft.alert_id) in known:
            continue
        known.add((draft.force, draft.alert_id))
        escalate_at = None
        if draft.kind in ("due", "escalated"):
            up = step(draft.policy_id, draft.owner)
            if up is not None:
                start = max(int(now), to_epoch(datetime.fromisoformat(draft.due_at)))
                escalate_at = start + up[1] if draft.kind == "due" else int(now) + up[1]
        values = {
            **draft.__dict__,
            "raised_at": text(now),
            "raised_epoch": int(now),
            "status": "open",
            "escalate_at": escalate_at,
        }
        if _insert_new(rows.db, alerts, values, "force", "alert_id"):
            stored += 1
            for receiver in receivers:
                if receiver.force == draft.force and _takes(receiver, draft):
                    _insert_new(
                        rows.db,
                        deliveries,
                        {
                            "force": draft.force,
                            "alert_id": draft.alert_id,
                            "subscription_id": receiver.subscription_id,
                            "webhook_id": webhook_id(draft.alert_id, receiver.subscription_id),
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": text(now),
                        },
                        "alert_id",
                        "subscription_id",
                    )
    return stored


def webhook_id(alert_id: str, subscription_id: str) -> str:
    """The ``webhook-id`` of every attempt of one alert to one receiver."""
    return "msg_" + hashlib.sha256(f"{alert_id}\n{subscription_id}".encode()).hexdigest()[:32]


def _insert_new(db: sa.Connection, table: sa.Table, values: dict[str, Any], *keys: str) -> bool:
    """Insert unless a row with these unique keys is there already; whether it was inserted."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    return bool(db.execute(statement).rowcount)


def _takes(receiver: Any, draft: Draft) -> bool:
    roles, severities, kinds = (
        json.loads(receiver.roles),
        json.loads(receiver.severities),
        json.loads(receiver.kinds),
    )
    return (
        (not roles or draft.owner in roles)
        and (not severities or draft.severity in severities)
        and (not kinds or draft.kind in kinds)
    )


def escalate(store: IncidentStore, registry: PolicyRegistry, now: float) -> int:
    """Escalate each open alert whose time to be acknowledged has run out: a new alert to the next
    role up, citing it. The number escalated."""
    raised = 0
    with store.writing() as rows:
        # A closed incident raises no more alerts, escalations included.
        open_incidents = sa.select(incidents.c.force, incidents.c.incident_id).where(
            incidents.c.status == "open"
        )
        due = rows.db.execute(
            sa.select(alerts)
            .where(
                alerts.c.status == "open",
                alerts.c.escalate_at <= now,
                sa.tuple_(alerts.c.force, alerts.c.incident_id).in_(open_incidents),
            )
            .order_by(alerts.c.escalate_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True, key_share=True)
        ).all()
        found = []
        for row in due:
            try:
                draft = escalation(registry.get(row.policy_id), row, int(now) - row.raised_epoch)
            except EngineError:
                draft = None  # its policy is no longer loaded: it stays with its owner
            if draft is not None:
                found.append(draft)
        rows.db.execute(
            alerts.update().where(alerts.c.seq.in_([r.seq for r in due])).values(escalate_at=None)
        )
        raised = insert(rows, policy_steps(registry), found, now)
    return raised


def wake_at(store: IncidentStore) -> float | None:
    """The earliest instant at which there is alert work: an incident to judge, an alert to
    escalate or a delivery attempt to make."""
    with store.reading() as rows:
        found = [
            rows.db.execute(
                sa.select(sa.func.min(incidents.c.alert_check_at)).where(incidents.c.status == "open")
            ).scalar(),
            rows.db.execute(
                sa.select(sa.func.min(alerts.c.escalate_at))
                .join(
                    incidents,
                    (incidents.c.force == alerts.c.force) & (incidents.c.incident_id == alerts.c.incident_id),
                )
                .where(alerts.c.status == "open", incidents.c.status == "open")
            ).scalar(),
            rows.db.execute(
                sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending")
            ).scalar(),
        ]
    instants = [float(t) for t in found if t is not None]
    return min(instants) if instants else None


# -- reading and acknowledging -------------------------------------------------------------------


ALERT_FIELDS = (
    "alert_id",
    "seq",
    "incident_id",
    "kind",
    "deadline",
    "occurrence",
    "code",
    "clause",
    "owner",
    "due_at",
    "severity",
    "message",
    "escalates",
    "raised_at",
    "status",
    "acknowledged_at",
    "acknowledged_by",
    "note",
)


def alert_json(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ALERT_FIELDS}


def list_alerts(store: IncidentStore, status: str, page: int, per_page: int) -> bytes:
    """Alerts by status, the latest first."""
    where = [] if status == "all" else [alerts.c.status == status]
    with store.reading() as rows:
        total = rows.db.execute(sa.select(sa.func.count()).select_from(alerts).where(*where)).scalar_one()
        found = rows.db.execute(
            sa.select(alerts)
            .where(*where)
            .order_by(alerts.c.seq.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    body = {
        "status": status,
        "page": page,
        "per_page": per_page,
        "total": int(total),
        "alerts": [alert_json(r) for r in found],
    }
    return _dump(body)


def acknowledge(store: IncidentStore, alert_id: str, key_name: str, note: str | None, now: float) -> bytes:
    """Acknowledge an alert (it stops escalating and leaves the open list) and write it into its
    incident's audit trail with the key and the time. Acknowledging one already acknowledged
    answers it as it is, with nothing written twice."""
    with store.writing() as rows:
        row = rows.db.execute(
            sa.select(alerts).where(alerts.c.alert_id == alert_id).with_for_update()
        ).first()
        if row is None:
            raise UnknownAlert(
                f"no alert {alert_id!r} is stored",
                [FieldError("alert_id", f"{alert_id!r} is not an alert's id")],
            )
        if row.status == "open":
            rows.db.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id)
                .values(
                    status="acknowledged",
                    escalate_at=None,
                    acknowledged_at=text(now),
                    acknowledged_by=key_name,
                    note=note,
                )
            )
            rows.db.execute(
                audit.insert().values(
                    incident_id=row.incident_id,
                    at=text(now),
                    key_name=key_name,
                    action="alert_acknowledged",
                    alert_id=alert_id,
                    note=note,
                )
            )
            row = rows.db.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)).one()
    return _dump(alert_json(row))


def audit_trail(store: IncidentStore, incident_id: str, page: int, per_page: int) -> bytes:
    with store.reading() as rows:
        known(rows.incident(incident_id), incident_id)
        where = audit.c.incident_id == incident_id
        total = rows.db.execute(sa.select(sa.func.count()).select_from(audit).where(where)).scalar_one()
        found = rows.db.execute(
            sa.select(audit).where(where).order_by(audit.c.seq).limit(per_page).offset((page - 1) * per_page)
        ).all()
    entries = [
        {"at": r.at, "key_name": r.key_name, "action": r.action, "alert_id": r.alert_id, "note": r.note}
        for r in found
    ]
    return _dump(
        {
            "incident_id": incident_id,
            "page": page,
            "per_page": per_page,
            "total": int(total),
            "entries": entries,
        }
    )


def alerts_after(store: IncidentStore, after: int, limit: int = 500) -> list[tuple[int, bytes]]:
    """Alerts with a sequence number above ``after``, in order, as (seq, delivery body): the
    stream's events, and what a screen that reconnects missed."""
    with store.reading() as rows:
        found = rows.db.execute(
            sa.select(alerts).where(alerts.c.seq > after).order_by(alerts.c.seq).limit(limit)
        ).all()
    return [(int(r.seq), delivery_body(r)) for r in found]


def open_count(store: IncidentStore) -> int:
    with store.reading() as rows:
        query = sa.select(sa.func.count()).select_from(alerts).where(alerts.c.status == "open")
        return int(rows.db.execute(query).scalar_one())


def last_seq(store: IncidentStore) -> int:
    with store.reading() as rows:
        return int(rows.db.execute(sa.select(sa.func.coalesce(sa.func.max(alerts.c.seq), 0))).scalar_one())


# -- receivers -----------------------------------------------------------------------------------


def subscribe(store: IncidentStore, asked: Any, key_name: str, now: float) -> bytes:
    """Register a receiver; the answer carries its signing secret, shown this once."""
    subscription_id = "sub_" + secrets.token_hex(12)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    values = {
        "subscription_id": subscription_id,
        "url": str(asked.url),
        "secret": secret,
        "roles": json.dumps(sorted(asked.roles)),
        "severities": json.dumps(sorted(asked.severities)),
        "kinds": json.dumps(sorted(asked.kinds)),
        "created_at": text(now),
        "created_by": key_name,
        "active": True,
    }
    with store.writing() as rows:
        rows.db.execute(subscriptions.insert().values(**values))
    return _dump({**_subscription_json(values), "secret": secret})


def _subscription_json(r: dict[str, Any]) -> dict[str, Any]:
    """A subscription's row (as a mapping) as the API shows it, without its secret."""
    return {
        "id": r["subscription_id"],
        "url": r["url"],
        "roles": json.loads(r["roles"]),
        "severities": json.loads(r["severities"]),
        "kinds": json.loads(r["kinds"]),
        "created_at": r["created_at"],
        "created_by": r["created_by"],
        "active": bool(r["active"]),
    }


def _subscription(rows: Rows, subscription_id: str) -> dict[str, Any]:
    """The subscription's row; an id no subscription has is refused, naming it."""
    row = rows.db.execute(
        sa.select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    ).first()
    if row is None:
        raise UnknownSubscription(
            f"no subscription {subscription_id!r} is registered",
            [FieldError("subscription_id", f"{subscription_id!r} is not a subscription's id")],
        )
    return dict(row._mapping)


def list_subscriptions(store: IncidentStore) -> bytes:
    with store.reading() as rows:
        found = rows.db.execute(sa.select(subscriptions).order_by(subscriptions.c.created_at)).all()
    return _dump({"subscriptions": [_subscription_json(dict(r._mapping)) for r in found]})


def unsubscribe(store: IncidentStore, subscription_id: str) -> bytes:
    """Stop delivering to a receiver (its record and deliveries are kept for the audit)."""
    with store.writing() as rows:
        _subscription(rows, subscription_id)
        rows.db.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == subscription_id)
            .values(active=False)
        )
        rows.db.execute(
            deliveries.update()
            .where(deliveries.c.subscription_id == subscription_id, deliveries.c.status == "pending")
            .values(status="cancelled", next_attempt_at=None)
        )
        row = _subscription(rows, subscription_id)
    return _dump(_subscription_json(row))


def delivery_log(store: IncidentStore, subscription_id: str, page: int, per_page: int) -> bytes:
    """Each delivery to a receiver, the latest first, with every attempt (time, status, latency,
    error)."""
    with store.reading() as rows:
        _subscription(rows, subscription_id)
        where = deliveries.c.subscription_id == subscription_id
        total = rows.db.execute(sa.select(sa.func.count()).select_from(deliveries).where(where)).scalar_one()
        found = rows.db.execute(
            sa.select(deliveries)
            .where(where)
            .order_by(deliveries.c.delivery_id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        tried: dict[int, list[dict[str, Any]]] = {}
        if found:
            for a in rows.db.execute(
                sa.select(attempts)
                .where(attempts.c.delivery_id.in_([d.delivery_id for d in found]))
                .order_by(attempts.c.seq)
            ):
                tried.setdefault(int(a.delivery_id), []).append(
                    {
                        "attempt": a.attempt,
                        "at": a.at,
                        "status_code": a.status_code,
                        "latency_ms": a.latency_ms,
                        "error": a.error,
                    }
                )
    items = [
        {
            "alert_id": d.alert_id,
            "webhook_id": d.webhook_id,
            "status": d.status,
            "attempts": tried.get(int(d.delivery_id), []),
        }
        for d in found
    ]
    return _dump(
        {
            "subscription_id": subscription_id,
            "page": page,
            "per_page": per_page,
            "total": int(total),
            "deliveries": items,
        }
    )


# -- delivering ----------------------------------------------------------------------------------


def claim_deliveries(store: IncidentStore, now: float, limit: int = BATCH) -> list[dict[str, Any]]:
    """Claim the delivery attempts due by ``now`` for one lease: each is this server's to make
    (another server skips it) until the lease lapses. Each comes with what sending it needs."""
    with store.writing() as rows:
        due = rows.db.execute(
            sa.select(deliveries.c.delivery_id)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
        ids = list(due)
        if not ids:
            return []
        rows.db.execute(
            deliveries.update()
            .where(deliveries.c.delivery_id.in_(ids))
            .values(
                attempts=deliveries.c.attempts + 1,
                next_attempt_at=now + LEASE,
                first_attempt_at=sa.func.coalesce(deliveries.c.first_attempt_at, now),
            )
        )
        found = rows.db.execute(
            sa.select(deliveries, subscriptions.c.url, subscriptions.c.secret, alerts)
            .join(subscriptions, subscriptions.c.subscription_id == deliveries.c.subscription_id)
            .join(
                alerts, (alerts.c.force == deliveries.c.force) & (alerts.c.alert_id == deliveries.c.alert_id)
            )
            .where(deliveries.c.delivery_id.in_(ids))
        ).all()
    return [
        {
            "force": r.force,
            "delivery_id": int(r.delivery_id),
            "attempt": int(r.attempts),
            "webhook_id": r.webhook_id,
            "url": r.url,
            "secret": r.secret,
            "body": delivery_body(r),
            "first_attempt_at": float(r.first_attempt_at),
        }
        for r in found
    ]


def record_attempt(
    store: IncidentStore,
    outcome: dict[str, Any],
    now: float,
    retry_seconds: float,
    rng: random.Random | None = None,
) -> str:
    """Record one attempt (time, status code, latency, error) and what follows: delivered on a 2xx
    answer; else another attempt after an exponential wait with jitter (5 s, 10 s, 20 s ... at
    most 60 s, each less up to half at random), or failed once ``retry_seconds`` have passed since
    the first attempt. The delivery's status after it."""
    attempt = int(outcome["attempt"])
    with store.writing() as rows:
        rows.db.execute(
            attempts.insert().values(
                force=outcome["force"],
                delivery_id=outcome["delivery_id"],
                attempt=attempt,
                at=text(outcome["at"]),
                status_code=outcome["status_code"],
                latency_ms=int(outcome["latency_ms"]),
                error=outcome["error"],
            )
        )
        row = rows.db.execute(
            sa.select(deliveries).where(deliveries.c.delivery_id == outcome["delivery_id"]).with_for_update()
        ).one()
        if row.status != "pending":
            return str(row.status)
        if outcome["ok"]:
            status, following = "delivered", None
        elif row.attempts != attempt:
            return "pending"  # this claim lapsed and another attempt was begun: that one decides
        elif now - float(row.first_attempt_at) >= retry_seconds:
            status, following = "failed", None
        else:
            status, following = "pending", now + retry_delay(attempt, rng or random.Random())
        rows.db.execute(
            deliveries.update()
            .where(deliveries.c.delivery_id == outcome["delivery_id"])
            .values(status=status, next_attempt_at=following)
        )
    return status


def retry_delay(attempt: int, rng: random.Random) -> float:
    """The wait after a failed attempt ``attempt`` (from 1): exponential, capped, with jitter."""
    return float(min(RETRY_FIRST * 2 ** (attempt - 1), RETRY_CAP) * rng.uniform(0.5, 1.0))


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
