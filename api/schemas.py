"""Request and response models (Pydantic). Coordinates are WGS84 lon/lat degrees."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dispatch.channels import Channel
from partition.metrics import DEFAULT_TARGET

# Control characters (C0, DEL, C1) other than tab and newline: a carriage return goes too, so
# CR LF becomes LF.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(value: Any) -> Any:
    """Text without control characters other than newline and tab (anything else as is)."""
    return CONTROL_CHARS.sub("", value) if isinstance(value, str) else value


# Free text typed by people: control characters stripped before the length checks.
Text = Annotated[str, BeforeValidator(strip_controls)]
Role = Literal["admin", "planner", "worker", "reporter", "operator", "organisation",
               "volunteer"]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
                             examples=["08:30"])]
Weekday = Annotated[int, Field(ge=1, le=7)]


class Orm(BaseModel):
    """A model read from an ORM row's attributes."""

    model_config = ConfigDict(from_attributes=True)


class Lonlat(BaseModel):
    """A point given as WGS84 longitude and latitude (degrees), both or neither."""

    lon: float | None = Field(None, ge=-180, le=180, description="经度 longitude, WGS84")
    lat: float | None = Field(None, ge=-90, le=90, description="纬度 latitude, WGS84")


class WorkerHours(BaseModel):
    """Working hours, Beijing time (api.services.worker_hours): outside them a worker gets no
    incident."""

    shift_start: Clock | None = Field(None, description="上班时间 shift start, HH:MM (none: "
                                      "round the clock)")
    shift_end: Clock | None = Field(None, description="下班时间 shift end, HH:MM, after the "
                                    "start; 24:00 = midnight")
    work_days: list[Weekday] | None = Field(None, max_length=7, description="工作日 ISO "
                                            "weekdays, 1 = Monday ... 7 = Sunday (none: every "
                                            "day)")
    days_off: list[date] | None = Field(None, max_length=1000, description="休息日/节假日 "
                                        "dates off (leave, public holidays)")


class WorkerIn(Lonlat, WorkerHours):
    """A new grid worker (网格员): name, contact, base point and working hours."""

    name: Text = Field(min_length=1, max_length=100, description="姓名 name")
    phone: Text | None = Field(None, max_length=40)
    publish_name: bool = Field(False, description="同意公示姓名 consents to their name on the "
                               "grid's public notice (/public/grids/{code})")
    public_phone: Text | None = Field(None, max_length=40, description="公示电话 the number "
                                      "they chose to publish (may differ from phone)")
    employee_no: Text | None = Field(None, max_length=40, description="工号 employee number")
    on_duty: bool = True
    notes: Text | None = None


class WorkerPatch(Lonlat, WorkerHours):
    """Changes to a worker: only the fields given are changed."""

    name: Text | None = Field(None, min_length=1, max_length=100)
    phone: Text | None = Field(None, max_length=40)
    publish_name: bool | None = None
    public_phone: Text | None = Field(None, max_length=40)
    employee_no: Text | None = Field(None, max_length=40)
    on_duty: bool | None = None
    notes: Text | None = None


class WorkerOut(Orm):
    """A grid worker as the API shows them."""

    id: int
    name: str
    phone: str | None
    publish_name: bool = False
    public_phone: str | None = None
    employee_no: str | None
    on_duty: bool
    shift_start: str | None = None
    shift_end: str | None = None
    work_days: list[int] | None = None
    days_off: list[date] | None = None
    available_now: bool | None = Field(None, description="在岗可派 on duty, a work day and "
                                       "inside the shift right now (Beijing time)")
    notes: str | None
    lon: float | None = None
    lat: float | None = None
    created_at: datetime
    updated_at: datetime


class PartyMemberIn(BaseModel):
    """A new party member (党员), with their households and responsibility zone."""

    name: Text = Field(min_length=1, max_length=100)
    phone: Text | None = Field(None, max_length=40)
    branch: Text | None = Field(None, max_length=100, description="党支部 party branch")
    publish_consent: bool = Field(False, description="同意公示 consents to their name and "
                                  "branch on the grid's public notice")
    grid_code: str | None = Field(None, max_length=40)
    households: int = Field(0, ge=0)
    building_ids: list[str] = Field(default_factory=list)
    notes: Text | None = None
    zone: dict[str, Any] | None = Field(
        None, description="责任区 responsibility zone: GeoJSON Polygon/MultiPolygon geometry")


class PartyMemberPatch(BaseModel):
    """Changes to a party member: only the fields given are changed."""

    name: Text | None = Field(None, min_length=1, max_length=100)
    phone: Text | None = Field(None, max_length=40)
    branch: Text | None = Field(None, max_length=100)
    publish_consent: bool | None = None
    grid_code: str | None = Field(None, max_length=40)
    households: int | None = Field(None, ge=0)
    building_ids: list[str] | None = None
    notes: Text | None = None
    zone: dict[str, Any] | None = None


class PartyMemberOut(Orm):
    """A party member as the API shows them."""

    id: int
    name: str
    phone: str | None
    branch: str | None
    publish_consent: bool = False
    grid_code: str | None
    households: int
    building_ids: list[str]
    notes: str | None
    zone: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class ImportResult(BaseModel):
    """What an import of people (CSV) did: rows created, rows updated, their ids."""

    created: int
    updated: int
    ids: list[int]


FacilityTypeKey = Literal["garbage_point", "service_station", "activity_room", "canteen",
                         "clinic"]


class FacilityIn(BaseModel):
    """A facility placed by hand (dispatch.facilities.types for the types)."""

    type: FacilityTypeKey
    name: Text = Field("", max_length=200)
    lon: float = Field(ge=-180, le=180, description="经度 longitude, WGS84")
    lat: float = Field(ge=-90, le=90, description="纬度 latitude, WGS84")


class FacilityOut(BaseModel):
    """A stored facility: type, name, where it came from (osm, file, manual) and its point."""

    id: int
    type: str
    name: str
    source: str
    source_ref: str | None
    lon: float
    lat: float


