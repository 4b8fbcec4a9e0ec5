"""The worklist entry's next change by the clock alone: when the incident's evaluation at its last
event would next change if nothing more were recorded (instant and its text as the engine gave it).
Rows written before this revision get it at their next append."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("next_change_at", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("next_change_text", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.drop_column("next_change_text")
        table.drop_column("next_change_at")
