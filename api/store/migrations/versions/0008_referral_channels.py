"""referral (转办) and channels: organisations with their service areas, the referrals of
incidents to them, the organisation an organisation token acts for; the channel of every
incident and the organisation it is referred to now

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.store.spatial import GeometryType

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("accept", sa.String(length=20), nullable=False),
        sa.Column("handle", sa.String(length=20), nullable=False),
        sa.Column("category_deadlines", sa.JSON(), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_organisations_min", "organisations", ["minx", "miny"])
    op.create_index("ix_organisations_max", "organisations", ["maxx", "maxy"])
    if postgres:
        op.create_index("ix_organisations_geom", "organisations", ["geom"],
                        postgresql_using="gist")
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("referred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handle_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referrals_org", "referrals", ["organisation_id", "status"])
    op.create_index("ix_referrals_incident_id", "referrals", ["incident_id"])
    # Existing reports came by the app or Open311; they are counted as app.
    op.add_column("incidents", sa.Column("channel", sa.String(length=20), nullable=False,
                                         server_default="app"))
    op.create_index("ix_incidents_channel", "incidents", ["channel"])
    # Foreign keys added in place (SQLite: ADD COLUMN ... REFERENCES, which Alembic does not
    # write; never a table copy, which would break the keys that point at these tables).
    for table in ("incidents", "tokens"):
        if postgres:
            op.add_column(table, sa.Column("organisation_id", sa.Integer(), nullable=True))
            op.create_foreign_key(f"fk_{table}_organisation", table, "organisations",
                                  ["organisation_id"], ["id"])
        else:
            op.execute(f"ALTER TABLE {table} ADD COLUMN organisation_id INTEGER "
                       "REFERENCES organisations (id)")
    op.create_index("ix_incidents_organisation_id", "incidents", ["organisation_id"])

def downgrade() -> None:
    op.drop_index("ix_incidents_organisation_id", table_name="incidents")
    op.drop_index("ix_incidents_channel", table_name="incidents")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_incidents_organisation", "incidents", type_="foreignkey")
        op.drop_constraint("fk_tokens_organisation", "tokens", type_="foreignkey")
    # SQLite >= 3.35 drops a column in place (no table copy: keys pointing here stay)
    for table, column in (("incidents", "organisation_id"), ("incidents", "channel"),
                          ("tokens", "organisation_id")):
        op.drop_column(table, column)
    op.drop_index("ix_referrals_incident_id", table_name="referrals")
    op.drop_index("ix_referrals_org", table_name="referrals")
    op.drop_table("referrals")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_organisations_geom", table_name="organisations")
    op.drop_index("ix_organisations_max", table_name="organisations")
    op.drop_index("ix_organisations_min", table_name="organisations")
    op.drop_table("organisations")