class FacilityImportOut(BaseModel):
    """What an import of facilities did: how many were added (by type) and replaced."""

    created: int
    replaced: int
    by_type: dict[str, int]
    ids: list[int]


class FacilityOsmImport(BaseModel):
    """Import facilities from a dataset's OSM file (default: the active plan's dataset)."""

    dataset_id: int | None = None
    replace: bool = Field(False, description="先删除同类型设施 delete the stored facilities "
                                              "of the imported types first")


class TypeCoverageOut(BaseModel):
    """How one facility type serves the homes of the active plan, walking on the streets."""

    type: str
    name_zh: str
    name_en: str
    distance_m: float
    facilities: int
    buildings: int
    buildings_beyond: int
    households: int
    households_covered: int
    households_beyond: int
    share_covered: float


class FacilityCoverageOut(BaseModel):
    """Coverage of every facility type asked for (a worker: the homes of their grids)."""

    plan_id: int
    types: list[TypeCoverageOut]


class SiteIn(BaseModel):
    """A point, WGS84 degrees."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class SitingIn(BaseModel):
    """Where should ``k`` new facilities of ``type`` go? Candidates: the street nodes
    (thinned to ``max_candidates``) or the ``sites`` given."""

    type: FacilityTypeKey
    k: int = Field(ge=1, le=500)
    distance_m: float | None = Field(None, gt=0, le=5000,
                                     description="步行距离（米），默认按类型 walking distance, "
                                                 "default by type")
    candidates: Literal["streets", "sites"] = "streets"
    sites: list[SiteIn] = Field(default_factory=list, max_length=20000)
    max_candidates: int = Field(2000, ge=1, le=20000)
    time_limit_s: float = Field(10.0, gt=0, le=120)


class ProposedSite(BaseModel):
    """A proposed site and the households it newly serves (in order of gain)."""

    lon: float
    lat: float
    households_new: int


class SitingOut(BaseModel):
    """The proposal: sites, households served before and after, the greedy baseline, the
    solver's status (OPTIMAL: proven best) and gap, times and model sizes."""

    type: str
    distance_m: float
    k: int
    sites: list[ProposedSite]
    households: int
    covered_before: int
    covered_after: int
    share_before: float
    share_after: float
    greedy_covered_after: int
    status: str
    gap: float
    seconds: float
    stats: dict[str, float]


class ScoreIn(BaseModel):
    """A site moved by hand, with the other proposed sites (they count as built)."""

    type: FacilityTypeKey
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    distance_m: float | None = Field(None, gt=0, le=5000)
    proposed: list[SiteIn] = Field(default_factory=list, max_length=500)


class ScoreOut(BaseModel):
    """What the site adds: households newly served, households within reach at all."""

    type: str
    distance_m: float
    households_new: int
    households_within: int
    buildings_new: int
    snap_m: float


