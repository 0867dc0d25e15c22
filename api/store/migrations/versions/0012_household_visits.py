"""household visits (入户走访): visit classes per building (households per class, the least
detail), the scheduled visits of workers' and party members' calendars, the visits done

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 02:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.String(length=80), nullable=False),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("visit_class", sa.String(length=30), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("last_visit", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "building_id", "visit_class"),
    )
    op.create_index("ix_visit_classes_grid", "visit_classes", ["plan_id", "grid_code"])
    op.create_table(
        "scheduled_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("person_kind", sa.String(length=10), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=140), nullable=False),
        sa.Column("building_id", sa.String(length=80), nullable=False),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("visit_class", sa.String(length=30), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("early", sa.Boolean(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheduled_visits_person", "scheduled_visits",
                    ["person_kind", "person_id", "day"])
    op.create_index("ix_scheduled_visits_building", "scheduled_visits",
                    ["plan_id", "building_id"])
    op.create_table(
        "visits_done",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.String(length=80), nullable=False),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("visit_class", sa.String(length=30), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("party_member_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"]),
        sa.ForeignKeyConstraint(["party_member_id"], ["party_members.id"]),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visits_done_building", "visits_done",
                    ["plan_id", "building_id", "done_at"])


def downgrade() -> None:
    op.drop_index("ix_visits_done_building", table_name="visits_done")
    op.drop_table("visits_done")
    op.drop_index("ix_scheduled_visits_building", table_name="scheduled_visits")
    op.drop_index("ix_scheduled_visits_person", table_name="scheduled_visits")
    op.drop_table("scheduled_visits")
    op.drop_index("ix_visit_classes_grid", table_name="visit_classes")
    op.drop_table("visit_classes")
