"""Household visits (入户走访): visit classes, calendars, visits done, today's route.

Who sees what (the classes are sensitive: a household's situation):

- admins: everything;
- a worker: the class rows, calendars and routes of the grids they are responsible for and,
  as grid leader (网格长, an assignment of role ``leader``), of every grid of the
  communities they lead; their own calendar and route only;
- planners: counts only (households per grid and class, visits per day), no building;
- reporters and other roles: nothing.

Calendars are computed by dispatch.schedule.calendar (CP-SAT) per worker over their grids'
buildings, in a job (api.jobs.visits) or directly (:func:`compute_calendars`); a day's route by
dispatch.schedule.day_route over the day's visits and the incidents dispatched to the worker,
the visits done today as its fixed prefix. Buildings are placed in a local UTM CRS for the
calendar (clusters and approaches, m) and on the dataset's walk network for routes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO

import geopandas as gpd
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, forbid_other_worker
from api.errors import ApiError, not_found
from api.schemas import (
    CalendarDay,
    CalendarOut,
    DayRouteOut,
    DayStopOut,
    ScheduledVisitOut,
    VisitCalendarIn,
    VisitClassCount,
    VisitClassesOut,
    VisitClassImportOut,
    VisitClassOut,
    VisitDoneIn,
    VisitDoneOut,
)
from api.services.worker_hours import shift_seconds
from api.settings import Settings
from api.store import models as m
from api.store import visits as store
from api.store.plans import active_plan_id, buildings_frame
from dispatch.incidents.lifecycle import WITH_WORKER
from dispatch.incidents.rules import BEIJING, Rules, beijing
from dispatch.routing.visits import Stop
from dispatch.schedule.calendar import (
    Calendar,
    Group,
    ScheduledVisit,
    WorkDay,
    load_of,
    make_groups,
    plan_calendars,
    work_days,
)
from dispatch.schedule.classes import CLASSES, ORDINARY, PARTY_MIN_WEEKLY, household_classes
from dispatch.schedule.classes import read_visit_classes as read_csv
from dispatch.schedule.day_route import plan_day
from dispatch.schedule.horizon import batch_of_trip, split_group_id
from gis.errors import ArgumentError

SOURCES = ("worker", "party", "track", "admin")
INCIDENT_SERVICE_S = 900  # time at an incident in a day's route
PARTY_VISIT_MIN = 60  # minutes a party member gives visits on a day
MAX_CSV_BYTES = 5 * 1024 * 1024


# ---- who may see which grids -----------------------------------------------------------------

def visible_grids(session: Session, who: Principal, plan_id: int) -> set[str] | None:
    """Grid codes whose class data ``who`` may see; None: all (admins)."""
    if who.role == "admin":
        return None
    if who.role != "worker" or who.worker_id is None:
        return set()
    rows = session.execute(select(m.GridRow.code, m.GridRow.community, m.AssignmentRow.role)
                           .join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
                           .where(m.AssignmentRow.plan_id == plan_id,
                                  m.AssignmentRow.worker_id == who.worker_id)).all()
    codes = {code for code, _, role in rows if role == "worker"}
    led = {community for _, community, role in rows if role == "leader"}
    if led:
        codes |= set(session.scalars(select(m.GridRow.code).where(
            m.GridRow.plan_id == plan_id, m.GridRow.community.in_(led))))
    return codes


def _plan_id(session: Session, plan_id: int | None) -> int:
    if plan_id is not None:
        if session.get(m.PlanRow, plan_id) is None:
            raise not_found("网格方案", "plan", plan_id)
        return plan_id
    active = active_plan_id(session)
    if active is None:
        raise ApiError(409, "no_active_plan", "尚无启用的网格方案", "there is no active plan")
    return active


# ---- classes -----------------------------------------------------------------------------

def _residential(session: Session, plan_id: int) -> pd.DataFrame:
    rows = session.execute(select(m.PlanBuildingRow.building_id, m.PlanBuildingRow.grid_code,
                                  m.PlanBuildingRow.households)
                           .where(m.PlanBuildingRow.plan_id == plan_id,
                                  m.PlanBuildingRow.residential.is_(True),
                                  m.PlanBuildingRow.households > 0)).all()
    return pd.DataFrame(rows, columns=["building_id", "grid_code", "households"])


def import_classes(session: Session, plan_id: int, data: BinaryIO,
                   filename: str | None) -> VisitClassImportOut:
    """Replace the plan's visit classes with a CSV file's (dispatch.schedule.classes), checked
    against the plan's residential buildings; a bad row imports nothing (InputError, 422).
    Committed."""
    if session.get(m.PlanRow, plan_id) is None:
        raise not_found("网格方案", "plan", plan_id)
    raw = data.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise ApiError(413, "too_large", "走访类别文件超过 5 MB", "the class file exceeds 5 MB")
    buildings = _residential(session, plan_id)
    frame = read_csv(raw, buildings=buildings.set_index("building_id")["households"],
                     name=filename or "visit_classes.csv")
    grid_of = dict(zip(buildings["building_id"], buildings["grid_code"], strict=True))
    store.replace_classes(session, plan_id, frame, grid_of)
    session.commit()
    return VisitClassImportOut(
        plan_id=plan_id, rows=len(frame), buildings=int(frame["building_id"].nunique()),
        households={k: int(v) for k, v in frame.groupby("visit_class")["households"].sum()
                    .items()})


def read_classes(session: Session, who: Principal, plan_id: int | None,
                 grid_code: str | None = None) -> VisitClassesOut:
    """The classes ``who`` may see: rows of their grids (admins: all), counts for all."""
    plan_id = _plan_id(session, plan_id)
    grids = visible_grids(session, who, plan_id)
    rows = store.classes(session, plan_id)
    if grid_code is not None:
        rows = [r for r in rows if r.grid_code == grid_code]
    counts: dict[tuple[str | None, str], int] = defaultdict(int)
    for r in rows:
        counts[r.grid_code, r.visit_class] += r.households
    mine = rows if grids is None else [r for r in rows if r.grid_code in grids]
    shown = None
    if who.role in ("admin", "worker"):
        shown = [VisitClassOut(building_id=r.building_id, grid_code=r.grid_code,
                               visit_class=r.visit_class,
                               visit_class_zh=CLASSES[r.visit_class].zh,
                               households=r.households, last_visit=r.last_visit) for r in mine]
    if who.role == "worker":  # a worker's counts: of what they may see
        counts = defaultdict(int)
        for r in mine:
            counts[r.grid_code, r.visit_class] += r.households
    return VisitClassesOut(plan_id=plan_id, rows=shown, counts=[
        VisitClassCount(grid_code=g, visit_class=c, households=n)
        for (g, c), n in sorted(counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))])


# ---- calendars ---------------------------------------------------------------------------

def next_monday(now: datetime) -> date:
    """The Monday after ``now`` (Beijing), or today when it is a Monday."""
    today = beijing(now).date()
    return today + timedelta(days=(7 - today.weekday()) % 7)


def _places(session: Session, plan_id: int) -> gpd.GeoDataFrame:
    """The plan's residential buildings as points in a local UTM CRS (m)."""
    frame = buildings_frame(session, plan_id)
    frame = frame[frame["residential"].astype(bool) & (frame["households"] > 0)]
    if frame.empty:
        raise ArgumentError(f"方案 {plan_id} 没有住宅楼栋", f"plan {plan_id} has no homes")
    crs = frame.estimate_utm_crs()
    points = frame.geometry.to_crs(crs).centroid
    return gpd.GeoDataFrame({"building_id": frame["building_id"].astype(str),
                             "grid_code": frame["grid_id"],
                             "households": frame["households"].astype(int),
                             "x": points.x, "y": points.y}, geometry=points, crs=crs)