class IncidentIn(BaseModel):
    """A reported incident: category, description, WGS84 position and who reported it."""

    category: Text = Field(min_length=1, max_length=60, description="类别 category")
    description: Text = Field("", max_length=4000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    reporter_name: Text | None = Field(None, max_length=100)
    reporter_phone: Text | None = Field(None, max_length=40)
    channel: Channel | None = Field(None, description="上报渠道 how the report came "
                                    "(dispatch.channels; default by role: reporter app, "
                                    "worker patrol, operator phone_call, admin on_behalf)")


class IncidentOut(Orm):
    """An incident as the API shows it: stage (``status``), grid, worker and deadlines."""

    id: int
    category: str
    description: str
    status: str
    lon: float
    lat: float
    plan_id: int | None
    grid_code: str | None
    worker_id: int | None
    organisation_id: int | None = Field(None, description="转办单位 the organisation it is "
                                        "referred to now")
    channel: str = Field("app", description="上报渠道 the channel of the first report")
    created_at: datetime
    accept_by: datetime | None = None
    close_by: datetime | None = None
    overdue: bool = False
    escalated_to: str | None = None
    reporters: int = 1
    merged: bool = Field(False, description="重复上报已合并 the report joined an open incident")
    feedback_code: str | None = Field(
        None, description="一次性评价码 the reporter's one-time code to rate the incident once "
        "it is closed (POST /incidents/{id}/feedback); in the report's answer only, never "
        "shown again")


IncidentAction = Literal["accept", "reject", "dispatch", "start", "handle", "verify", "close",
                         "return", "claim", "note", "refer", "org_accept", "org_handle",
                         "org_return"]


class IncidentActionIn(BaseModel):
    """A step of an incident's handling (its role decides who may take it)."""

    action: IncidentAction = Field(description="accept 立案, reject 作废, dispatch 派遣, "
                                   "start 处置, handle 反馈, verify 核查, close 结案, "
                                   "return 退回, claim 认领 (微心愿), note 备注, refer 转办 "
                                   "(to an organisation), org_accept 承办, org_handle 办结, "
                                   "org_return 单位退回 (the organisation's steps; the reason "
                                   "in note)")
    note: Text = Field("", max_length=4000)
    worker_id: int | None = Field(None, description="dispatch: 指定网格员 the worker (else "
                                  "chosen by walking time, load and deadline)")
    claimant: Text | None = Field(None, max_length=100,
                                 description="claim: 认领的党员或志愿者 who claims a micro-wish")
    organisation_id: int | None = Field(None, description="refer: 承办单位 the organisation "
                                        "(else the one serving the category at the place, "
                                        "the smallest area first)")


class IncidentStepOut(Orm):
    """One step of an incident's history."""

    seq: int
    at: datetime
    stage: str
    action: str
    who: str
    note: str
    assignee: str | None


class RoutePlacement(BaseModel):
    """Where a dispatched incident went in its worker's visit route for today."""

    route_id: int | None = None
    seq: int | None = Field(None, description="停靠序号 its stop number (1 = first)")
    eta: datetime | None = Field(None, description="预计到达 arrival, Beijing time")
    stops: int = Field(0, description="今日事件停靠数 incident stops in the route")
    error: dict[str, str] | None = Field(None, description="路线未更新的原因 why the route was "
                                         "not updated ({zh, en}); the dispatch stands")


class IncidentDispatchOut(BaseModel):
    """An incident after a step; for a dispatch also the reason and the ranking."""

    incident: IncidentOut
    reason: str | None = None
    ranking: list[dict[str, Any]] = Field(default_factory=list)
    route: RoutePlacement | None = Field(None, description="dispatch: 今日路线 the stop in "
                                         "the worker's route for today")


StatisticsBy = Literal["grid", "worker", "category", "channel"]


class StatisticsGroup(BaseModel):
    """One group of incidents: only the key grouped by is in the answer (None: incidents
    without one)."""

    grid: str | None = None
    worker: str | None = Field(None, description="the worker id, as text")
    category: str | None = None
    channel: str | None = None
    incidents: int
    open: int
    overdue: int
    median_accept_h: float | None = Field(description="median hours from report to accepted")
    median_close_h: float | None = Field(description="median hours from report to closed")


class IncidentStatistics(BaseModel):
    """Incident counts and handling times grouped by grid, worker, category or channel."""

    by: StatisticsBy
    channel: str | None = Field(None, description="only incidents of this channel (None: all)")
    groups: list[StatisticsGroup]


class Escalated(BaseModel):
    """An overdue incident escalated to its community's grid leader (网格长)."""

    incident_id: int
    grid_code: str | None
    community: str | None
    leader_worker_id: int = Field(description="网格长 the community's grid leader")
    overdue_h: float = Field(description="hours past the deadline")


class EscalationOut(BaseModel):
    """The incidents escalated by one run of the escalation."""

    escalated: list[Escalated]


class Redispatched(BaseModel):
    """An incident of a worker gone off duty, dispatched to another."""

    incident_id: int
    to_worker: int
    reason: str
    route: RoutePlacement


class OffDutyOut(BaseModel):
    """A worker marked off duty and the incidents passed on to others."""

    worker_id: int
    on_duty: bool
    redispatched: list[Redispatched]


class DatasetOut(Orm):
    """An uploaded study area file with its import summary."""

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
    """What a partition job makes: a plan of a dataset, or the re-balancing of a plan."""

    dataset_id: int
    name: Text = Field("", max_length=200)
    target_households: int = Field(DEFAULT_TARGET, ge=10, le=5000, description="每格目标户数")
    seed: int = 0
    previous_plan_id: int | None = Field(None, description="re-balance this plan, fewest moves")
    locked: list[str] = Field(default_factory=list, description="grid codes kept exactly")
    split_units: str | None = Field(None, description="column with units (单元) per building")


class PlanOut(Orm):
    """A grid plan (draft, active or archived) with its summary."""

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
    """A background job: its state, progress and result."""

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
    """A grid that changed between two plans, with its households before and after."""

    code: str
    change: Literal["changed", "new", "gone"]
    households_before: int | None
    households_after: int | None


class BuildingMove(BaseModel):
    """A building that changed grid (or is new, or gone) between two plans."""

    building_id: str
    from_grid: str | None
    to_grid: str | None
    households: int
    change: Literal["moved", "new", "removed"]


class PlanDiff(BaseModel):
    """What changed from one plan to another: counts, grids and buildings."""

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
    """A worker (or grid leader) for a grid."""

    worker_id: int
    role: Literal["worker", "leader"] = "worker"


class AssignmentOut(Orm):
    """A grid's worker or leader in a plan."""

    id: int
    plan_id: int
    grid_id: int
    grid_code: str | None = None
    worker_id: int
    role: str
    source: str
    created_at: datetime


class RouteOut(Orm):
    """A worker's route for a day: stops in order, walking distance (m) and time (s)."""

    id: int
    plan_id: int
    worker_id: int
    day: date
    kind: str = Field(description="patrol 巡查 (street patrol) or visits 事件走访 (dispatched "
                      "incidents in visiting order)")
    stops: list[dict[str, Any]]
    distance_m: float
    duration_s: float


class TrackOut(Orm):
    """A worker's GPS track of a day against one of their routes, and what it showed
    (dispatch.tracks): points given and dropped by reason, streets walked, coverage, and the
    figures (missed streets, time in each grid, detours, stops reached)."""

    id: int
    route_id: int
    plan_id: int
    worker_id: int
    day: date
    kind: str = Field(description="the route's kind: patrol 巡查 or visits 事件走访")
    filename: str | None
    datum: str = Field(description="坐标系 the datum the track was given in")
    raw_points: int = Field(description="轨迹点数 points in the file")
    dropped: dict[str, int] = Field(description="剔除点数 points dropped by reason: duplicate, "
                                    "inaccurate, outlier, too_fast (> 15 km/h), stop, "
                                    "no_time; thinned (left out of matching)")
    matched_points: int
    walked_m: float = Field(description="走过的街道长度 length of the streets walked (m)")
    planned_m: float = Field(description="计划街道长度 length of the planned streets (m)")
    coverage: float | None = Field(description="巡查覆盖率 share of planned street length "
                                   "walked (0-1)")
    started_at: datetime | None
    ended_at: datetime | None
    figures: dict[str, Any]
    created_at: datetime


class PatrolCoverageOut(BaseModel):
    """Patrol figures of one grid and worker over a date range (api.store.tracks)."""

    grid_code: str
    worker_id: int
    days_tracked: int
    days_patrolled: int = Field(description="巡查达标天数 days with at least 30 minutes in "
                                "the grid")
    minutes: float
    planned_m: float
    walked_planned_m: float
    coverage: float | None


class AssignmentsCompute(BaseModel):
    """Limits of the workers' assignment to the plan's grids."""

    seconds: float = Field(5.0, gt=0, le=120, description="CP-SAT 求解时限 time limit, s")
    max_grids: int = Field(3, ge=1, le=1000, description="每名网格员最多网格数 most grids per "
                           "worker")
    max_households: int = Field(1200, ge=1, le=1_000_000,
                                description="每名网格员最多户数 most households per worker")


class RoutesCompute(BaseModel):
    """The day of the patrol routes and the exact model's time."""

    day: date | None = Field(None, description="日期 the routes' day (default today, Beijing)")
    exact_seconds: float = Field(0.1, ge=0, le=30,
                                 description="每个网格精确模型时限 exact model time per grid, s")


class PartyZonesCompute(BaseModel):
    """How many households a party member keeps contact with at most."""

    capacity: int = Field(20, ge=1, le=500,
                          description="每名党员联系户数上限 households per party member")


# ---- OGC API - Features documents (api.services.ogc) -----------------------------------------

class OgcLink(BaseModel):
    """A link of an OGC API document."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class OgcLandingPage(BaseModel):
    """The OGC API Features landing page."""

    title: str
    description: str
    attribution: str
    links: list[OgcLink]


class OgcConformance(BaseModel):
    """The OGC API conformance classes implemented."""

    model_config = ConfigDict(populate_by_name=True)

    conforms_to: list[str] = Field(alias="conformsTo")


class OgcSpatialExtent(BaseModel):
    """A collection's bounding box (CRS84)."""

    bbox: list[list[float]] = Field(description="minLon, minLat, maxLon, maxLat (CRS84)")
    crs: str


class OgcExtent(BaseModel):
    """A collection's extent."""

    spatial: OgcSpatialExtent


class OgcCollection(BaseModel):
    """An OGC API Features collection."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: str
    description: str
    item_type: str = Field(alias="itemType")
    crs: list[str]
    extent: OgcExtent
    links: list[OgcLink]


class OgcCollections(BaseModel):
    """The OGC API Features collections."""

    links: list[OgcLink]
    collections: list[OgcCollection]


# ---- Open311 GeoReport v2 (api.routers.open311) -----------------------------------------------

class Open311Service(BaseModel):
    """An Open311 GeoReport v2 service: an incident category."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311Created(BaseModel):
    """The answer to an Open311 service request: its id, or the open report it joined."""

    service_request_id: str
    service_notice: str = Field(description="重复上报已合并 when merged into an open report")
    account_id: str | None
    feedback_code: str | None = Field(
        None, description="extension: 一次性评价码 the one-time code to rate the request once "
        "closed (POST requests/{id}/feedback.json), shown once")


FeedbackRating = Literal["satisfied", "basic", "unsatisfied"]


class FeedbackIn(BaseModel):
    """A resident's rating of a closed incident: with the one-time code given at reporting
    (no token needed), or recorded by a grid worker on a resident's behalf (their token)."""

    rating: FeedbackRating = Field(description="satisfied 满意, basic 基本满意, "
                                   "unsatisfied 不满意")
    fixed: bool = Field(True, description="问题是否已解决 false: not fixed (reopens the "
                        "incident within 7 days of closing)")
    comment: Text = Field("", max_length=2000)
    code: Text | None = Field(None, max_length=40, description="一次性评价码 the code")
    channel: str | None = Field(None, max_length=20, description="渠道 dispatch.channels "
                                "(default: app with a code, on_behalf for a worker)")


class FeedbackOut(BaseModel):
    """A rating recorded, and whether it reopened the incident."""

    id: int
    incident_id: int
    rating: str
    fixed: bool
    channel: str
    on_behalf_of_resident: bool
    reopened: bool
    status: str = Field(description="the incident's stage after the rating")
    note_zh: str
    note_en: str


class Open311Request(BaseModel):
    """A service request record; times are ISO 8601 text with the Beijing offset."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str = Field(description="the worker id, as text")
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str
    address: str
    lat: float
    long: float
    extended_attributes: dict[str, Any] | None = Field(
        None, description="extensions=true: channel 上报渠道, stage, referral 转办 "
        "(organisation, status, deadlines)")


# ---- the plan editor (api.services.editor) ----------------------------------------------------

EditKind = Literal["move", "split", "merge", "lock", "unlock"]


class EditIn(BaseModel):
    """One edit of a draft plan, made on ``version`` (GET /plans/{id}/editor gives it).

    ``move``: ``buildings`` to ``grid``; ``split``: ``grid`` in two; ``merge``: ``other`` into
    ``grid``; ``lock`` / ``unlock``: ``grids`` (or ``grid``)."""

    version: int = Field(ge=0, description="草稿版本 the draft's version the edit is made on")
    kind: EditKind
    buildings: list[Annotated[str, Field(max_length=80)]] = Field(
        default_factory=list, max_length=20000, description="楼栋编号 building ids (move)")
    grid: str | None = Field(None, max_length=40, description="目标网格 target grid code")
    other: str | None = Field(None, max_length=40, description="被合并的网格 grid merged in")
    grids: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list,
                                                              max_length=2000)


class VersionIn(BaseModel):
    """An undo or redo, made on ``version``."""

    version: int = Field(ge=0)


class RebalanceIn(BaseModel):
    """Re-balance the unlocked grids of a draft from ``version`` (a job)."""

    version: int = Field(ge=0)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class DraftIn(BaseModel):
    """A new draft copied from a plan."""

    name: Text | None = Field(None, max_length=200)


class EditorGrid(BaseModel):
    """A grid of the draft with its figures (deviation: percent from its community's mean)."""

    code: str
    community: str
    kind: str
    households: int
    population: float
    buildings: int
    deviation_pct: float
    locked: bool
    worker: str | None = None
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON polygon, WGS84")


class EditorSummary(BaseModel):
    """The draft's figures: grids, households, max and mean |deviation| (residential grids)
    and the grids beyond the balance limit."""

    grids: int
    households: int
    max_deviation_pct: float
    mean_deviation_pct: float
    beyond_limit: list[str]


class EditorState(BaseModel):
    """The draft as the editor sees it."""

    plan_id: int
    name: str
    status: str
    version: int
    target_households: int
    summary: EditorSummary
    grids: list[EditorGrid]
    buildings: dict[str, str] = Field(description="楼栋所属网格 building_id -> grid code")
    can_undo: bool
    can_redo: bool
    active_plan_id: int | None


class EditMove(BaseModel):
    """A building that changed grid."""

    building_id: str
    from_grid: str
    to_grid: str


class EditOut(BaseModel):
    """What an edit (or undo, redo) did: the new version, the moves, the touched grids with
    their polygons, every grid's deviation and the plan's figures."""

    version: int
    kind: str
    changes: list[EditMove]
    created: list[str]
    removed: list[str]
    grids: list[EditorGrid]
    deviations: dict[str, float]
    summary: EditorSummary
    can_undo: bool
    can_redo: bool


class EditRecord(BaseModel):
    """One edit in a draft's list."""

    seq: int
    kind: str
    state: Literal["applied", "undone", "dropped"]
    version: int
    buildings: int
    author_id: int | None
    created_at: datetime


class EditorMove(BuildingMove):
    """A building whose grid differs from the active plan's, and its workers."""

    from_worker: str | None = None
    to_worker: str | None = None


class EditorGridChange(GridChange):
    """A grid changed, new or gone against the active plan, with its workers."""

    worker_before: str | None = None
    worker_after: str | None = None


class EditorDiff(PlanDiff):
    """A draft against the active plan: what moves, and whose worker changes."""

    grids: list[EditorGridChange]  # type: ignore[assignment]
    moves: list[EditorMove]  # type: ignore[assignment]
    grids_worker_changed: list[str]
    buildings_worker_changed: int


# ---- referral: organisations (承办单位) ----------------------------------------------------

OrgKind = Literal["property_company", "police", "sanitation", "utilities", "department",
                  "other"]
DeadlineText = Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*(h|wh|wd)\s*$",
                                    examples=["1wd", "8wh", "2h"])]


