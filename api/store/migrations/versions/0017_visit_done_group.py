"""visits done name the planned visit group: ``visits_done.group_id`` (nullable), the
calendar's group (``building_id/class/trip``, dispatch.schedule.horizon.make_groups), so that
a visit moves the last visit of the batch (the stored row of the building's class) that the
trip belongs to rather than the batch visited longest ago. Rows recorded before (and visits
recorded without a group) keep None. Downgrade drops the column.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits_done", sa.Column("group_id", sa.String(140), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("visits_done") as batch:
            batch.drop_column("group_id")
    else:
        op.drop_column("visits_done", "group_id")
