"""micro-wishes: volunteer teams, volunteers (a party member may be one), wishes with their
channel and an append-only history; volunteer tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.store.spatial import GeometryType

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _bbox() -> list[sa.Column]:
    return [sa.Column("geom", GeometryType(), nullable=True),
            sa.Column("minx", sa.Float(), nullable=True),
            sa.Column("miny", sa.Float(), nullable=True),
            sa.Column("maxx", sa.Float(), nullable=True),
            sa.Column("maxy", sa.Float(), nullable=True)]


def _bbox_indexes(table: str) -> None:
    op.create_index(f"ix_{table}_min", table, ["minx", "miny"])
    op.create_index(f"ix_{table}_max", table, ["maxx", "maxy"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(f"ix_{table}_geom", table, ["geom"], postgresql_using="gist")


def upgrade() -> None:
    op.create_table(
        "volunteer_teams",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "volunteers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("consent_public_name", sa.Boolean(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("availability", sa.JSON(), nullable=True),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("volunteer_teams.id"), nullable=True),
        sa.Column("party_member_id", sa.Integer(), sa.ForeignKey("party_members.id"),
                  nullable=True, unique=True),
        sa.Column("max_open", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_bbox(),
    )
    op.create_index("ix_volunteers_team_id", "volunteers", ["team_id"])
    _bbox_indexes("volunteers")
    op.create_table(
        "wishes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id"), nullable=True),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("public_lon", sa.Float(), nullable=False),
        sa.Column("public_lat", sa.Float(), nullable=False),
        sa.Column("resident_name", sa.String(length=100), nullable=True),
        sa.Column("resident_phone", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("wanted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), sa.ForeignKey("volunteers.id"), nullable=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("volunteer_teams.id"), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("confirm_sha256", sa.String(length=64), nullable=False),
        sa.Column("posted_by_token_id", sa.Integer(), sa.ForeignKey("tokens.id"),
                  nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        *_bbox(),
    )
    op.create_index("ix_wishes_status", "wishes", ["status"])
    op.create_index("ix_wishes_grid_code", "wishes", ["grid_code"])
    op.create_index("ix_wishes_volunteer", "wishes", ["volunteer_id", "status"])
    _bbox_indexes("wishes")
    op.create_table(
        "wish_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("wish_id", sa.Integer(), sa.ForeignKey("wishes.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("tokens.id"), nullable=True),
        sa.UniqueConstraint("wish_id", "seq"),
    )
    # A plain column on SQLite (ALTER TABLE cannot add a constraint there; the ORM keeps the
    # link), a foreign key on PostgreSQL.
    op.add_column("tokens", sa.Column("volunteer_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key("fk_tokens_volunteer_id", "tokens", "volunteers",
                              ["volunteer_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_tokens_volunteer_id", "tokens", type_="foreignkey")
    op.drop_column("tokens", "volunteer_id")
    op.drop_table("wish_steps")
    op.drop_table("wishes")
    op.drop_table("volunteers")
    op.drop_table("volunteer_teams")
