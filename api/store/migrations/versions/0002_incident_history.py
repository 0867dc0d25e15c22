"""incident lifecycle: deadlines, escalation and reporters on incidents; the append-only
table of their steps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None



def new_columns() -> list[sa.Column]:
    return [sa.Column("accept_by", sa.DateTime(timezone=True), nullable=True),
            sa.Column("close_by", sa.DateTime(timezone=True), nullable=True),
            sa.Column("escalated_to", sa.String(length=100), nullable=True),
            sa.Column("reporters", sa.JSON(), nullable=True)]


def upgrade() -> None:
    for column in new_columns():
        op.add_column("incidents", column)
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("incident_steps")
    with op.batch_alter_table("incidents") as batch:
        for column in reversed(new_columns()):
            batch.drop_column(column.name)
