"""indicators at 100,000 incidents: an index of incidents holding every column the indicators
read (created_at first, replacing ix_incidents_created), and one of the ratings by incident
(replacing ix_incident_feedback_incident_id), so that SQLite reads both from indexes alone
(api.store.indicators)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# api.store.models.INDICATOR_COLUMNS when this was written (a migration keeps its own copy)
COLUMNS = ["created_at", "plan_id", "grid_code", "status", "accepted_at", "accept_by",
           "closed_at", "close_by", "reopened", "escalated_to"]


def upgrade() -> None:
    op.create_index("ix_incidents_indicators", "incidents", COLUMNS)
    op.drop_index("ix_incidents_created", table_name="incidents")
    op.create_index("ix_incident_feedback_rating", "incident_feedback",
                    ["incident_id", "rating"])
    op.drop_index("ix_incident_feedback_incident_id", table_name="incident_feedback")


def downgrade() -> None:
    op.create_index("ix_incident_feedback_incident_id", "incident_feedback", ["incident_id"])
    op.drop_index("ix_incident_feedback_rating", table_name="incident_feedback")
    op.create_index("ix_incidents_created", "incidents", ["created_at"])
    op.drop_index("ix_incidents_indicators", table_name="incidents")