class CategoryDeadlines(BaseModel):
    """A category's own deadlines at an organisation."""

    accept: DeadlineText = "1wd"
    handle: DeadlineText = "5wd"


class OrganisationIn(BaseModel):
    """An organisation incidents are referred to, with the areas it serves (a GeoJSON
    Polygon or MultiPolygon, WGS84) and the categories; deadlines ``2h`` (hours), ``8wh``
    (working hours), ``1wd`` (working days), counted from the referral."""

    code: Text = Field(min_length=1, max_length=60, description="编码 unique code")
    name: Text = Field(min_length=1, max_length=200)
    kind: OrgKind = Field(description="property_company 物业, police 派出所, sanitation 环卫, "
                          "utilities 水电气热, department 职能部门, other")
    categories: list[Text] = Field(min_length=1, description="承办的事件类别 category ids")
    area: dict[str, Any] = Field(description="服务范围 GeoJSON Polygon or MultiPolygon (WGS84)")
    accept: DeadlineText = Field("1wd", description="承办时限 time to accept")
    handle: DeadlineText = Field("5wd", description="办结时限 time to handle")
    category_deadlines: dict[str, CategoryDeadlines] = Field(default_factory=dict)
    phone: Text | None = Field(None, max_length=40)


class OrganisationOut(BaseModel):
    """An organisation: its kind (with labels), categories, deadlines and the bounding box
    of its areas."""

    id: int
    code: str
    name: str
    kind: str
    kind_zh: str
    kind_en: str
    categories: list[str]
    accept: str
    handle: str
    category_deadlines: dict[str, dict[str, str]]
    phone: str | None = None
    bbox: list[float] | None = None
    area: dict[str, Any] | None = Field(None, description="GeoJSON (with ?geometry=true)")


