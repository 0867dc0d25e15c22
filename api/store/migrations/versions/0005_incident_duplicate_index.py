"""incidents: an index for the duplicate check of every report (same category, nearby
bounding box): category, then the west edge of the box

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_duplicate", "incidents", ["category", "minx"])


def downgrade() -> None:
    op.drop_index("ix_incidents_duplicate", table_name="incidents")
