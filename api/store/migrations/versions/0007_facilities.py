"""facilities: neighbourhood facilities (garbage points, service stations, activity rooms,
canteens, clinics) as points with their bounding boxes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.store.spatial import GeometryType

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_facilities_type", "facilities", ["type"], unique=False)
    op.create_index("ix_facilities_min", "facilities", ["minx", "miny"], unique=False)
    op.create_index("ix_facilities_max", "facilities", ["maxx", "maxy"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_facilities_geom", "facilities", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_facilities_geom", table_name="facilities")
    op.drop_index("ix_facilities_max", table_name="facilities")
    op.drop_index("ix_facilities_min", table_name="facilities")
    op.drop_index("ix_facilities_type", table_name="facilities")
    op.drop_table("facilities")
