"""Forces: every table holds one force's rows. Each gains a ``force`` column, given to the rows
already stored as the force named at upgrade time (``misper db upgrade --force ID``; a database that
holds rows and is upgraded without one stops, saying so); an incident id becomes unique within its
force, and every reference to an incident or an alert carries the force.

On PostgreSQL each such table gets a row-level security policy: a transaction sees and writes only
the rows of the force set in ``misper.force`` for it (``*``: every force, which only the alert
dispatcher and the inspectorate's reads set), so a query that forgot its filter still finds
nothing of another force's. FORCE ROW LEVEL SECURITY applies it to the tables' owner too; a role
with SUPERUSER or BYPASSRLS would skip it, and misper refuses to serve through one.

On SQLite the tables are rebuilt (foreign keys are off for the migration and checked after it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from misper.api.incidents.store import UpgradeNeedsForce

revision = "0004"
down_revision = "0003"

TABLES = (
    "incidents",
    "profiles",
    "events",
    "decisions",
    "alerts",
    "subscriptions",
    "deliveries",
    "attempts",
    "audit",
)
# The tables that refer to an incident, and the one that refers to an alert.
OF_INCIDENT = ("profiles", "events", "decisions", "alerts", "audit")
NAMES = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def _force_for_stored_rows(bind: sa.Connection) -> str:
    force = context.config.attributes.get("upgrade_force")
    held = {t: bind.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
    if any(held.values()) and not force:
        raise UpgradeNeedsForce(
            f"this database holds {held['incidents']} incidents and their records from before forces; "
            "name the force they belong to: misper db upgrade --force ID (or MISPER_UPGRADE_FORCE=ID)"
        )
    return str(force or "")


def _constraint_name(bind: sa.Connection, table: str, kind: str, columns: list[str]) -> str:
    """The name of the foreign key ("fk") or unique constraint ("uq") on ``columns``: PostgreSQL's
    own, or on SQLite (which names none) the one the batch rebuild gives it (NAMES)."""
    inspector = sa.inspect(bind)
    if kind == "fk":
        found = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == columns]
        referred = found[0]["referred_table"]
    else:
        found = [u for u in inspector.get_unique_constraints(table) if u["column_names"] == columns]
        referred = ""
    if bind.dialect.name == "postgresql":
        return str(found[0]["name"])
    return NAMES[kind] % {"table_name": table, "column_0_name": columns[0], "referred_table_name": referred}


def upgrade() -> None:
    bind = op.get_bind()
    force = _force_for_stored_rows(bind)
    postgres = bind.dialect.name == "postgresql"
    names: dict[str, Any] = {}
    for table in OF_INCIDENT:
        names[table] = _constraint_name(bind, table, "fk", ["incident_id"])
    names["deliveries"] = _constraint_name(bind, "deliveries", "fk", ["alert_id"])
    names["alerts_unique"] = _constraint_name(bind, "alerts", "uq", ["alert_id"])
    pk = {t: sa.inspect(bind).get_pk_constraint(t)["name"] or NAMES["pk"] % {"table_name": t} for t in TABLES}

    # Away with what names an incident or an alert by its id alone.
    for table in OF_INCIDENT:
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            batch.drop_constraint(names[table], type_="foreignkey")
    with op.batch_alter_table("deliveries", naming_convention=NAMES) as batch:
        batch.drop_constraint(names["deliveries"], type_="foreignkey")
    with op.batch_alter_table("alerts", naming_convention=NAMES) as batch:
        batch.drop_constraint(names["alerts_unique"], type_="unique")
    with op.batch_alter_table("events", naming_convention=NAMES) as batch:
        batch.drop_constraint("one_event_per_id", type_="unique")
    for index, table in (
        ("ix_incidents_child_id", "incidents"),
        ("worklist", "incidents"),
        ("ix_decisions_incident_id", "decisions"),
        ("alerts_by_incident", "alerts"),
        ("audit_by_incident", "audit"),
    ):
        op.drop_index(index, table_name=table)

    # Every table's force, the stored rows given the one named.
    for table in TABLES:
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            batch.add_column(sa.Column("force", sa.String(40), nullable=False, server_default=force))
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            batch.alter_column(
                "force", server_default=None, existing_type=sa.String(40), existing_nullable=False
            )

    # Keys within a force, and references that carry it.
    for table, columns in (
        ("incidents", ["force", "incident_id"]),
        ("profiles", ["force", "incident_id", "version"]),
    ):
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            batch.drop_constraint(pk[table], type_="primary")
            batch.create_primary_key(pk[table] if postgres else NAMES["pk"] % {"table_name": table}, columns)
    with op.batch_alter_table("events", naming_convention=NAMES) as batch:
        batch.create_unique_constraint("one_event_per_id", ["force", "incident_id", "event_id"])
    with op.batch_alter_table("alerts", naming_convention=NAMES) as batch:
        batch.create_unique_constraint("one_alert_per_id", ["force", "alert_id"])
    for table in OF_INCIDENT:
        with op.batch_alter_table(table, naming_convention=NAMES) as batch:
            batch.create_foreign_key(
                f"fk_{table}_incident", "incidents", ["force", "incident_id"], ["force", "incident_id"]
            )
    with op.batch_alter_table("deliveries", naming_convention=NAMES) as batch:
        batch.create_foreign_key(
            "fk_deliveries_alert", "alerts", ["force", "alert_id"], ["force", "alert_id"]
        )
    op.create_index("children", "incidents", ["force", "child_id"])
    op.create_index("worklist", "incidents", ["force", "status", "next_due_at"])
    op.create_index("decisions_by_incident", "decisions", ["force", "incident_id"])
    op.create_index("alerts_by_incident", "alerts", ["force", "incident_id"])
    op.create_index("audit_by_incident", "audit", ["force", "incident_id"])

    if postgres:
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY one_force ON {table} "
                "USING (current_setting('misper.force', true) IN (force, '*')) "
                "WITH CHECK (current_setting('misper.force', true) IN (force, '*'))"
            )
    else:
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the rebuilt tables break {len(broken)} references: {broken[:5]}")


def downgrade() -> None:
    raise NotImplementedError("forces cannot be taken out of a database: restore its backup instead")
