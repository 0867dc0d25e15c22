"""tracks: workers' GPS tracks against their routes, with what they showed (dispatch.tracks)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.store.spatial import GeometryType

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=True),
        sa.Column("datum", sa.String(length=10), nullable=False),
        sa.Column("raw_points", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.JSON(), nullable=False),
        sa.Column("matched_points", sa.Integer(), nullable=False),
        sa.Column("walked_m", sa.Float(), nullable=False),
        sa.Column("planned_m", sa.Float(), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("streets", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["route_id"], ["routes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"]),
        sa.ForeignKeyConstraint(["uploaded_by"], ["tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("route_id", name="uq_tracks_route"),
    )
    op.create_index("ix_tracks_worker_day", "tracks", ["worker_id", "day"])
    op.create_index("ix_tracks_min", "tracks", ["minx", "miny"])
    op.create_index("ix_tracks_max", "tracks", ["maxx", "maxy"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_tracks_geom", "tracks", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tracks_geom", table_name="tracks")
    op.drop_index("ix_tracks_max", table_name="tracks")
    op.drop_index("ix_tracks_min", table_name="tracks")
    op.drop_index("ix_tracks_worker_day", table_name="tracks")
    op.drop_table("tracks")
