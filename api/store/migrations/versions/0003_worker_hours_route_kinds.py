"""workers' working hours, work days and days off; routes of two kinds per worker and day
(the street patrol and the visits of dispatched incidents)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_UNIQUE = ("plan_id", "worker_id", "day")
NEW_UNIQUE = "uq_routes_plan_worker_day_kind"
# SQLite keeps 0001's unique constraint unnamed: batch mode names it by this convention when
# it copies the table, so that it can be dropped.
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def worker_columns() -> list[sa.Column]:
    return [sa.Column("shift_start", sa.String(length=5), nullable=True),
            sa.Column("shift_end", sa.String(length=5), nullable=True),
            sa.Column("work_days", sa.JSON(), nullable=True),
            sa.Column("days_off", sa.JSON(), nullable=True)]


def _old_unique_name() -> str:
    """The name PostgreSQL gave 0001's unnamed unique constraint on routes."""
    for uq in sa.inspect(op.get_bind()).get_unique_constraints("routes"):
        if tuple(uq["column_names"]) == OLD_UNIQUE and uq["name"] is not None:
            return uq["name"]
    raise RuntimeError("routes has no unique constraint on (plan_id, worker_id, day)")


def upgrade() -> None:
    for column in worker_columns():
        op.add_column("workers", column)
    kind = sa.Column("kind", sa.String(length=20), nullable=False, server_default="patrol")
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("routes", kind)
        op.drop_constraint(_old_unique_name(), "routes", type_="unique")
        op.create_unique_constraint(NEW_UNIQUE, "routes", [*OLD_UNIQUE, "kind"])
        return
    with op.batch_alter_table("routes", naming_convention=SQLITE_NAMES) as batch:
        batch.add_column(kind)
        batch.drop_constraint("uq_routes_plan_id_worker_id_day", type_="unique")
        batch.create_unique_constraint(NEW_UNIQUE, [*OLD_UNIQUE, "kind"])


def downgrade() -> None:
    # Only one route per worker and day fits the old schema: the patrols stay.
    op.execute(sa.text("DELETE FROM routes WHERE kind <> 'patrol'"))
    with op.batch_alter_table("routes") as batch:
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.drop_column("kind")
        batch.create_unique_constraint("uq_routes_plan_id_worker_id_day"
                                       if op.get_bind().dialect.name == "sqlite"
                                       else "routes_plan_id_worker_id_day_key", list(OLD_UNIQUE))
    # Not batch mode: copying workers on SQLite would break the foreign keys pointing at it
    # (SQLite >= 3.35 drops a column in place).
    for column in reversed(worker_columns()):
        op.drop_column("workers", column.name)
