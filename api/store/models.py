"""The store's tables (SQLAlchemy 2 declarative).

Geometry columns are WGS84 lon/lat (EPSG:4326) with bounding boxes beside them
(api.store.spatial). Times are timezone-aware UTC. The schema itself is made by the Alembic
migrations in api/store/migrations, never by ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from api.store.spatial import BBoxMixin

ROLES = ("admin", "planner", "worker", "reporter", "operator", "organisation",
         "volunteer")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
PLAN_STATES = ("draft", "active", "archived")
ROUTE_KINDS = ("patrol", "visits")


def utcnow() -> datetime:
    """Now, in UTC (column defaults)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back timezone-aware on every backend.

    SQLite keeps no offset: SQLAlchemy writes an aware value's wall clock as it is and reads
    it back naive, so a Beijing time would be stored 8 hours off and a UTC one read as if it
    were local. Values are turned to UTC before they are written and marked UTC when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """An aware value as UTC; a naive one is taken as UTC already."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        """A naive value (SQLite) marked UTC."""
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """The declarative base of every table."""


def _bbox_index(table: str) -> tuple[Index, Index]:
    return (Index(f"ix_{table}_min", "minx", "miny"), Index(f"ix_{table}_max", "maxx", "maxy"))


class TokenRow(Base):
    """An API token: only the sha256 of its secret is kept."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    # the organisation an ``organisation`` token acts for (referrals)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                        nullable=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"), nullable=True)
    # a street admin (or planner): only the communities of this street (api.services.scope)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DistrictRow(Base):
    """A county-level district (区/县): its 6-digit code of GB/T 2260 (e.g. 320106 南京市鼓楼区)."""

    __tablename__ = "districts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StreetRow(Base):
    """A street office (街道) of a district: ``code`` its 3 digits within the district,
    ``full_code`` the 9 digits of the statistical division code (district + street)."""

    __tablename__ = "streets"
    __table_args__ = (UniqueConstraint("district_id", "code", name="uq_streets_district_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    code: Mapped[str] = mapped_column(String(3))
    full_code: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CommunityRow(Base):
    """A community (社区/村) of a street: ``code`` as the plans use it (GridRow.community;
    the 12-digit statistical code when the data has it, then it starts with the street's)."""

    __tablename__ = "communities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DatasetRow(BBoxMixin, Base):
    """An uploaded study area file, kept under data_dir/datasets; geom is its extent."""

    __tablename__ = "datasets"
    __table_args__ = _bbox_index("datasets")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(500))  # relative to data_dir
    size_bytes: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # load_study_area keywords
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    attribution: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobRow(Base):
    """A background run (partition; routing later): status, progress 0..1, result."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_zh: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    rerun_of: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # the lease of a running job: set when a runner claims it; only the process holding it
    # may record the job's progress and end (api.jobs.runner.owned)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PlanRow(Base):
    """A micro-grid plan of a dataset: draft until activated; one plan is active."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    target_households: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    previous_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    locked: Mapped[list] = mapped_column(JSON, default=list)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    attribution: Mapped[str | None] = mapped_column(String(200), nullable=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                          nullable=True)
    # bumped by every edit of the plan editor (optimistic concurrency, api.services.editor)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


EDIT_STATES = ("applied", "undone", "dropped")


class EditRow(Base):
    """One step of the plan editor on a draft plan, only ever appended: ``payload`` is the
    edit (partition.edits.Edit.to_json: buildings moved from grid to grid, grids made and
    removed, locks). ``state``: applied; undone (redo applies it again); dropped (undone, then
    a new edit was made). ``version``: the plan's version the edit made."""

    __tablename__ = "plan_edits"
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_edits_plan_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(10), default="applied", server_default="applied")
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GridRow(BBoxMixin, Base):
    """A micro-grid of a plan (code = community code + 3-digit sequence)."""

    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("plan_id", "code"), *_bbox_index("grids"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    community: Mapped[str | None] = mapped_column(String(100), nullable=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[float] = mapped_column(Float, default=0.0)
    buildings: Mapped[int] = mapped_column(Integer, default=0)
    deviation_pct: Mapped[float] = mapped_column(Float, default=0.0)
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)  # the other metrics


class PlanBuildingRow(BBoxMixin, Base):
    """A building of a plan with the grid it belongs to (None: outside every community)."""

    __tablename__ = "plan_buildings"
    __table_args__ = (UniqueConstraint("plan_id", "building_id"),
                      Index("ix_plan_buildings_grid", "plan_id", "grid_code"),
                      *_bbox_index("plan_buildings"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    building_id: Mapped[str] = mapped_column(String(80))
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    community: Mapped[str | None] = mapped_column(String(100), nullable=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[float] = mapped_column(Float, default=0.0)
    residential: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)


class WorkerRow(BBoxMixin, Base):
    """A grid worker (网格员); geom is an optional base point (service station)."""

    __tablename__ = "workers"
    __table_args__ = _bbox_index("workers")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # the public notice (api.services.public): shown only with the worker's consent
    publish_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    public_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    employee_no: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    # Working hours, Beijing time "HH:MM" ("24:00" = midnight at the end); None: round the clock.
    shift_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    shift_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    work_days: Mapped[list | None] = mapped_column(JSON, nullable=True)  # ISO weekdays 1 = Mon
    days_off: Mapped[list | None] = mapped_column(JSON, nullable=True)  # ISO dates, holidays
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class PartyMemberRow(BBoxMixin, Base):
    """A party member (党员); geom is the responsibility zone (党员责任区), if drawn."""

    __tablename__ = "party_members"
    __table_args__ = _bbox_index("party_members")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    branch: Mapped[str | None] = mapped_column(String(100), nullable=True)  # 党支部
    # consented to name and branch on the grid's public notice (api.services.public)
    publish_consent: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    building_ids: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class AssignmentRow(Base):
    """Who serves a grid of a plan: role ``worker`` (网格员) or ``leader`` (网格长).
    ``source`` says whether a person or dispatch/ made it."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("plan_id", "grid_id", "role"),
                      Index("ix_assignments_worker", "worker_id", "plan_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    role: Mapped[str] = mapped_column(String(20), default="worker")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RouteRow(BBoxMixin, Base):
    """A worker's route for one day: ordered stops, the walked line, metres and seconds.

    ``kind`` ``patrol``: the street patrol of their grids (dispatch jobs); ``visits``: the
    incidents dispatched to them, in visiting order (api.services.visit_routes). One of each per
    plan, worker and day."""

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("plan_id", "worker_id", "day", "kind",
                                       name="uq_routes_plan_worker_day_kind"),
                      *_bbox_index("routes"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20), default="patrol", server_default="patrol")
    stops: Mapped[list] = mapped_column(JSON, default=list)  # [{seq, kind, ref, lon, lat, eta}]
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: The columns of incidents the indicators read (api.store.indicators), created_at first:
#: the index ``ix_incidents_indicators``.
INDICATOR_COLUMNS = ("created_at", "plan_id", "grid_code", "status", "accepted_at",
                     "accept_by", "closed_at", "close_by", "reopened", "escalated_to")
#: The open stages (dispatch.incidents.lifecycle.OPEN_STAGES when migration 0015 was written)
#: as the SQL condition of the index of open incidents, ``ix_incidents_open``. SQLite uses a
#: partial index only for a query whose WHERE holds this very text (with literals, not
#: parameters): api.store.indicators writes it so.
OPEN_STATUS_SQL = ("status IN ('accepted', 'dispatched', 'handled', 'in_progress', "
                   "'org_accepted', 'referred', 'reported', 'returned', 'verified')")


class IncidentRow(BBoxMixin, Base):
    """A reported incident (事件) at a point; its lifecycle belongs to the incidents module."""

    __tablename__ = "incidents"
    __table_args__ = (*_bbox_index("incidents"),
                      Index("ix_incidents_worker", "worker_id", "status"),
                      # the duplicate check of every report (api.store.incidents)
                      Index("ix_incidents_duplicate", "category", "minx"),
                      # the indicators of a period (api.store.indicators): the range by
                      # created_at, then every column they read, so that SQLite reads the
                      # range from the index alone
                      Index("ix_incidents_indicators", *INDICATOR_COLUMNS),
                      # the open incidents alone, for what is overdue at the time read
                      Index("ix_incidents_open", "created_at", "plan_id", "grid_code",
                            "status", "accept_by", "close_by",
                            sqlite_where=text(OPEN_STATUS_SQL),
                            postgresql_where=text(OPEN_STATUS_SQL)))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="reported", index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    reporter_token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"),
                                                          nullable=True)
    reporter_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reporter_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    accept_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    close_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated_to: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # every report merged into this incident: [{name, phone, at, report_id, channel}]
    reporters: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # how the first report came (dispatch.channels.CHANNELS)
    channel: Mapped[str] = mapped_column(String(20), default="app", server_default="app",
                                         index=True)
    # the organisation it is referred to now (stage referred or org_accepted), else None
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"),
                                                        nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)
    # Copied from the history by api.store.incidents.copy_state, for the indicators
    # (api.store.indicators) to read without the steps: first accepted (立案); last closed
    # (结案), while closed; how many times residents' feedback reopened it.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(),
                                                         nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reopened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IncidentStepRow(Base):
    """One step of an incident's history (dispatch.incidents.lifecycle.Step): only ever
    inserted, never changed; ``seq`` orders the steps of an incident from 1."""

    __tablename__ = "incident_steps"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    who: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)


class OrganisationRow(BBoxMixin, Base):
    """An organisation incidents are referred to (转办): a property company, the police,
    sanitation, a utility, a department; geom is the (Multi)Polygon of the areas it serves.
    Deadlines are written as dispatch.incidents.referral.parse_deadline reads them."""

    __tablename__ = "organisations"
    __table_args__ = _bbox_index("organisations")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    categories: Mapped[list] = mapped_column(JSON, default=list)
    accept: Mapped[str] = mapped_column(String(20), default="1wd")
    handle: Mapped[str] = mapped_column(String(20), default="5wd")
    # category -> {"accept": "2h", "handle": "1wd"}
    category_deadlines: Mapped[dict] = mapped_column(JSON, default=dict)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class ReferralRow(Base):
    """One referral of an incident to an organisation (dispatch.incidents.referral.Referral):
    its deadlines and what became of it; the steps themselves are the incident's history."""

    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_org", "organisation_id", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(20), default="referred")
    referred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accept_by: Mapped[datetime] = mapped_column(UTCDateTime())
    handle_by: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)


FEEDBACK_RATINGS = ("satisfied", "basic", "unsatisfied")


class FeedbackCodeRow(Base):
    """The one-time feedback code (评价码) given with a report: only its sha256 is kept."""

    __tablename__ = "feedback_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    code_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedbackRow(Base):
    """A resident's rating of a closed incident (群众满意度): satisfied, basically satisfied
    or not; ``fixed`` False within 7 days reopens it. Given with a feedback code (``code_id``)
    or recorded by a grid worker on the resident's behalf (``worker_id``), through
    ``channel`` (dispatch.channels). ``closed_seq``: the seq of the closing step rated (a code
    rates each closing once)."""

    __tablename__ = "incident_feedback"
    __table_args__ = (UniqueConstraint("code_id", "closed_seq", name="uq_feedback_code_closing"),
                      # an incident's ratings, read from the index alone (the indicators)
                      Index("ix_incident_feedback_rating", "incident_id", "rating"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    closed_seq: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(12))
    fixed: Mapped[bool] = mapped_column(Boolean, default=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_codes.id"), nullable=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: The incidents' counts an indicator cell keeps (api.store.indicator_cells): those that do
#: not depend on the time the figures are read at.
CELL_COUNTS = ("received", "accepted", "accepted_on_time", "closed", "closed_on_time",
               "reopened", "closed_ever", "escalated", "ratings", "satisfied", "basic",
               "unsatisfied")
#: An incident's hours to accept and to close, as a cell keeps them: SQLite, the values as
#: packed little-endian doubles, sorted; PostgreSQL, an array of double precision.
HoursColumn = LargeBinary().with_variant(postgresql.ARRAY(postgresql.DOUBLE_PRECISION),
                                         "postgresql")


class IndicatorCellRow(Base):
    """The indicators' figures of one grid of one plan in one Beijing month (a cell), kept up
    to date from the incidents and their ratings (api.store.indicator_cells): the counts of
    :data:`CELL_COUNTS`, every hour to accept and to close (for exact percentiles over
    several cells) and their median and 90th percentile.
    ``plan_key`` 0 and ``grid_key`` '' stand for an incident without a plan or a grid;
    ``month`` is the month's first day, ``YYYY-MM-DD``. What depends on the time the figures
    are read at (overdue) is not kept."""

    __tablename__ = "indicator_cells"
    month: Mapped[str] = mapped_column(String(10), primary_key=True)
    plan_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    received: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    accepted_on_time: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)
    closed_on_time: Mapped[int] = mapped_column(Integer)
    reopened: Mapped[int] = mapped_column(Integer)
    closed_ever: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)
    ratings: Mapped[int] = mapped_column(Integer)
    satisfied: Mapped[int] = mapped_column(Integer)
    basic: Mapped[int] = mapped_column(Integer)
    unsatisfied: Mapped[int] = mapped_column(Integer)
    accept_h: Mapped[Any] = mapped_column(HoursColumn, nullable=True)
    close_h: Mapped[Any] = mapped_column(HoursColumn, nullable=True)
    # the median and 90th percentile of accept_h and close_h (a group of one cell reads
    # these): SQLite packed as api.store.indicators.encode_quantiles; PostgreSQL an array
    accept_q: Mapped[Any] = mapped_column(HoursColumn, nullable=True)
    close_q: Mapped[Any] = mapped_column(HoursColumn, nullable=True)


class IndicatorDirtyRow(Base):
    """A cell (:class:`IndicatorCellRow`) whose incidents or ratings changed since it was
    computed: inserted by the database's triggers on every write of an incident or a rating
    (migration 0015), removed when the cell is computed again."""

    __tablename__ = "indicator_dirty"
    __table_args__ = (Index("ix_indicator_dirty_cell", "month", "plan_key", "grid_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(10))
    plan_key: Mapped[int] = mapped_column(Integer)
    grid_key: Mapped[str] = mapped_column(String(40))


class IdempotencyKeyRow(Base):
    """The stored answer to a create request, so that a retried request (same token, same
    ``Idempotency-Key``) gets the same answer instead of a second record. Written in the same
    transaction as the record it describes."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FacilityRow(BBoxMixin, Base):
    """A neighbourhood facility (garbage point, service station, activity room, canteen,
    clinic: dispatch.facilities.types) at a point. ``source``: ``osm``, ``file`` or
    ``manual``; ``source_ref`` the OSM element (``node/123``) or the file and row."""

    __tablename__ = "facilities"
    __table_args__ = (Index("ix_facilities_type", "type"), *_bbox_index("facilities"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    source_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VolunteerTeamRow(Base):
    """A volunteer team (志愿服务队): a name and the grids it serves."""

    __tablename__ = "volunteer_teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    grid_codes: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VolunteerRow(BBoxMixin, Base):
    """A volunteer (志愿者), or a party member claiming wishes (``party_member_id``); geom is
    the home or base point (personal: admins and the volunteer only). ``availability``: weekly
    windows ``[{days: [1..7], start: "HH:MM", end: "HH:MM"}]`` (None: any time);
    ``grid_codes``: the grids served (empty: any). The name is shown publicly only with
    ``consent_public_name``."""

    __tablename__ = "volunteers"
    __table_args__ = _bbox_index("volunteers")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    consent_public_name: Mapped[bool] = mapped_column(Boolean, default=False)
    skills: Mapped[list] = mapped_column(JSON, default=list)
    availability: Mapped[list | None] = mapped_column(JSON, nullable=True)
    grid_codes: Mapped[list] = mapped_column(JSON, default=list)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_teams.id"), nullable=True,
                                                index=True)
    party_member_id: Mapped[int | None] = mapped_column(ForeignKey("party_members.id"),
                                                        nullable=True, unique=True)
    max_open: Mapped[int] = mapped_column(Integer, default=3)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class WishRow(BBoxMixin, Base):
    """A micro-wish (微心愿); its lifecycle belongs to dispatch.community.wishes. geom is the
    household's exact point and, with the resident's name, phone and address, personal (admins
    and the grid's worker); ``public_lon``/``public_lat`` is the coarse point shown publicly
    (the grid's representative point). ``confirm_sha256``: the one-time code given at posting,
    with which the resident confirms."""

    __tablename__ = "wishes"
    __table_args__ = (*_bbox_index("wishes"),
                      Index("ix_wishes_volunteer", "volunteer_id", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="posted", index=True)
    channel: Mapped[str] = mapped_column(String(20))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), nullable=True)
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    public_lon: Mapped[float] = mapped_column(Float)
    public_lat: Mapped[float] = mapped_column(Float)
    resident_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resident_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    wanted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"), nullable=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_teams.id"), nullable=True)
    hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    confirm_sha256: Mapped[str] = mapped_column(String(64))
    posted_by_token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"),
                                                           nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WishStepRow(Base):
    """One step of a wish's history (dispatch.community.wishes.Step): only ever inserted;
    ``seq`` orders the steps of a wish from 1."""

    __tablename__ = "wish_steps"
    __table_args__ = (UniqueConstraint("wish_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    who: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    volunteer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)


class TrackRow(BBoxMixin, Base):
    """A worker's GPS track of a day, uploaded against one of their routes, with what it
    showed (dispatch.tracks): the cleaned track as ``geom`` (WGS84 lines, one part a piece),
    the points given and dropped by reason, the walked and planned street length, and the
    figures (coverage, missed streets, time in each grid, stops reached) as JSON; ``streets``
    the planned and walked streets for the map ([{name, length_m, planned, walked, coords}],
    lon/lat). Personal data (where a person was): the worker themself, admins and planners
    only. One track per route: a new upload replaces it."""

    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("route_id", name="uq_tracks_route"),
                      Index("ix_tracks_worker_day", "worker_id", "day"),
                      *_bbox_index("tracks"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))  # the route's kind
    filename: Mapped[str | None] = mapped_column(String(300), nullable=True)
    datum: Mapped[str] = mapped_column(String(10), default="wgs84")
    raw_points: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[dict] = mapped_column(JSON, default=dict)  # reason -> points
    matched_points: Mapped[int] = mapped_column(Integer, default=0)
    walked_m: Mapped[float] = mapped_column(Float, default=0.0)
    planned_m: Mapped[float] = mapped_column(Float, default=0.0)
    coverage: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    figures: Mapped[dict] = mapped_column(JSON, default=dict)
    streets: Mapped[list] = mapped_column(JSON, default=list)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VisitClassRow(Base):
    """How many households of a building are in a visit class (走访类别) in a plan: the least
    detail a visit calendar needs (no names, no flat numbers). Sensitive: read only by the
    building's grid worker and grid leader and by admins (api.services.visits).
    ``last_visit``: the day these households were last visited (None: not known). A building
    may have several rows of one class, its households split by when they were last visited
    (the import refuses two with the same day; visits done may later give two the same)."""

    __tablename__ = "visit_classes"
    __table_args__ = (Index("ix_visit_classes_building", "plan_id", "building_id",
                            "visit_class"),
                      Index("ix_visit_classes_grid", "plan_id", "grid_code"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    building_id: Mapped[str] = mapped_column(String(80))
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visit_class: Mapped[str] = mapped_column(String(30))
    households: Mapped[int] = mapped_column(Integer)
    last_visit: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class ScheduledVisitRow(Base):
    """One visit of a worker's (``person_kind`` ``worker``) or party member's (``party``)
    calendar: a group of households of one class in one building on a day, by its due date
    (dispatch.schedule.calendar). A calendar computed again replaces the rows from its start."""

    __tablename__ = "scheduled_visits"
    __table_args__ = (Index("ix_scheduled_visits_person", "person_kind", "person_id", "day"),
                      Index("ix_scheduled_visits_building", "plan_id", "building_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    person_kind: Mapped[str] = mapped_column(String(10))
    person_id: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[str] = mapped_column(String(140))
    building_id: Mapped[str] = mapped_column(String(80))
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visit_class: Mapped[str] = mapped_column(String(30))
    households: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    due: Mapped[date] = mapped_column(Date)
    early: Mapped[bool] = mapped_column(Boolean, default=False)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VisitDoneRow(Base):
    """A household visit done: by a worker or party member who records it, or found in a
    worker's matched GPS track (``source`` ``worker``, ``party``, ``track``, ``admin``).
    ``visit_class`` None: every class of the building. ``group_id``: the calendar's visit group
    (``building_id/class/trip``) the visit was made for, whose batch of households it moves
    (None: not said, the batch visited longest ago; api.store.visits.add_done)."""

    __tablename__ = "visits_done"
    __table_args__ = (Index("ix_visits_done_building", "plan_id", "building_id", "done_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    building_id: Mapped[str] = mapped_column(String(80))
    grid_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visit_class: Mapped[str | None] = mapped_column(String(30), nullable=True)
    group_id: Mapped[str | None] = mapped_column(String(140), nullable=True)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(10))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), nullable=True)
    party_member_id: Mapped[int | None] = mapped_column(ForeignKey("party_members.id"),
                                                        nullable=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
