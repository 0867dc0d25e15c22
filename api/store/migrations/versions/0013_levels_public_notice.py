"""levels above the community (districts, streets, communities), street-scoped tokens, and
the consent fields of the public grid notice (api.services.levels, api.services.public)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=6), nullable=False, unique=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "streets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("districts.id"), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("full_code", sa.String(length=9), nullable=False, unique=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("district_id", "code", name="uq_streets_district_code"),
    )
    op.create_index("ix_streets_district_id", "streets", ["district_id"])
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=100), nullable=False, unique=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("street_id", sa.Integer(), sa.ForeignKey("streets.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_communities_street_id", "communities", ["street_id"])
    # Columns added in place (SQLite: no table copy, so the keys other tables hold on tokens,
    # workers and party members stay as they are).
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("tokens", sa.Column("street_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_tokens_street_id", "tokens", "streets", ["street_id"],
                              ["id"])
    else:
        op.execute("ALTER TABLE tokens ADD COLUMN street_id INTEGER REFERENCES streets (id)")
    op.add_column("workers", sa.Column("publish_name", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.add_column("workers", sa.Column("public_phone", sa.String(length=40), nullable=True))
    op.add_column("party_members", sa.Column("publish_consent", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_tokens_street_id", "tokens", type_="foreignkey")
    # SQLite >= 3.35 drops a column in place (no table copy: keys pointing here stay)
    for table, column in (("party_members", "publish_consent"), ("workers", "public_phone"),
                          ("workers", "publish_name"), ("tokens", "street_id")):
        op.drop_column(table, column)
    op.drop_index("ix_communities_street_id", "communities")
    op.drop_table("communities")
    op.drop_index("ix_streets_district_id", "streets")
    op.drop_table("streets")
    op.drop_table("districts")
