"""The incident store's tables (SQLAlchemy Core). The schema itself is made and changed only by
the migrations in api/incidents/migrations; these definitions are what the code reads and writes.

Events and decisions are append-only: no code path updates or deletes a row of either.

Every table holds one force's rows, named in its ``force`` column (migration 0004): an incident id
is unique within its force, and every reference to an incident or an alert carries the force too.
Which force's rows a transaction sees is not left to each query: see ``store.Scope``."""

from __future__ import annotations

import sqlalchemy as sa

# An integer key that autoincrements on both databases (SQLite only does so for INTEGER).
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()
FORCE = 40  # the longest force id (forces.yaml: 2-40 characters)


def force_column() -> sa.Column[str]:
    return sa.Column("force", sa.String(FORCE), nullable=False)


def of_incident() -> sa.ForeignKeyConstraint:
    """A reference to the incident of the same force."""
    return sa.ForeignKeyConstraint(["force", "incident_id"], ["incidents.force", "incidents.incident_id"])


incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("force", sa.String(FORCE), primary_key=True),
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("child_id", sa.String(200), nullable=False),
    sa.Column("profile_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    # What the worklist shows, worked out from the stored timeline at its last event (event time,
    # never the wall clock): open until a closed event; the next duty not yet met.
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("report_at", sa.BigInteger, nullable=True),
    sa.Column("recorded_on", sa.String(40), nullable=True),
    sa.Column("current_grade", sa.String(20), nullable=True),
    sa.Column("required_role", sa.String(40), nullable=True),
    sa.Column("next_deadline", sa.String(100), nullable=True),
    sa.Column("next_occurrence", sa.Integer, nullable=True),
    sa.Column("next_owner", sa.String(40), nullable=True),
    sa.Column("next_due_at", sa.BigInteger, nullable=True),
    sa.Column("next_due_text", sa.String(40), nullable=True),
    # When the evaluation at the last event would next change by the clock alone (migration 0002).
    sa.Column("next_change_at", sa.BigInteger, nullable=True),
    sa.Column("next_change_text", sa.String(40), nullable=True),
    # Alerts (migration 0003): the next wall-clock instant to judge the incident at for alerts (now,
    # after an append; else when its evaluation next changes by the clock; null: never).
    sa.Column("alert_check_at", sa.BigInteger, nullable=True),
    sa.Index("children", "force", "child_id"),
    sa.Index("worklist", "force", "status", "next_due_at"),
    sa.Index("alert_checks", "status", "alert_check_at"),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("force", sa.String(FORCE), primary_key=True),
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("child", sa.Text, nullable=False),  # contract v1's child object, as JSON
    sa.Column("policy", sa.String(200), nullable=True),
    sa.Column("put_at", sa.String(40), nullable=False),
    of_incident(),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    force_column(),
    sa.Column("incident_id", sa.String(200), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the event as contract v1 JSON
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("force", "incident_id", "event_id", name="one_event_per_id"),
    of_incident(),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    force_column(),
    sa.Column("incident_id", sa.String(200), nullable=False),
    sa.Column("asked_at", sa.String(40), nullable=False),
    sa.Column("key_name", sa.String(200), nullable=False),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("policy_sha256", sa.String(64), nullable=False),
    sa.Column("engine_version", sa.String(40), nullable=False),
    sa.Column("as_of", sa.String(40), nullable=False),
    sa.Column("event_ids", sa.Text, nullable=False),  # JSON list, in stored order
    sa.Column("profile_version", sa.Integer, nullable=False),
    sa.Column("previous_episodes", sa.Text, nullable=False),  # JSON: the stored episodes counted
    sa.Column("result_sha256", sa.String(64), nullable=False),
    of_incident(),
    sa.Index("decisions_by_incident", "force", "incident_id"),
)

# Alerts (migration 0003). An alert is one transition of one incident, under an id worked out from
# the transition itself, unique here: however many servers see it, it is stored once.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),  # the stream's event id
    force_column(),
    sa.Column("alert_id", sa.String(40), nullable=False),
    sa.Column("incident_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # due_soon, due, finding, escalated
    sa.Column("deadline", sa.String(100), nullable=True),
    sa.Column("occurrence", sa.Integer, nullable=True),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("clause", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(40), nullable=True),
    sa.Column("due_at", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("escalates", sa.String(40), nullable=True),
    sa.Column("policy_id", sa.String(200), nullable=False),
    sa.Column("raised_at", sa.String(40), nullable=False),
    sa.Column("raised_epoch", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # open, acknowledged
    sa.Column("escalate_at", sa.BigInteger, nullable=True),  # null: never (acknowledged, or none above)
    sa.Column("acknowledged_at", sa.String(40), nullable=True),
    sa.Column("acknowledged_by", sa.String(200), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.UniqueConstraint("force", "alert_id", name="one_alert_per_id"),
    of_incident(),
    sa.Index("alerts_by_incident", "force", "incident_id"),
    sa.Index("alerts_to_escalate", "status", "escalate_at"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("subscription_id", sa.String(40), primary_key=True),
    force_column(),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),  # whsec_..., to sign each delivery
    sa.Column("roles", sa.Text, nullable=False),  # JSON lists; empty: every one
    sa.Column("severities", sa.Text, nullable=False),
    sa.Column("kinds", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("delivery_id", Serial, primary_key=True, autoincrement=True),
    force_column(),
    sa.Column("alert_id", sa.String(40), nullable=False),
    sa.Column(
        "subscription_id", sa.String(40), sa.ForeignKey("subscriptions.subscription_id"), nullable=False
    ),
    sa.Column("webhook_id", sa.String(40), nullable=False),  # the same for every attempt
    sa.Column("status", sa.String(20), nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    # When the next attempt is due (wall clock, seconds); while one is being made, when its claim
    # lapses, so another server makes it if this one died.
    sa.Column("next_attempt_at", sa.Float, nullable=True),
    sa.Column("first_attempt_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("alert_id", "subscription_id", name="one_delivery_per_receiver"),
    sa.ForeignKeyConstraint(["force", "alert_id"], ["alerts.force", "alerts.alert_id"]),
    sa.Index("deliveries_due", "status", "next_attempt_at"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    force_column(),
    sa.Column("delivery_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
)

# The incident's audit trail of what people did (an alert acknowledged, an inspectorate read), beside
# the decisions served.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    force_column(),
    sa.Column("incident_id", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("key_name", sa.String(200), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("alert_id", sa.String(40), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    of_incident(),
    sa.Index("audit_by_incident", "force", "incident_id"),
)

# Every table above holds one force's rows.
FORCE_TABLES = (incidents, profiles, events, decisions, alerts, subscriptions, deliveries, attempts, audit)
