"""Request and response models (Pydantic). Coordinates are WGS84 lon/lat degrees."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "planner", "worker", "reporter"]


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Lonlat(BaseModel):
    lon: float | None = Field(None, ge=-180, le=180, description="经度 longitude, WGS84")
    lat: float | None = Field(None, ge=-90, le=90, description="纬度 latitude, WGS84")


class WorkerIn(Lonlat):
    name: str = Field(min_length=1, max_length=100, description="姓名 name")
    phone: str | None = Field(None, max_length=40)
    employee_no: str | None = Field(None, max_length=40, description="工号 employee number")
    on_duty: bool = True
    notes: str | None = None


class WorkerPatch(Lonlat):
    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    employee_no: str | None = Field(None, max_length=40)
    on_duty: bool | None = None
    notes: str | None = None


class WorkerOut(Orm):
    id: int
    name: str
    phone: str | None
    employee_no: str | None
    on_duty: bool
    notes: str | None
    lon: float | None = None
    lat: float | None = None
    created_at: datetime
    updated_at: datetime


class PartyMemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    branch: str | None = Field(None, max_length=100, description="党支部 party branch")
    grid_code: str | None = Field(None, max_length=40)
    households: int = Field(0, ge=0)
    building_ids: list[str] = Field(default_factory=list)
    notes: str | None = None
    zone: dict[str, Any] | None = Field(
        None, description="责任区 responsibility zone: GeoJSON Polygon/MultiPolygon geometry")


class PartyMemberPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40)
    branch: str | None = Field(None, max_length=100)
    grid_code: str | None = Field(None, max_length=40)
    households: int | None = Field(None, ge=0)
    building_ids: list[str] | None = None
    notes: str | None = None
    zone: dict[str, Any] | None = None


class PartyMemberOut(Orm):
    id: int
    name: str
    phone: str | None
    branch: str | None
    grid_code: str | None
    households: int
    building_ids: list[str]
    notes: str | None
    zone: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class ImportResult(BaseModel):
    created: int
    updated: int
    ids: list[int]


class IncidentIn(BaseModel):
    category: str = Field(min_length=1, max_length=60, description="类别 category")
    description: str = Field("", max_length=4000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    reporter_name: str | None = Field(None, max_length=100)
    reporter_phone: str | None = Field(None, max_length=40)


class IncidentOut(Orm):
    id: int
    category: str
    description: str
    status: str
    lon: float
    lat: float
    plan_id: int | None
    grid_code: str | None
    worker_id: int | None
    created_at: datetime
    accept_by: datetime | None = None
    close_by: datetime | None = None
    overdue: bool = False
    escalated_to: str | None = None
    reporters: int = 1
    merged: bool = Field(False, description="重复上报已合并 the report joined an open incident")


IncidentAction = Literal["accept", "reject", "dispatch", "start", "handle", "verify", "close",
                         "return", "claim", "note"]


class IncidentActionIn(BaseModel):
    action: IncidentAction = Field(description="accept 立案, reject 作废, dispatch 派遣, "
                                   "start 处置, handle 反馈, verify 核查, close 结案, "
                                   "return 退回, claim 认领 (微心愿), note 备注")
    note: str = Field("", max_length=4000)
    worker_id: int | None = Field(None, description="dispatch: 指定网格员 the worker (else "
                                  "chosen by walking time, load and deadline)")
    claimant: str | None = Field(None, max_length=100,
                                 description="claim: 认领的党员或志愿者 who claims a micro-wish")


class IncidentStepOut(Orm):
    seq: int
    at: datetime
    stage: str
    action: str
    who: str
    note: str
    assignee: str | None


class IncidentDispatchOut(BaseModel):
    incident: IncidentOut
    reason: str | None = None
    ranking: list[dict[str, Any]] = Field(default_factory=list)


class DatasetOut(Orm):
    id: int
    name: str
    filename: str
    size_bytes: int
    options: dict[str, Any]
    summary: dict[str, Any]
    attribution: str | None
    bbox: list[float] | None = None
    created_at: datetime


class PlanCreate(BaseModel):
    dataset_id: int
    name: str = Field("", max_length=200)
    target_households: int = Field(300, ge=10, le=5000, description="每格目标户数")
    seed: int = 0
    previous_plan_id: int | None = Field(None, description="re-balance this plan, fewest moves")
    locked: list[str] = Field(default_factory=list, description="grid codes kept exactly")
    split_units: str | None = Field(None, description="column with units (单元) per building")


class PlanOut(Orm):
    id: int
    dataset_id: int
    name: str
    status: str
    target_households: int
    seed: int
    previous_plan_id: int | None
    locked: list[str]
    summary: dict[str, Any]
    attribution: str | None
    job_id: int | None
    created_at: datetime
    activated_at: datetime | None


class JobOut(Orm):
    id: int
    kind: str
    status: str
    params: dict[str, Any]
    progress: float = Field(description="0..1")
    step: str | None
    eta_seconds: float | None = Field(None, description="estimated seconds left")
    error: str | None
    error_zh: str | None
    result: dict[str, Any] | None
    rerun_of: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GridChange(BaseModel):
    code: str
    change: Literal["changed", "new", "gone"]
    households_before: int | None
    households_after: int | None


class BuildingMove(BaseModel):
    building_id: str
    from_grid: str | None
    to_grid: str | None
    households: int
    change: Literal["moved", "new", "removed"]


class PlanDiff(BaseModel):
    plan_a: int
    plan_b: int
    buildings_moved: int
    households_moved: int
    buildings_new: int
    buildings_removed: int
    grids_kept: int
    grids_changed: int
    grids_new: int
    grids_gone: int
    grids: list[GridChange]
    moves: list[BuildingMove]


class AssignmentIn(BaseModel):
    worker_id: int
    role: Literal["worker", "leader"] = "worker"


class AssignmentOut(Orm):
    id: int
    plan_id: int
    grid_id: int
    grid_code: str | None = None
    worker_id: int
    role: str
    source: str
    created_at: datetime


class RouteOut(Orm):
    id: int
    plan_id: int
    worker_id: int
    day: date
    stops: list[dict[str, Any]]
    distance_m: float
    duration_s: float


class AssignmentsCompute(BaseModel):
    seconds: float = Field(5.0, gt=0, le=120, description="CP-SAT 求解时限 time limit, s")
    max_grids: int = Field(3, ge=1, le=1000, description="每名网格员最多网格数 most grids per "
                           "worker")
    max_households: int = Field(1200, ge=1, le=1_000_000,
                                description="每名网格员最多户数 most households per worker")


class RoutesCompute(BaseModel):
    day: date | None = Field(None, description="日期 the routes' day (default today, Beijing)")
    exact_seconds: float = Field(0.1, ge=0, le=30,
                                 description="每个网格精确模型时限 exact model time per grid, s")


class PartyZonesCompute(BaseModel):
    capacity: int = Field(20, ge=1, le=500,
                          description="每名党员联系户数上限 households per party member")
