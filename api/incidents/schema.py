"""The incident store's tables (SQLAlchemy Core). The schema itself is made and changed only by
the migrations in api/incidents/migrations; these definitions are what the code reads and writes.

Events and decisions are append-only: no code path updates or deletes a row of either."""

from __future__ import annotations

import sqlalchemy as sa

# An integer key that autoincrements on both databases (SQLite only does so for INTEGER).
Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("child_id", sa.String(200), nullable=False, index=True),
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
    sa.Index("worklist", "status", "next_due_at"),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("child", sa.Text, nullable=False),  # contract v1's child object, as JSON
    sa.Column("policy", sa.String(200), nullable=True),
    sa.Column("put_at", sa.String(40), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the event as contract v1 JSON
    sa.Column("received_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("incident_id", "event_id", name="one_event_per_id"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("seq", Serial, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False, index=True
    ),
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
)
