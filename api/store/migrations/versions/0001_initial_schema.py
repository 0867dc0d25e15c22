"""initial schema: tokens, datasets, jobs, plans, grids, plan buildings, workers, party
members, assignments, routes, incidents, idempotency keys

Revision ID: 0001
Revises:
Create Date: 2026-11-21 19:35:53.489710
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.store.spatial import GeometryType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


GEOMETRY_TABLES = (
    "datasets",
    "grids",
    "plan_buildings",
    "workers",
    "party_members",
    "routes",
    "incidents",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "party_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("building_ids", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_party_members_grid_code"), "party_members", ["grid_code"], unique=False
    )
    op.create_index("ix_party_members_max", "party_members", ["maxx", "maxy"], unique=False)
    op.create_index("ix_party_members_min", "party_members", ["minx", "miny"], unique=False)

    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("employee_no", sa.String(length=40), nullable=True),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("employee_no"),
    )
    op.create_index("ix_workers_max", "workers", ["maxx", "maxy"], unique=False)
    op.create_index("ix_workers_min", "workers", ["minx", "miny"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_sha256"),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["tokens.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_datasets_max", "datasets", ["maxx", "maxy"], unique=False)
    op.create_index("ix_datasets_min", "datasets", ["minx", "miny"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["tokens.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_id", "key"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_zh", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("rerun_of", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["tokens.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rerun_of"],
            ["jobs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"], unique=False)

    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("target_households", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("previous_plan_id", sa.Integer(), nullable=True),
        sa.Column("locked", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["previous_plan_id"],
            ["plans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_plans_dataset_id"), "plans", ["dataset_id"], unique=False)
    op.create_index(op.f("ix_plans_status"), "plans", ["status"], unique=False)

    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Float(), nullable=False),
        sa.Column("buildings", sa.Integer(), nullable=False),
        sa.Column("deviation_pct", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "code"),
    )
    op.create_index("ix_grids_max", "grids", ["maxx", "maxy"], unique=False)
    op.create_index("ix_grids_min", "grids", ["minx", "miny"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("reporter_token_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reporter_token_id"],
            ["tokens.id"],
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_max", "incidents", ["maxx", "maxy"], unique=False)
    op.create_index("ix_incidents_min", "incidents", ["minx", "miny"], unique=False)
    op.create_index(op.f("ix_incidents_status"), "incidents", ["status"], unique=False)
    op.create_index("ix_incidents_worker", "incidents", ["worker_id", "status"], unique=False)

    op.create_table(
        "plan_buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.String(length=80), nullable=False),
        sa.Column("grid_code", sa.String(length=40), nullable=True),
        sa.Column("community", sa.String(length=100), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Float(), nullable=False),
        sa.Column("residential", sa.Boolean(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "building_id"),
    )
    op.create_index(
        "ix_plan_buildings_grid", "plan_buildings", ["plan_id", "grid_code"], unique=False
    )
    op.create_index("ix_plan_buildings_max", "plan_buildings", ["maxx", "maxy"], unique=False)
    op.create_index("ix_plan_buildings_min", "plan_buildings", ["minx", "miny"], unique=False)

    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("stops", sa.JSON(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("geom", GeometryType(), nullable=True),
        sa.Column("minx", sa.Float(), nullable=True),
        sa.Column("miny", sa.Float(), nullable=True),
        sa.Column("maxx", sa.Float(), nullable=True),
        sa.Column("maxy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "worker_id", "day"),
    )
    op.create_index("ix_routes_max", "routes", ["maxx", "maxy"], unique=False)
    op.create_index("ix_routes_min", "routes", ["minx", "miny"], unique=False)
    op.create_index(op.f("ix_routes_worker_id"), "routes", ["worker_id"], unique=False)

    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "grid_id", "role"),
    )
    op.create_index("ix_assignments_worker", "assignments", ["worker_id", "plan_id"], unique=False)

    if postgres:  # GiST indexes for bbox (&&) queries; SQLite uses the min/max columns
        for table in GEOMETRY_TABLES:
            op.create_index(f"ix_{table}_geom", table, ["geom"], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in GEOMETRY_TABLES:
            op.drop_index(f"ix_{table}_geom", table_name=table)
    op.drop_index("ix_assignments_worker", table_name="assignments")

    op.drop_table("assignments")
    op.drop_index(op.f("ix_routes_worker_id"), table_name="routes")
    op.drop_index("ix_routes_min", table_name="routes")
    op.drop_index("ix_routes_max", table_name="routes")

    op.drop_table("routes")
    op.drop_index("ix_plan_buildings_min", table_name="plan_buildings")
    op.drop_index("ix_plan_buildings_max", table_name="plan_buildings")
    op.drop_index("ix_plan_buildings_grid", table_name="plan_buildings")

    op.drop_table("plan_buildings")
    op.drop_index("ix_incidents_worker", table_name="incidents")
    op.drop_index(op.f("ix_incidents_status"), table_name="incidents")
    op.drop_index("ix_incidents_min", table_name="incidents")
    op.drop_index("ix_incidents_max", table_name="incidents")

    op.drop_table("incidents")
    op.drop_index("ix_grids_min", table_name="grids")
    op.drop_index("ix_grids_max", table_name="grids")

    op.drop_table("grids")
    op.drop_index(op.f("ix_plans_status"), table_name="plans")
    op.drop_index(op.f("ix_plans_dataset_id"), table_name="plans")

    op.drop_table("plans")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")

    op.drop_table("jobs")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_datasets_min", table_name="datasets")
    op.drop_index("ix_datasets_max", table_name="datasets")

    op.drop_table("datasets")
    op.drop_table("tokens")
    op.drop_index("ix_workers_min", table_name="workers")
    op.drop_index("ix_workers_max", table_name="workers")

    op.drop_table("workers")
    op.drop_index("ix_party_members_min", table_name="party_members")
    op.drop_index("ix_party_members_max", table_name="party_members")
    op.drop_index(op.f("ix_party_members_grid_code"), table_name="party_members")

    op.drop_table("party_members")
