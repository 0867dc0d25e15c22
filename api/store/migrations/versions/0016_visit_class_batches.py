"""visit classes split by last visit: a building may have several rows of one class (its
households last visited on different days, dispatch.schedule.classes), so the unique
constraint on (plan, building, class) goes; a plain index on them takes its place (the
lookups of a visit done). Downgrade merges each building's rows of a class into one (the
households summed, the oldest last visit kept: none falls due later than it would have)
and restores the constraint.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 16:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ["plan_id", "building_id", "visit_class"]
# the constraint 0012 created without a name: PostgreSQL's name for it, and the name the
# batch copy of SQLite gives it by this convention
PG_NAME = "visit_classes_plan_id_building_id_visit_class_key"
SQLITE_NAME = "uq_visit_classes_plan_id"
CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
INDEX = "ix_visit_classes_building"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("visit_classes", naming_convention=CONVENTION) as batch:
            batch.drop_constraint(SQLITE_NAME, type_="unique")
    else:
        op.drop_constraint(PG_NAME, "visit_classes", type_="unique")
    op.create_index(INDEX, "visit_classes", COLUMNS)


def downgrade() -> None:
    same = ("v.plan_id = visit_classes.plan_id AND v.building_id = visit_classes.building_id "
            "AND v.visit_class = visit_classes.visit_class")
    first = f"SELECT min(id) FROM visit_classes GROUP BY {', '.join(COLUMNS)}"
    op.execute(f"UPDATE visit_classes SET "
               f"households = (SELECT sum(v.households) FROM visit_classes v WHERE {same}), "
               f"last_visit = (SELECT min(v.last_visit) FROM visit_classes v WHERE {same}) "
               f"WHERE id IN ({first})")
    op.execute(f"DELETE FROM visit_classes WHERE id NOT IN ({first})")
    op.drop_index(INDEX, table_name="visit_classes")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("visit_classes", naming_convention=CONVENTION) as batch:
            batch.create_unique_constraint(SQLITE_NAME, COLUMNS)
    else:
        op.create_unique_constraint(PG_NAME, "visit_classes", COLUMNS)