def _class_table(session: Session, plan_id: int, places: pd.DataFrame) -> pd.DataFrame:
    """Every household of every home in a class, with last visits (classes, visits done).
    The latest visit done at a building naming no visit group counts for its ordinary
    households: for the ones last visited longest ago when the building has several
    ordinary rows (api.store.visits.visited_first, as a visit recorded moves a stored row);
    one naming an ordinary group counts for that group's row (the households no stored row
    names too: a visit done moves only stored rows), as the trips are numbered
    (dispatch.schedule.horizon.batch_of_trip)."""
    stored = store.classes(session, plan_id)
    given = pd.DataFrame([(r.building_id, r.visit_class, r.households, r.last_visit)
                          for r in stored],
                         columns=["building_id", "visit_class", "households", "last_visit"])
    table = household_classes(places.set_index("building_id")["households"], given)
    done = store.last_visits(session, plan_id, unnamed=True)
    lasts: list[date | None] = [r if isinstance(r, date) else None for r in table["last_visit"]]
    ordinary: dict[str, list[int]] = defaultdict(list)
    for i, (b, c) in enumerate(zip(table["building_id"], table["visit_class"], strict=True)):
        if c == ORDINARY:
            ordinary[b].append(i)
    for (b, trip), at in store.group_visits(session, plan_id).items():
        rows = ordinary.get(b, [])
        k = batch_of_trip([int(table["households"].iat[i]) for i in rows], ORDINARY, trip)
        day = _stored_day(at)
        if k is not None and store.before(lasts[rows[k]], day):
            lasts[rows[k]] = day
    for b, rows in ordinary.items():
        if b not in done:
            continue
        day = _stored_day(done[b])
        k = store.visited_first([lasts[i] for i in rows], day)
        if k is not None:
            lasts[rows[k]] = day
    table["last_visit"] = lasts
    xy = places.set_index("building_id")[["x", "y"]]
    return table.join(xy, on="building_id")