class OrganisationImportOut(BaseModel):
    """What an import of organisations did (by code: created or updated)."""

    created: int
    updated: int
    organisations: list[OrganisationOut]


class ReferralOut(BaseModel):
    """One referral of an incident to an organisation and what became of it."""

    incident_id: int
    organisation_id: int
    status: str = Field(description="referred 待承办, accepted 承办中, handled 已办结, "
                        "returned 已退回, withdrawn 已改转")
    referred_at: datetime
    accept_by: datetime
    handle_by: datetime
    accepted_at: datetime | None
    handled_at: datetime | None
    returned_at: datetime | None
    reason: str
    overdue: bool


class OrganisationStats(BaseModel):
    """An organisation's referrals: received, with it now, overdue, accepted and handled (on
    time), returned, median hours from the referral to accepted and to handled."""

    organisation_id: int
    name: str
    kind: str
    received: int
    open: int
    overdue: int
    accepted: int
    accepted_on_time: int
    handled: int
    handled_on_time: int
    returned: int
    median_accept_h: float | None
    median_handle_h: float | None


class OrganisationStatistics(BaseModel):
    """Referral statistics per organisation (those without referrals: zero)."""

    organisations: list[OrganisationStats]


# ---- micro-wishes (微心愿) and volunteers ---------------------------------------------------

WishAction = Literal["claim", "unclaim", "done", "confirm", "reopen", "cancel"]
BoardBy = Literal["volunteer", "team", "grid"]


class AvailabilityWindow(BaseModel):
    """A weekly window a volunteer is available in (Beijing time)."""

    days: list[Weekday] = Field(min_length=1, description="星期 ISO weekdays, 1 = Monday")
    start: Clock
    end: Clock


