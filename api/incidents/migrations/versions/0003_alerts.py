"""Alerts: each transition of an open incident (a duty going due soon or due, a finding of severity
breach or action, an escalation) once, by its deterministic id; the receivers registered for them,
each delivery to a receiver and every attempt; the incident's audit trail of acknowledgements; and
each incident's next instant to look for alerts at."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("alert_check_at", sa.BigInteger, nullable=True))
    op.create_index("alert_checks", "incidents", ["status", "alert_check_at"])
    op.create_table(
        "alerts",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(40), nullable=False, unique=True),
        sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
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
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("escalate_at", sa.BigInteger, nullable=True),
        sa.Column("acknowledged_at", sa.String(40), nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("alerts_by_incident", "alerts", ["incident_id"])
    op.create_index("alerts_to_escalate", "alerts", ["status", "escalate_at"])
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(40), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("severities", sa.Text, nullable=False),
        sa.Column("kinds", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", Serial, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(40), sa.ForeignKey("alerts.alert_id"), nullable=False),
        sa.Column(
            "subscription_id", sa.String(40), sa.ForeignKey("subscriptions.subscription_id"), nullable=False
        ),
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
        sa.Column("first_attempt_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("alert_id", "subscription_id", name="one_delivery_per_receiver"),
    )
    op.create_index("deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "attempts",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_attempts_delivery_id", "attempts", ["delivery_id"])
    op.create_table(
        "audit",
        sa.Column("seq", Serial, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(200), sa.ForeignKey("incidents.incident_id"), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("alert_id", sa.String(40), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("audit_by_incident", "audit", ["incident_id"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("attempts")
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
    op.drop_table("alerts")
    op.drop_index("alert_checks", "incidents")
    with op.batch_alter_table("incidents") as table:
        table.drop_column("alert_check_at")
