"""Incidents, their child profiles, their events and the decisions served from them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("child_id", sa.String(200), nullable=False),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
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
    )
    op.create_index("ix_incidents_child_id", "incidents", ["child_id"])
    op.create_index("worklist", "incidents", ["status", "next_due_at"])
    op.create_table(
        "profiles",
        sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("child", sa.Text, nullable=False),
        sa.Column("policy", sa.String(200), nullable=True),
        sa.Column("put_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("incident_id", "event_id", name="one_event_per_id"),
    )
    op.create_table(
        "decisions",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False),
        sa.Column("asked_at", sa.String(40), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(40), nullable=False),
        sa.Column("as_of", sa.String(40), nullable=False),
        sa.Column("event_ids", sa.Text, nullable=False),
        sa.Column("profile_version", sa.Integer, nullable=False),
        sa.Column("previous_episodes", sa.Text, nullable=False),
        sa.Column("result_sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_decisions_incident_id", "decisions", ["incident_id"])