class VolunteerIn(Lonlat):
    """A new volunteer: name, contact, home or base point (private), skills, availability,
    grids served, team, and consent for the name to be shown publicly. With
    ``party_member_id`` the record is that party member's (name and phone taken from it when
    not given)."""

    name: Text | None = Field(None, min_length=1, max_length=100, description="姓名 name")
    phone: Text | None = Field(None, max_length=40)
    consent_public_name: bool = Field(False, description="同意公开姓名 consent to show the "
                                      "name publicly")
    skills: list[Text] = Field(default_factory=list, max_length=20,
                               description="技能 skill ids or names (dispatch.community)")
    availability: list[AvailabilityWindow] | None = Field(
        None, max_length=14, description="可服务时段 weekly windows; none: any time")
    grid_codes: list[Text] = Field(default_factory=list, max_length=200,
                                   description="服务网格 grids served; empty: any")
    team_id: int | None = None
    party_member_id: int | None = Field(None, description="党员 the party member this is")
    max_open: int = Field(3, ge=1, le=50, description="同时认领上限 open claims at most")
    active: bool = True
    notes: Text | None = Field(None, max_length=2000)


class VolunteerPatch(Lonlat):
    """Changes to a volunteer: only the fields given are changed."""

    name: Text | None = Field(None, min_length=1, max_length=100)
    phone: Text | None = Field(None, max_length=40)
    consent_public_name: bool | None = None
    skills: list[Text] | None = Field(None, max_length=20)
    availability: list[AvailabilityWindow] | None = Field(None, max_length=14)
    grid_codes: list[Text] | None = Field(None, max_length=200)
    team_id: int | None = None
    max_open: int | None = Field(None, ge=1, le=50)
    active: bool | None = None
    notes: Text | None = Field(None, max_length=2000)


class VolunteerSelfPatch(Lonlat):
    """What a volunteer changes of their own record: contact, home, when they are available,
    whether they take wishes now, and whether their name may be shown publicly (other fields
    are refused: skills and grids are the office's to record)."""

    model_config = ConfigDict(extra="forbid")

    phone: Text | None = Field(None, max_length=40)
    consent_public_name: bool | None = None
    availability: list[AvailabilityWindow] | None = Field(None, max_length=14)
    active: bool | None = None


class VolunteerOut(BaseModel):
    """A volunteer as the caller may see them: phone, home point and notes only for admins
    and the volunteer themself (None otherwise)."""

    id: int
    name: str
    consent_public_name: bool
    skills: list[str]
    availability: list[AvailabilityWindow] | None
    grid_codes: list[str]
    team_id: int | None
    party_member_id: int | None
    max_open: int
    active: bool
    phone: str | None = None
    lon: float | None = None
    lat: float | None = None
    notes: str | None = None


class TeamIn(BaseModel):
    """A volunteer team: a unique name and the grids it serves."""

    name: Text = Field(min_length=1, max_length=100)
    grid_codes: list[Text] = Field(default_factory=list, max_length=200)
    notes: Text | None = Field(None, max_length=2000)


class TeamOut(Orm):
    """A volunteer team."""

    id: int
    name: str
    grid_codes: list[str]
    notes: str | None


