"""indicator cells: the indicators' counts and hours per grid and Beijing month, kept by the
service (api.store.indicator_cells); the cells an incident or rating write touches are marked
by triggers (SQLite and PostgreSQL alike, so that every writer marks them: the service, bulk
inserts, another program); an index of the open incidents alone (what is overdue at the time
read). The existing incidents' cells are marked, to be computed at the first reading.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# api.store.models when this was written (a migration keeps its own copy)
COUNTS = ["received", "accepted", "accepted_on_time", "closed", "closed_on_time", "reopened",
          "closed_ever", "escalated", "ratings", "satisfied", "basic", "unsatisfied"]
OPEN_STATUS_SQL = ("status IN ('accepted', 'dispatched', 'handled', 'in_progress', "
                   "'org_accepted', 'referred', 'reported', 'returned', 'verified')")
# the columns of an incident the cells read (api.store.models.INDICATOR_COLUMNS)
COLUMNS = ["created_at", "plan_id", "grid_code", "status", "accepted_at", "accept_by",
           "closed_at", "close_by", "reopened", "escalated_to"]
CELL = ["created_at", "plan_id", "grid_code"]  # the columns that say which cell


def _month(dialect: str, row: str) -> str:
    """The Beijing month (its first day, ``YYYY-MM-DD``) of ``row``'s ``created_at`` (UTC),
    as api.store.indicators names a month."""
    if dialect == "sqlite":  # to the second (SQLite's date functions round to the ms)
        return f"strftime('%Y-%m-01', substr({row}.created_at, 1, 19), '+8 hours')"
    return (f"to_char(date_trunc('month', timezone('UTC', {row}.created_at) "
            "+ interval '8 hours'), 'YYYY-MM-DD')")


def _cell(dialect: str, row: str) -> str:
    return f"{_month(dialect, row)}, coalesce({row}.plan_id, 0), coalesce({row}.grid_code, '')"


MARK = "INSERT INTO indicator_dirty (month, plan_key, grid_key)"


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS)
    moved = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in CELL)
    return [
        f"""CREATE TRIGGER indicator_dirty_incident_insert AFTER INSERT ON incidents
        BEGIN {MARK} VALUES ({_cell("sqlite", "NEW")}); END""",
        f"""CREATE TRIGGER indicator_dirty_incident_update
        AFTER UPDATE OF {", ".join(COLUMNS)} ON incidents WHEN {changed}
        BEGIN
            {MARK} VALUES ({_cell("sqlite", "OLD")});
            {MARK} SELECT {_cell("sqlite", "NEW")} WHERE {moved};
        END""",
        f"""CREATE TRIGGER indicator_dirty_incident_delete AFTER DELETE ON incidents
        BEGIN {MARK} VALUES ({_cell("sqlite", "OLD")}); END""",
        f"""CREATE TRIGGER indicator_dirty_feedback_insert AFTER INSERT ON incident_feedback
        BEGIN {MARK} SELECT {_cell("sqlite", "i")} FROM incidents i
              WHERE i.id = NEW.incident_id; END""",
        f"""CREATE TRIGGER indicator_dirty_feedback_update
        AFTER UPDATE OF incident_id, rating ON incident_feedback
        WHEN OLD.incident_id IS NOT NEW.incident_id OR OLD.rating IS NOT NEW.rating
        BEGIN {MARK} SELECT {_cell("sqlite", "i")} FROM incidents i
              WHERE i.id IN (OLD.incident_id, NEW.incident_id); END""",
        f"""CREATE TRIGGER indicator_dirty_feedback_delete AFTER DELETE ON incident_feedback
        BEGIN {MARK} SELECT {_cell("sqlite", "i")} FROM incidents i
              WHERE i.id = OLD.incident_id; END""",
    ]


def _postgresql_triggers() -> list[str]:
    """Inserts and deletes: one statement-level trigger with its transition table (a bulk
    insert marks each cell once); updates (of one incident, mostly): a row-level trigger."""
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COLUMNS)
    moved = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in CELL)
    rows = f"SELECT DISTINCT {_cell('postgresql', 'r')} FROM changed_rows r"
    ratings = (f"SELECT DISTINCT {_cell('postgresql', 'i')} FROM changed_rows r "
               "JOIN incidents i ON i.id = r.incident_id")
    out = []
    for name, body in [("incidents_added", rows), ("incidents_removed", rows),
                       ("feedback_changed", ratings)]:
        out.append(f"""CREATE FUNCTION indicator_dirty_{name}() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN {MARK} {body}; RETURN NULL; END $$""")
    out.append(f"""CREATE FUNCTION indicator_dirty_incident_updated() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            {MARK} VALUES ({_cell("postgresql", "OLD")});
            IF {moved} THEN {MARK} VALUES ({_cell("postgresql", "NEW")}); END IF;
            RETURN NULL;
        END $$""")
    out.append(f"""CREATE FUNCTION indicator_dirty_feedback_updated() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            {MARK} SELECT {_cell("postgresql", "i")} FROM incidents i
            WHERE i.id IN (OLD.incident_id, NEW.incident_id);
            RETURN NULL;
        END $$""")
    out += [
        """CREATE TRIGGER indicator_dirty_incident_insert AFTER INSERT ON incidents
        REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
        EXECUTE FUNCTION indicator_dirty_incidents_added()""",
        """CREATE TRIGGER indicator_dirty_incident_delete AFTER DELETE ON incidents
        REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
        EXECUTE FUNCTION indicator_dirty_incidents_removed()""",
        f"""CREATE TRIGGER indicator_dirty_incident_update
        AFTER UPDATE OF {", ".join(COLUMNS)} ON incidents FOR EACH ROW WHEN ({changed})
        EXECUTE FUNCTION indicator_dirty_incident_updated()""",
        """CREATE TRIGGER indicator_dirty_feedback_insert AFTER INSERT ON incident_feedback
        REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
        EXECUTE FUNCTION indicator_dirty_feedback_changed()""",
        """CREATE TRIGGER indicator_dirty_feedback_delete AFTER DELETE ON incident_feedback
        REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
        EXECUTE FUNCTION indicator_dirty_feedback_changed()""",
        """CREATE TRIGGER indicator_dirty_feedback_update
        AFTER UPDATE OF incident_id, rating ON incident_feedback FOR EACH ROW
        WHEN (OLD.incident_id IS DISTINCT FROM NEW.incident_id
              OR OLD.rating IS DISTINCT FROM NEW.rating)
        EXECUTE FUNCTION indicator_dirty_feedback_updated()""",
    ]
    return out


TRIGGERS = {"incidents": ["indicator_dirty_incident_insert", "indicator_dirty_incident_update",
                          "indicator_dirty_incident_delete"],
            "incident_feedback": ["indicator_dirty_feedback_insert",
                                  "indicator_dirty_feedback_update",
                                  "indicator_dirty_feedback_delete"]}
FUNCTIONS = ["indicator_dirty_incidents_added", "indicator_dirty_incidents_removed",
             "indicator_dirty_feedback_changed", "indicator_dirty_incident_updated",
             "indicator_dirty_feedback_updated"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    hours = sa.LargeBinary().with_variant(
        postgresql.ARRAY(postgresql.DOUBLE_PRECISION), "postgresql")
    op.create_table(
        "indicator_cells",
        sa.Column("month", sa.String(length=10), primary_key=True),
        sa.Column("plan_key", sa.Integer(), primary_key=True),
        sa.Column("grid_key", sa.String(length=40), primary_key=True),
        *(sa.Column(c, sa.Integer(), nullable=False) for c in COUNTS),
        sa.Column("accept_h", hours, nullable=True),
        sa.Column("close_h", hours, nullable=True),
        sa.Column("accept_q", hours, nullable=True),
        sa.Column("close_q", hours, nullable=True),
    )
    op.create_table(
        "indicator_dirty",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("month", sa.String(length=10), nullable=False),
        sa.Column("plan_key", sa.Integer(), nullable=False),
        sa.Column("grid_key", sa.String(length=40), nullable=False),
    )
    op.create_index("ix_indicator_dirty_cell", "indicator_dirty",
                    ["month", "plan_key", "grid_key"])
    op.create_index("ix_incidents_open", "incidents",
                    ["created_at", "plan_id", "grid_code", "status", "accept_by", "close_by"],
                    sqlite_where=sa.text(OPEN_STATUS_SQL),
                    postgresql_where=sa.text(OPEN_STATUS_SQL))
    for statement in (_sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers()):
        op.execute(statement)
    # every cell of the incidents already stored: computed at the first reading
    op.execute(f"{MARK} SELECT DISTINCT {_cell(dialect, 'incidents')} FROM incidents")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, names in TRIGGERS.items():
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name}"
                       + ("" if dialect == "sqlite" else f" ON {table}"))
    if dialect != "sqlite":
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_incidents_open", table_name="incidents")
    op.drop_index("ix_indicator_dirty_cell", table_name="indicator_dirty")
    op.drop_table("indicator_dirty")
    op.drop_table("indicator_cells")
