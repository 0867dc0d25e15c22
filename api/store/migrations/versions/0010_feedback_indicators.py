"""residents' feedback on closed incidents (one-time codes, ratings) and what the indicators
read from the incidents without their steps: first accepted, last closed, times reopened

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def new_columns() -> list[sa.Column]:
    return [sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("reopened", sa.Integer(), nullable=False, server_default="0")]


def upgrade() -> None:
    for column in new_columns():
        op.add_column("incidents", column)
    # the incidents stored so far: from their steps
    op.execute("UPDATE incidents SET accepted_at = (SELECT MIN(s.at) FROM incident_steps s "
               "WHERE s.incident_id = incidents.id AND s.action = 'accepted')")
    op.execute("UPDATE incidents SET closed_at = (SELECT MAX(s.at) FROM incident_steps s "
               "WHERE s.incident_id = incidents.id AND s.action = 'closed') "
               "WHERE status = 'closed'")
    op.create_index("ix_incidents_created", "incidents", ["created_at"])
    op.create_table(
        "feedback_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_codes_incident_id", "feedback_codes", ["incident_id"])
    op.create_table(
        "incident_feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("closed_seq", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=12), nullable=False),
        sa.Column("fixed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("code_id", sa.Integer(), sa.ForeignKey("feedback_codes.id"), nullable=True),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("workers.id"), nullable=True),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("tokens.id"), nullable=True),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("code_id", "closed_seq", name="uq_feedback_code_closing"),
    )
    op.create_index("ix_incident_feedback_incident_id", "incident_feedback", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_feedback_incident_id", table_name="incident_feedback")
    op.drop_table("incident_feedback")
    op.drop_index("ix_feedback_codes_incident_id", table_name="feedback_codes")
    op.drop_table("feedback_codes")
    op.drop_index("ix_incidents_created", table_name="incidents")
    # a plain DROP COLUMN (SQLite >= 3.35): a batch copy of the table would rewrite the
    # foreign keys of other migrations' columns, which their downgrades then cannot drop
    for column in reversed(new_columns()):
        op.drop_column("incidents", column.name)