def _stored_day(at: datetime) -> date:
    """The Beijing date of a stored time (UTC; SQLite gives it back without a zone)."""
    return beijing(at if at.tzinfo else at.replace(tzinfo=UTC)).date()


def _worker_days(worker: m.WorkerRow, start: date, weeks: int, rules: Rules) -> list[WorkDay]:
    begin, end = shift_seconds(worker)
    shift_min = min((end - begin) // 60, 8 * 60)
    days_off = [date.fromisoformat(d) for d in worker.days_off or []]
    return work_days(start, weeks, weekdays=worker.work_days or None, days_off=days_off,
                     holidays=rules.calendar.holidays, workdays=rules.calendar.workdays,
                     shift_min=shift_min)


# A re-plan levels its days against the worker's level over this many weeks before it.
PAST_WEEKS = 4


def _replan(session: Session, plan_id: int, worker: m.WorkerRow, groups: list[Group],
            start: date, rules: Rules, base: tuple[float, float] | None) -> dict[str, object]:
    """What a weekly re-plan follows from the worker's stored calendar (none: a first plan):
    ``previous``, its visits from ``start`` on (each group starts where it was, so the plan
    does not move what it need not), and ``past_loads``, the loads of the worker's work days
    of the PAST_WEEKS before ``start`` since that calendar began (the visits planned for
    them: the band is measured against those days and the horizon's together, so the plan
    keeps the worker's level rather than its own horizon's mean, which drifts week by
    week). Groups no longer in the worker's groups (classes re-imported) are left out."""
    rows = store.calendar(session, plan_id, "worker", worker.id,
                          first=start - timedelta(weeks=PAST_WEEKS))
    known = {g.group_id for g in groups}
    visits = [ScheduledVisit(r.group_id, r.building_id, r.visit_class, r.households, r.day,
                             r.due, 0, r.early) for r in rows if r.group_id in known]
    began = min((v.day for v in visits), default=start)
    if not visits or began > start:
        return {}  # a calendar stored for later days only: this one does not re-plan it
    past_days = [d for d in _worker_days(worker, start - timedelta(weeks=PAST_WEEKS),
                                         PAST_WEEKS, rules) if began <= d.day < start]
    worked = {d.day for d in past_days}
    loads = load_of([v for v in visits if v.day in worked], groups, past_days, base)
    return {"previous": [v for v in visits if v.day >= start],
            "past_loads": [loads[d.day] for d in past_days]}


def plan_calendars_for(session: Session, rules: Rules, params: dict,
                       progress: Callable[[str], object] | None = None) -> dict:
    """Compute the visit calendars of the active plan (or ``params["plan_id"]``); reads only.

    Args:
        params: VisitCalendarIn's fields (``start`` as an ISO date), ``plan_id``.

    Returns:
        ``plan_id``, ``start``, ``weeks``, ``calendars`` (a summary per person) and
        ``rows`` (per person: kind, id, scheduled visit fields) for :func:`save_calendars`.
    """
    body = VisitCalendarIn.model_validate(params)
    plan_id = _plan_id(session, params.get("plan_id"))
    start = body.start or next_monday(datetime.now(UTC))
    plan = session.get_one(m.PlanRow, plan_id)
    # households whose last visit is not known are spread over the period before the plan
    # went live, the same for every calendar computed on it
    anchor = beijing(plan.activated_at or plan.created_at or datetime.now(UTC)).date()
    places = _places(session, plan_id)
    table = _class_table(session, plan_id, places)
    grid_of = dict(zip(places["building_id"], places["grid_code"], strict=True))
    jobs: list[tuple[object, list[Group], list[WorkDay], dict[str, object]]] = []
    owners: list[tuple[str, int]] = []
    assigned = session.execute(select(m.AssignmentRow.worker_id, m.GridRow.code)
                               .join(m.GridRow, m.GridRow.id == m.AssignmentRow.grid_id)
                               .where(m.AssignmentRow.plan_id == plan_id,
                                      m.AssignmentRow.role == "worker")).all()
    grids_of: dict[int, set[str]] = defaultdict(set)
    for wid, code in assigned:
        grids_of[wid].add(code)
    wanted = set(body.worker_ids) if body.worker_ids is not None else set(grids_of)
    for wid in sorted(wanted):
        worker = session.get(m.WorkerRow, wid)
        if worker is None:
            raise ArgumentError(f"网格员 {wid} 不存在", f"worker {wid} not found")
        rows = table[table["building_id"].map(grid_of).isin(grids_of.get(wid, set()))]
        if rows.empty:
            continue
        groups = make_groups(rows, start=anchor)
        base = _base(worker, places)
        jobs.append((wid, groups, _worker_days(worker, start, body.weeks, rules),
                     {"base": base, "budget_s": body.budget_s, "band_pct": body.band_pct,
                      **_replan(session, plan_id, worker, groups, start, rules, base)}))
        owners.append(("worker", wid))
    if body.party:
        for member in session.scalars(select(m.PartyMemberRow).order_by(m.PartyMemberRow.id)):
            groups = _party_groups(member, places, table, anchor)
            if not groups:
                continue
            days = work_days(start, body.weeks, weekdays=range(1, 8),
                             shift_min=PARTY_VISIT_MIN, visit_share=1.0)
            # no daily band for party members: a few households a week, most days empty
            jobs.append((member.id, groups, days, {"min_weekly": PARTY_MIN_WEEKLY,
                                                   "budget_s": body.budget_s / 4,
                                                   "band_pct": None}))
            owners.append(("party", member.id))
    if progress:
        progress(f"{len(jobs)} calendars")
    calendars = plan_calendars(jobs, start, processes=1)
    out_rows = []
    summary = []
    for (kind, pid), cal in zip(owners, calendars, strict=True):
        out_rows.append({"person_kind": kind, "person_id": pid, "visits": [
            {"group_id": v.group_id, "building_id": v.building_id,
             "grid_code": grid_of.get(v.building_id), "visit_class": v.visit_class,
             "households": v.households, "day": v.day, "due": v.due, "early": v.early}
            for v in cal.visits]})
        summary.append(_summary(kind, pid, cal))
    return {"plan_id": plan_id, "start": start.isoformat(), "weeks": body.weeks,
            "calendars": summary, "rows": out_rows}


def save_calendars(session: Session, computed: dict, job_id: int | None = None) -> None:
    """Store :func:`plan_calendars_for`'s calendars, each replacing its person's visits from
    the start on, in ``session``'s transaction."""
    start = date.fromisoformat(computed["start"])
    for person in computed["rows"]:
        store.replace_calendar(session, computed["plan_id"], person["person_kind"],
                               person["person_id"], start, person["visits"], job_id)


def compute_calendars(session: Session, rules: Rules, params: dict) -> dict:
    """Compute and store the calendars in one session (the demo, tests); the summary."""
    computed = plan_calendars_for(session, rules, params)
    save_calendars(session, computed)
    return {k: v for k, v in computed.items() if k != "rows"}


def _summary(kind: str, pid: int, cal: Calendar) -> dict:
    """A calendar's figures (counts only: planners read them too). ``band_pct``: the band
    of the daily load around the mean asked for (workers: 15%); ``forced_pct``: when the
    calendar is outside it, the deviation no calendar keeping every visit on time can go
    below (proven: the model's linear relaxation, or CP-SAT); ``band_forced``: the band is
    out of reach for this input (visits already due in the first days, leave);
    ``exact_band``: what the whole-horizon band model did for a calendar still outside the
    band with nothing proven ("found": within it, "proven": none is, "open"; None: not run);
    ``past_days``: the worked days a re-plan measured its band with (0: a first plan)."""
    return {"person_kind": kind, "person_id": pid, "due": cal.due, "visits": len(cal.visits),
            "scheduled_pct": round(cal.scheduled_pct, 1),
            "max_day_deviation_pct": round(cal.max_deviation_pct, 1),
            "band_pct": cal.band_pct, "forced_pct": cal.forced_pct,
            "band_forced": cal.band_forced, "exact_band": cal.exact_band,
            "past_days": cal.past.days,
            "status": cal.status,
            "seconds": cal.seconds, "weekly_shortfall": sum(cal.weekly_shortfall)}


def _base(worker: m.WorkerRow, places: gpd.GeoDataFrame) -> tuple[float, float] | None:
    if worker.geom is None:
        return None
    p = gpd.GeoSeries([worker.geom], crs="EPSG:4326").to_crs(places.crs).iloc[0]
    return float(p.x), float(p.y)


def _party_groups(member: m.PartyMemberRow, places: pd.DataFrame, table: pd.DataFrame,
                  anchor: date) -> list[Group]:
    """A party member's households as single-household groups (no class: party members do
    not see classes), often enough for PARTY_MIN_WEEKLY a week."""
    ids = [str(b) for b in member.building_ids or []]
    zone = places[places["building_id"].isin(ids)]
    if zone.empty or member.households <= 0:
        return []
    share = zone["households"] / zone["households"].sum() * member.households
    counts = share.round().clip(lower=1).astype(int)
    period = max(7, int(7 * int(counts.sum()) / PARTY_MIN_WEEKLY))
    last = table.groupby("building_id")["last_visit"].max()
    rows = pd.DataFrame({"building_id": zone["building_id"], "visit_class": ORDINARY,
                         "households": counts, "x": zone["x"], "y": zone["y"],
                         "last_visit": [last.get(b) if isinstance(last.get(b), date) else None
                                        for b in zone["building_id"]]})
    return make_groups(rows, chunk_min=CLASSES[ORDINARY].service_min, start=anchor,
                       period_cap=period)


def read_calendar(session: Session, who: Principal, *, worker_id: int | None,
                  party_member_id: int | None, first: date | None,
                  last: date | None) -> CalendarOut:
    """A worker's (a worker: their own) or party member's calendar; planners see counts."""
    if (worker_id is None) == (party_member_id is None):
        raise ApiError(422, "bad_person", "请给出 worker_id 或 party_member_id 之一",
                       "give one of worker_id or party_member_id")
    if who.role not in ("admin", "worker", "planner"):
        raise ApiError(403, "forbidden", "无权查看走访日历", "may not read visit calendars")
    if party_member_id is not None:
        if who.role == "worker":
            raise ApiError(403, "forbidden", "网格员只能查看本人的走访日历",
                           "a worker may only see their own calendar")
        kind, pid = "party", party_member_id
    else:
        assert worker_id is not None
        forbid_other_worker(who, worker_id)
        kind, pid = "worker", worker_id
    plan_id = _plan_id(session, None)
    rows = store.calendar(session, plan_id, kind, pid, first, last)
    days: dict[date, tuple[int, set[str]]] = {}
    for r in rows:
        n, b = days.get(r.day, (0, set()))
        b.add(r.building_id)
        days[r.day] = (n + r.households, b)
    visits = None
    if who.role != "planner":
        visits = [ScheduledVisitOut(day=r.day, due=r.due, building_id=r.building_id,
                                    grid_code=r.grid_code,
                                    visit_class=r.visit_class,
                                    households=r.households, early=r.early) for r in rows]
    return CalendarOut(person_kind=kind, person_id=pid,
                       days=[CalendarDay(day=d, households=n, buildings=len(b))
                             for d, (n, b) in sorted(days.items())], visits=visits)


# ---- visits done ---------------------------------------------------------------------------

def record_visit_done(session: Session, *, building_id: str, done_at: datetime, source: str,
                      worker_id: int | None = None, party_member_id: int | None = None,
                      visit_class: str | None = None, plan_id: int | None = None,
                      token_id: int | None = None, group_id: str | None = None
                      ) -> m.VisitDoneRow:
    """Record a household visit done at a building of the active plan (or ``plan_id``),
    e.g. from a worker's matched GPS track (``source="track"``, the reached stop's planned
    visits); the calendar's next run counts from it. In the caller's transaction.
    ``group_id``: the calendar's visit group (a scheduled visit's ``group_id``) the visit was
    made for: its batch of the building's households moves (api.store.visits.add_done); its
    class is the visit's (None: ``visit_class`` as given; without either, every class).

    Raises:
        ArgumentError: unknown source, class or building; a group id that is not one of the
            building's (or of another class than ``visit_class``).
    """
    if source not in SOURCES:
        raise ArgumentError(f"来源 {source!r} 无效，应为 {', '.join(SOURCES)}",
                            f"source {source!r} is not one of {', '.join(SOURCES)}")
    if visit_class is not None and visit_class not in CLASSES:
        raise ArgumentError(f"走访类别 {visit_class!r} 无效",
                            f"unknown visit class {visit_class!r}")
    if group_id is not None:
        visit_class = _group_class(group_id, building_id, visit_class)
    plan_id = _plan_id(session, plan_id)
    grid = session.execute(select(m.PlanBuildingRow.grid_code).where(
        m.PlanBuildingRow.plan_id == plan_id,
        m.PlanBuildingRow.building_id == building_id)).first()
    if grid is None:
        raise ArgumentError(f"楼栋 {building_id} 不在网格方案 {plan_id} 中",
                            f"building {building_id} is not in plan {plan_id}")
    when = done_at if done_at.tzinfo else done_at.replace(tzinfo=BEIJING)
    return store.add_done(session, plan_id=plan_id, building_id=building_id,
                          grid_code=grid[0], done_at=when.astimezone(UTC), source=source,
                          visit_class=visit_class, worker_id=worker_id,
                          party_member_id=party_member_id, token_id=token_id,
                          group_id=group_id)


def _group_class(group_id: str, building_id: str, visit_class: str | None) -> str:
    """The class of a visit group named with a visit done at ``building_id``.

    Raises:
        ArgumentError: not a group id (``building_id/class/trip``), of another building, or
            of another class than ``visit_class``.
    """
    named = split_group_id(group_id)
    if named is None or named[0] != building_id:
        raise ArgumentError(
            f"走访组 {group_id!r} 不是楼栋 {building_id} 的走访组"
            "（应为 楼栋/类别/序号，见走访日历）",
            f"visit group {group_id!r} is not one of building {building_id} (building/class/"
            "trip, as the visit calendar gives it)")
    if visit_class is not None and named[1] != visit_class:
        raise ArgumentError(f"走访组 {group_id!r} 的类别不是 {visit_class}",
                            f"visit group {group_id!r} is not of class {visit_class}")
    return named[1]


def record_done(session: Session, who: Principal, body: VisitDoneIn) -> VisitDoneOut:
    """A worker records a visit at a building of their grids (admins: any, for a worker);
    committed."""
    plan_id = _plan_id(session, None)
    grids = visible_grids(session, who, plan_id)
    grid = session.execute(select(m.PlanBuildingRow.grid_code).where(
        m.PlanBuildingRow.plan_id == plan_id,
        m.PlanBuildingRow.building_id == body.building_id)).first()
    if grid is None:
        raise ApiError(422, "unknown_building", f"楼栋 {body.building_id} 不在当前方案中",
                       f"building {body.building_id} is not in the active plan")
    if grids is not None and grid[0] not in grids:
        raise ApiError(403, "forbidden", f"楼栋 {body.building_id} 不在本人负责的网格内",
                       f"building {body.building_id} is not in a grid you are responsible for")
    worker_id = who.worker_id if who.role == "worker" else body.worker_id
    row = record_visit_done(session, building_id=body.building_id,
                            done_at=body.done_at or datetime.now(UTC),
                            source="worker" if who.role == "worker" else "admin",
                            worker_id=worker_id, visit_class=body.visit_class, plan_id=plan_id,
                            token_id=who.token_id, group_id=body.group_id)
    session.commit()
    return VisitDoneOut(id=row.id, building_id=row.building_id, visit_class=row.visit_class,
                        group_id=row.group_id, done_at=row.done_at, source=row.source,
                        worker_id=row.worker_id)


def days_since_visit(session: Session, plan_id: int, building_ids: pd.Series,
                     now: datetime | None = None) -> pd.Series:
    """Days since the last visit of each building (visits done, and the classes' last visits
    from the import); NaN where none is known. Index: ``building_ids``' index."""
    today = beijing(now or datetime.now(UTC)).date()
    last: dict[str, date] = {}
    for b, at in store.last_visits(session, plan_id).items():
        last[b] = _stored_day(at)
    for b, day in session.execute(select(m.VisitClassRow.building_id, m.VisitClassRow.last_visit)
                                  .where(m.VisitClassRow.plan_id == plan_id,
                                         m.VisitClassRow.last_visit.is_not(None))):
        if day is not None and (b not in last or day > last[b]):
            last[b] = day
    return pd.Series([float((today - last[b]).days) if b in last else float("nan")
                      for b in building_ids], index=building_ids.index)


# ---- a day's route -----------------------------------------------------------------------

def add_visit_today(session: Session, who: Principal, worker_id: int, building_id: str,
                    households: int, now: datetime) -> None:
    """Add a building visit to a worker's calendar for today (Beijing); committed."""
    forbid_other_worker(who, worker_id)
    plan_id = _plan_id(session, None)
    grids = visible_grids(session, who, plan_id)
    grid = session.scalar(select(m.PlanBuildingRow.grid_code).where(
        m.PlanBuildingRow.plan_id == plan_id, m.PlanBuildingRow.building_id == building_id))
    if grid is None:
        raise ApiError(422, "unknown_building", f"楼栋 {building_id} 不在当前方案中",
                       f"building {building_id} is not in the active plan")
    if grids is not None and grid not in grids:
        raise ApiError(403, "forbidden", f"楼栋 {building_id} 不在本人负责的网格内",
                       f"building {building_id} is not in a grid you are responsible for")
    today = beijing(now).date()
    session.add(m.ScheduledVisitRow(plan_id=plan_id, person_kind="worker", person_id=worker_id,
                                    group_id=f"{building_id}/added/{now.isoformat()}",
                                    building_id=building_id, grid_code=grid,
                                    visit_class=ORDINARY, households=households, day=today,
                                    due=today, early=False))
    session.commit()


def day_route(session: Session, settings: Settings, who: Principal, worker_id: int,
              now: datetime) -> DayRouteOut:
    """Today's route of a worker: today's scheduled visits (one stop per building) and the
    incidents dispatched to them; the visits they recorded today are the fixed prefix, in
    the order done, and the rest start from now."""
    from api.services.dispatcher import walk_network

    forbid_other_worker(who, worker_id)
    worker = session.get(m.WorkerRow, worker_id)
    if worker is None:
        raise not_found("网格员", "worker", worker_id)
    plan_id = _plan_id(session, None)
    plan = session.get_one(m.PlanRow, plan_id)
    net = walk_network(settings, session.get_one(m.DatasetRow, plan.dataset_id))
    local = beijing(now)
    today = local.date()
    visits = store.calendar(session, plan_id, "worker", worker_id, today, today)
    midnight = datetime(today.year, today.month, today.day, tzinfo=BEIJING)
    done = store.done_between(session, plan_id, midnight.astimezone(UTC),
                              (midnight + timedelta(days=1)).astimezone(UTC), worker_id)
    households: dict[str, int] = defaultdict(int)
    minutes: dict[str, int] = defaultdict(int)
    for v in visits:
        households[v.building_id] += v.households
        minutes[v.building_id] += v.households * CLASSES[v.visit_class].service_min
    done_order = list(dict.fromkeys(d.building_id for d in done))
    for b in done_order:
        households.setdefault(b, 0)
    points = _building_points(session, plan_id, list(households), net.crs)
    stops = [Stop(b, *points[b], service_s=minutes.get(b, 0) * 60) for b in households
             if b in points]
    incidents = list(session.scalars(select(m.IncidentRow).where(
        m.IncidentRow.worker_id == worker_id, m.IncidentRow.status.in_(WITH_WORKER))))
    inc_points = _incident_points(incidents, net.crs)
    stops += [Stop(f"incident:{i.id}", *inc_points[i.id], service_s=INCIDENT_SERVICE_S)
              for i in incidents if i.id in inc_points]
    base = (_base(worker, gpd.GeoDataFrame(geometry=[], crs=net.crs))
            if worker.geom is not None else None)
    if base is None:
        base = (stops[0].x, stops[0].y) if stops else (0.0, 0.0)
    if not stops:
        return DayRouteOut(worker_id=worker_id, day=today, stops=[], distance_m=0, dropped=[])
    shift = shift_seconds(worker)
    now_s = local.hour * 3600 + local.minute * 60 + local.second
    route = plan_day(net, worker_id, base, stops, shift=(shift[0], max(shift[1], now_s + 1)),
                     done=[b for b in done_order if b in points], now_s=now_s)
    lonlat = _to_lonlat({str(s.stop_id): (s.x, s.y) for s in stops}, net.crs)
    out = []
    for seq, stop in enumerate(route.visits, start=1):
        sid = str(stop.stop_id)
        incident = sid.startswith("incident:")
        out.append(DayStopOut(seq=seq, kind="incident" if incident else "visit",
                              ref=sid.removeprefix("incident:"), lon=lonlat[sid][0],
                              lat=lonlat[sid][1],
                              eta=midnight + timedelta(seconds=stop.arrival_s),
                              households=0 if incident else households[sid], done=stop.done))
    return DayRouteOut(worker_id=worker_id, day=today, stops=out, distance_m=route.distance_m,
                       dropped=[str(d) for d in route.dropped])


def _building_points(session: Session, plan_id: int, ids: list[str],
                     crs: object) -> dict[str, tuple[float, float]]:
    if not ids:
        return {}
    rows = session.execute(select(m.PlanBuildingRow.building_id, m.PlanBuildingRow.geom)
                           .where(m.PlanBuildingRow.plan_id == plan_id,
                                  m.PlanBuildingRow.building_id.in_(ids))).all()
    pts = gpd.GeoSeries([g.representative_point() for _, g in rows],
                        crs="EPSG:4326").to_crs(crs)
    return {b: (float(p.x), float(p.y)) for (b, _), p in zip(rows, pts, strict=True)}


def _incident_points(rows: list[m.IncidentRow], crs: object) -> dict[int, tuple[float, float]]:
    rows = [r for r in rows if r.geom is not None]
    if not rows:
        return {}
    pts = gpd.GeoSeries([r.geom for r in rows], crs="EPSG:4326").to_crs(crs)
    return {r.id: (float(p.x), float(p.y)) for r, p in zip(rows, pts, strict=True)}


def _to_lonlat(xy: dict[str, tuple[float, float]],
               crs: object) -> dict[str, tuple[float, float]]:
    keys = list(xy)
    pts = gpd.points_from_xy([xy[k][0] for k in keys], [xy[k][1] for k in keys], crs=crs)
    wgs = gpd.GeoSeries(pts).to_crs("EPSG:4326")
    return {k: (float(p.x), float(p.y)) for k, p in zip(keys, wgs, strict=True)}