class WishIn(BaseModel):
    """A micro-wish posted by a resident (their app or a building's QR poster) or entered
    for them by a grid worker or hotline operator (``channel`` phone_call, walk_in, door_visit,
    on_behalf). The exact point, name, phone and address stay private."""

    category: Text = Field(min_length=1, max_length=40, description="心愿类别 category id or "
                           "name (dispatch.community.wishes.CATEGORIES)")
    description: Text = Field("", max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    channel: Text | None = Field(None, max_length=20, description="渠道 dispatch.channels; "
                                 "default app (a reporter) or on_behalf (a worker)")
    resident_name: Text | None = Field(None, max_length=100)
    resident_phone: Text | None = Field(None, max_length=40)
    address: Text | None = Field(None, max_length=300)
    wanted_at: datetime | None = Field(None, description="希望时间 when the resident would like "
                                       "it done (naive: Beijing time)")


class WishOut(BaseModel):
    """A wish as the caller may see it: resident's name, phone, address and exact point only
    for admins and the grid's worker (None otherwise); ``lon``/``lat`` is the coarse public
    point (the grid's)."""

    id: int
    category: str
    category_name: str
    description: str
    status: str
    channel: str
    grid_code: str | None
    lon: float
    lat: float
    wanted_at: datetime | None
    volunteer_id: int | None
    hours: float | None
    created_at: datetime
    done_at: datetime | None = None
    confirmed_at: datetime | None = None
    resident_name: str | None = None
    resident_phone: str | None = None
    address: str | None = None
    exact_lon: float | None = None
    exact_lat: float | None = None


class WishPosted(WishOut):
    """The answer to a posting: the wish and its one-time confirmation code (shown once; the
    resident gives it to confirm that the wish was fulfilled)."""

    confirm_code: str


class WishActionIn(BaseModel):
    """A step of a wish: claim (``volunteer_id`` for admins and workers acting for one), unclaim,
    done (``hours``), confirm (``code`` for a resident), reopen, cancel."""

    action: WishAction
    volunteer_id: int | None = None
    hours: float | None = Field(None, gt=0, le=24)
    code: Text | None = Field(None, max_length=20, description="确认码 the one-time code")
    note: Text = Field("", max_length=2000)


class WishStepOut(BaseModel):
    """One step of a wish's history."""

    seq: int
    at: datetime
    stage: str
    action: str
    who: str
    note: str
    volunteer_id: int | None
    hours: float | None


class MatchOut(BaseModel):
    """A volunteer ranked for a wish (dispatch.community.matching): rank None and a reason
    (inactive, skill, time, load, distance) when not eligible."""

    volunteer_id: int
    name: str
    rank: int | None
    eligible: bool
    reason: str
    skill_match: bool
    available: bool
    serves_grid: bool
    walk_m: float | None
    open_claims: int
    score_m: float


class MatchesOut(BaseModel):
    """Volunteers ranked for a wish, and how long the ranking took."""

    wish_id: int
    matches: list[MatchOut]
    seconds: float


class BoardRow(BaseModel):
    """One line of the micro-star board: who (a volunteer's name only with consent), wishes
    fulfilled (confirmed), hours, wishes done awaiting confirmation."""

    key: str
    name: str | None
    fulfilled: int
    hours: float
    awaiting: int


class BoardOut(BaseModel):
    """The micro-star board (微星光) over a period."""

    by: BoardBy
    start: datetime | None
    end: datetime | None
    rows: list[BoardRow]


# ---- indicators (api.services.indicators) -----------------------------------------------------

class IndicatorDefinition(BaseModel):
    """What a figure means (dispatch.incidents.indicators)."""

    key: str
    name_zh: str
    name_en: str
    formula_zh: str
    formula_en: str
    unit: Literal["count", "ratio", "hours"]
    unit_zh: str
    source: str = Field(description="incidents, feedback, patrols or visits")


class IndicatorRow(BaseModel):
    """The figures of one grid, worker, community, street or district in one period (rates
    0..1 and hours None when their denominator is empty)."""

    key: str | None = Field(description="the grid code, worker id, community, street or "
                            "district; None: incidents without one")
    name: str | None
    period: str = Field(description="the period's first day, Beijing time (YYYY-MM-DD)")
    received: int
    accepted: int
    accepted_on_time: int
    accept_overdue: int
    accept_on_time_rate: float | None
    closed: int
    closed_on_time: int
    open_overdue: int
    on_time_rate: float | None
    accept_h_median: float | None
    accept_h_p90: float | None
    close_h_median: float | None
    close_h_p90: float | None
    reopened: int
    closed_ever: int
    reopened_share: float | None
    escalated: int
    ratings: int
    satisfied: int
    basic: int
    unsatisfied: int
    satisfaction_rate: float | None
    patrol_coverage: float | None = None
    visits_done: int | None = None


class IndicatorsOut(BaseModel):
    """The indicators of a level and period, with each figure's definition."""

    level: str
    period: str
    start: date = Field(description="first day, Beijing time")
    end: date = Field(description="last day (included), Beijing time")
    as_of: datetime = Field(description="the state of open incidents is read at this time")
    definitions: list[IndicatorDefinition]
    rows: list[IndicatorRow]


WishStatsBy = Literal["channel", "category", "grid"]


class WishStatsGroup(BaseModel):
    """Wishes of one channel, category or grid (``key``; None: without one)."""

    key: str | None
    name: str | None = Field(None, description="the channel's or category's name, zh and en")
    wishes: int
    open: int
    confirmed: int
    cancelled: int
    median_confirm_h: float | None = Field(description="median hours from posting to the "
                                           "resident's confirmation")


class WishStatistics(BaseModel):
    """Wishes counted per channel (how they reached the community), category or grid; the
    share entered for residents without a smartphone (phone call, walk-in, door visit, on
    behalf)."""

    by: WishStatsBy
    assisted_share: float | None = Field(description="wishes entered for residents by an "
                                         "assisted channel, share of all (None: no wishes)")
    groups: list[WishStatsGroup]
# ---- household visits (入户走访) -------------------------------------------------------------

VisitClassKey = Literal["key_person", "elderly_alone", "difficulty", "migrant", "ordinary"]


class VisitClassOut(BaseModel):
    """Households of one visit class in one building (the least detail kept: no names)."""

    building_id: str
    grid_code: str | None
    visit_class: VisitClassKey
    visit_class_zh: str
    households: int
    last_visit: date | None


class VisitClassCount(BaseModel):
    """Households of a class in a grid: what a planner sees instead of buildings."""

    grid_code: str | None
    visit_class: VisitClassKey
    households: int


class VisitClassesOut(BaseModel):
    """A plan's visit classes: ``rows`` for the responsible worker, their grid leader and
    admins (the grids they may see); ``counts`` per grid and class for everyone allowed."""

    plan_id: int
    rows: list[VisitClassOut] | None
    counts: list[VisitClassCount]


class VisitClassImportOut(BaseModel):
    """What an import of visit classes did: rows and households per class (the previous
    classes of the plan were replaced)."""

    plan_id: int
    rows: int
    buildings: int
    households: dict[str, int]


class VisitCalendarIn(BaseModel):
    """Compute visit calendars over ``weeks`` weeks from ``start`` (default: next Monday,
    Beijing) for the active plan's workers (all, or ``worker_ids``) and, with ``party``, its
    party members (at least 5 households a week each). ``band_pct``: each work day's load
    within this share of the worker's mean day (%); a worker's calendar outside it is
    searched further, and what the input forces is proven and reported (``forced_pct``);
    null: no such search (faster)."""

    start: date | None = None
    weeks: int = Field(8, ge=1, le=26)
    worker_ids: list[int] | None = None
    party: bool = True
    budget_s: float = Field(1.0, gt=0, le=30)
    band_pct: float | None = Field(15.0, gt=0, le=100)


class ScheduledVisitOut(BaseModel):
    """A visit of a calendar: a group of households of a class in a building, on a day."""

    day: date
    due: date
    building_id: str
    grid_code: str | None
    visit_class: VisitClassKey
    households: int
    early: bool


class CalendarDay(BaseModel):
    """One day of a calendar: households and buildings to visit (a planner sees these)."""

    day: date
    households: int
    buildings: int


class CalendarOut(BaseModel):
    """A worker's or party member's visit calendar: per day, and the visits themselves
    unless the caller may only see counts."""

    person_kind: Literal["worker", "party"]
    person_id: int
    days: list[CalendarDay]
    visits: list[ScheduledVisitOut] | None


class VisitDoneIn(BaseModel):
    """A visit done at a building: all its classes, or one; now unless ``done_at``.
    ``group_id``: the visit calendar's group it was made for (a scheduled visit's
    ``group_id``, ``building_id/class/trip``): that batch of the building's households is
    recorded as visited (without it: the batch of the class visited longest ago)."""

    building_id: str = Field(min_length=1, max_length=80)
    visit_class: VisitClassKey | None = None
    group_id: str | None = Field(default=None, min_length=1, max_length=140)
    done_at: datetime | None = None
    worker_id: int | None = None


class VisitDoneOut(BaseModel):
    """A recorded visit."""

    id: int
    building_id: str
    visit_class: str | None
    group_id: str | None = None
    done_at: datetime
    source: str
    worker_id: int | None


class DayStopOut(BaseModel):
    """A stop of a day's route: a building's visits or an incident, with its ETA."""

    seq: int
    kind: Literal["visit", "incident"]
    ref: str
    lon: float
    lat: float
    eta: datetime
    households: int = 0
    done: bool = False


class DayRouteOut(BaseModel):
    """A worker's route for a day: the day's visits and dispatched incidents, those done first
    and fixed, the rest in walking order from now."""

    worker_id: int
    day: date
    stops: list[DayStopOut]
    distance_m: int
    dropped: list[str]


class DayRouteAddIn(BaseModel):
    """A building visit added to today's route (the route is re-planned, done stops kept)."""

    worker_id: int
    building_id: str = Field(min_length=1, max_length=80)
    households: int = Field(1, ge=1, le=500)




class ReferralCandidate(BaseModel):
    """An organisation that could take an incident: it serves its category at its place; the
    first one listed is the one ``refer`` chooses (the smallest area holding the point)."""

    organisation_id: int
    name: str
    kind: str
    area_m2: float = Field(description="面积 the holding area, geodesic m²")
    accept: str
    handle: str




# ---- levels above the community (api.services.levels) ----------------------------------------

class DistrictIn(BaseModel):
    """A district (区/县) by its GB/T 2260 code."""

    code: str = Field(max_length=20, description="6 位行政区划代码 GB/T 2260 code",
                      examples=["320106"])
    name: Text = Field(min_length=1, max_length=100, examples=["鼓楼区"])


class StreetIn(BaseModel):
    """A street office (街道) of a district."""

    district_id: int
    code: str = Field(max_length=20, description="街道 3 位代码 the street's 3 digits "
                      "within the district", examples=["001"])
    name: Text = Field(min_length=1, max_length=100, examples=["宁海路街道"])


class CommunityIn(BaseModel):
    """A community (社区) of a street, by its code as the plans use it."""

    street_id: int
    code: Text = Field(min_length=1, max_length=100, description="社区代码 as in the plans "
                       "(the 12-digit statistical code when the data has one)",
                       examples=["320106001001"])
    name: Text = Field(min_length=1, max_length=100)


class LevelPatch(BaseModel):
    """Changes to a district, street or community: its name, or where it belongs."""

    name: Text | None = Field(None, min_length=1, max_length=100)
    district_id: int | None = Field(None, description="streets: move to this district")
    street_id: int | None = Field(None, description="communities: move to this street")


class CommunityOut(Orm):
    """A community and how many grids of the active plan it has."""

    id: int
    code: str
    name: str
    street_id: int
    grids: int = 0


class StreetOut(Orm):
    """A street office: its 3-digit code and the 9-digit code with its district's."""

    id: int
    district_id: int
    code: str
    full_code: str
    name: str
    communities: list[CommunityOut] = Field(default_factory=list)


class DistrictOut(Orm):
    """A district with its streets."""

    id: int
    code: str
    name: str
    streets: list[StreetOut] = Field(default_factory=list)


class LevelsTree(BaseModel):
    """Districts > streets > communities, and the communities of the active plan that are in
    no street yet."""

    districts: list[DistrictOut]
    unplaced_communities: list[str] = Field(
        description="启用方案中尚未归属街道的社区代码 community codes of the active plan in "
        "no street")


class LevelsImportResult(BaseModel):
    """What a CSV import of the levels did."""

    districts: int
    streets: int
    communities: int
    created: int
    updated: int


# ---- the public notice (api.services.public): public fields only -----------------------------

class PublicWorker(BaseModel):
    """A grid's worker or leader as the public notice shows them: the name only with their
    consent, the phone only the one they chose to publish."""

    role: Literal["worker", "leader"]
    role_name: str = Field(examples=["网格员 Grid worker"])
    name: str | None = Field(None, description="姓名 only when they consented (publish_name)")
    public_phone: str | None = Field(None, description="公示电话 the number they chose to "
                                     "publish (never their own phone)")


class PublicPartyMember(BaseModel):
    """A party member of the grid's responsibility zones who consented to be named."""

    name: str
    branch: str | None = None


class PublicIndicators(BaseModel):
    """A month's public figures of a grid or level (api.services.public.DEFINITIONS)."""

    month: str = Field(examples=["2026-12"], description="月份 the month, Beijing time")
    reported: int = Field(description="本月上报事件数 incidents reported in the month")
    closed: int = Field(description="本月办结事件数 incidents closed in the month")
    closed_on_time: int = Field(description="按期办结数 of those, closed by their deadline")
    on_time_share: float | None = Field(
        None, description="按期办结率 closed_on_time / closed (None when none closed)")


class PublicIndicatorGroup(PublicIndicators):
    """The month's public figures of one grid, community, street or district."""

    level: Literal["grid", "community", "street", "district"]
    code: str | None = Field(description="代码 None: grids whose community is in no street")
    name: str | None = None


class PublicIndicatorTable(BaseModel):
    """The month's public figures by level, and what each figure means."""

    month: str
    by: str
    groups: list[PublicIndicatorGroup]
    definitions: dict[str, str]


class PublicGridNotice(BaseModel):
    """What the public notice of a grid says (网格公示): public fields only."""

    code: str
    community: str | None = None
    community_name: str | None = None
    street_name: str | None = None
    district_name: str | None = None
    workers: list[PublicWorker]
    party_members: list[PublicPartyMember]
    indicators: PublicIndicators
    hotline: str | None = None
    page_url: str
    poster_url: str
    attribution: str | None = None
