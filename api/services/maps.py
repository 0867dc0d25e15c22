"""The map pages of the service: what the maps (maps/) draw, read from the store as
GeoDataFrames in EPSG:4326, and the pages drawn from them (HTML, maps.page_html).

Column names follow the maps' requirements: grids (code, households, deviation_pct, worker),
buildings (building_id, households, grid_id), party zones (member_id, name, grid_id,
households), incidents (incident_id, category, stage, created_at, grid_code, worker_id).

A worker's maps hold what the API gives them (as api.services.ogc scopes its collections):
their own grids of the plan, the buildings and party member zones in them, their own
incidents and route; a street's admin or planner those of its communities (api.services.scope).
The grid, party zone and incident maps can be asked for one community, street or district.
The route page draws the worker's incident visits of the day with the
street patrol beside them (or the patrol alone) and, when the day's GPS track was uploaded
(api.services.tracks), the streets it walked and missed and the stops it reached. The
organisations page draws the areas the organisations serve and the incidents referred to
them; an organisation's token sees its own area and what was referred to it, without the
grids.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import geopandas as gpd
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

import maps
from api.auth import Principal, forbid_other_worker
from api.errors import ApiError, not_found
from api.services.basemap import BasemapStore
from api.services.scope import (
    LevelFilter,
    by_grid_code,
    check_worker,
    grids_clause,
    visible_communities,
    where,
)
from api.store import models as m
from api.store import organisations as org_store
from api.store.incidents import aware
from api.store.plans import active_plan_id, buildings_frame, grids_frame
from api.store.tracks import day_track, streets_frame
from dispatch.incidents.lifecycle import past_deadline, stage_deadline

ZONE_COLUMNS = ["member_id", "name", "branch", "grid_id", "households"]
INCIDENT_COLUMNS = ["incident_id", "category", "stage", "description", "title", "created_at",
                    "grid_code", "worker_id", "deadline", "overdue", "channel", "organisation"]
ORGANISATION_COLUMNS = ["org_id", "name", "kind", "categories"]


def own_grids(plan_id: int | None, worker_id: int):
    """A subquery: ids of the grids of ``plan_id`` assigned to ``worker_id``."""
    return select(m.AssignmentRow.grid_id).where(m.AssignmentRow.plan_id == plan_id,
                                              m.AssignmentRow.worker_id == worker_id)


def own_grid_codes(plan_id: int | None, worker_id: int):
    """A subquery: codes of the grids of ``plan_id`` assigned to ``worker_id``."""
    return select(m.GridRow.code).where(m.GridRow.id.in_(own_grids(plan_id, worker_id)))


def _and(clauses: list):
    clause = None
    for c in clauses:
        clause = c if clause is None else clause & c
    return clause


def plan_layers(session: Session, plan_id: int, worker_id: int | None = None,
                communities=None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A plan's grids (with assigned worker names) and buildings; with ``worker_id``, only
    that worker's grids and the buildings in them; with ``communities`` (a subquery of
    community codes, api.services.scope), only theirs."""
    grid_where = where(grids_clause(communities))
    building_where = ([] if communities is None
                      else [m.PlanBuildingRow.community.in_(communities)])
    if worker_id is not None:
        grid_where.append(m.GridRow.id.in_(own_grids(plan_id, worker_id)))
        building_where.append(m.PlanBuildingRow.grid_code.in_(own_grid_codes(plan_id,
                                                                             worker_id)))
    return (grids_frame(session, plan_id, _and(grid_where)),
            buildings_frame(session, plan_id, _and(building_where)))


def party_zones_frame(session: Session, worker_id: int | None = None,
                      communities=None) -> gpd.GeoDataFrame:
    """Party members with a drawn responsibility zone; with ``worker_id``, those in that
    worker's grids of the active plan; with ``communities``, those in their grids."""
    query = select(m.PartyMemberRow).where(
        m.PartyMemberRow.geom.is_not(None),
        *where(by_grid_code(m.PartyMemberRow.grid_code, communities)))
    if worker_id is not None:
        query = query.where(m.PartyMemberRow.grid_code.in_(
            own_grid_codes(active_plan_id(session), worker_id)))
    rows = list(session.scalars(query.order_by(m.PartyMemberRow.id)))
    return gpd.GeoDataFrame(
        [{"member_id": r.id, "name": r.name, "branch": r.branch, "grid_id": r.grid_code,
          "households": r.households} for r in rows], columns=ZONE_COLUMNS,
        geometry=[r.geom for r in rows], crs="EPSG:4326")


def incidents_frame(session: Session, worker_id: int | None = None,
                    channel: str | None = None, communities=None) -> gpd.GeoDataFrame:
    """Incidents as points; ``stage`` is the stored status, ``deadline`` the one that applies
    now (to accept while reported, else to close; while with an organisation, the referral's
    to accept or to handle) and ``overdue`` whether it has passed; ``channel`` how the first
    report came, ``organisation`` the name of the one it is referred to now. With
    ``communities``, those in their grids."""
    now = datetime.now(UTC)
    query = select(m.IncidentRow).where(
        *where(by_grid_code(m.IncidentRow.grid_code, communities))).order_by(m.IncidentRow.id)
    if worker_id is not None:
        query = query.where(m.IncidentRow.worker_id == worker_id)
    if channel is not None:
        query = query.where(m.IncidentRow.channel == channel)
    rows = list(session.scalars(query))
    return _incident_records(session, rows, now)


def _incident_records(session: Session, rows: list[m.IncidentRow],
                      now: datetime) -> gpd.GeoDataFrame:
    held = [r.id for r in rows if r.organisation_id is not None]
    referral = {r.incident_id: r for r in org_store.referrals_of(session, incident_ids=held)
                if r.is_open}
    names = {o.id: o.name for o in session.scalars(select(m.OrganisationRow).where(
        m.OrganisationRow.id.in_({r.organisation_id for r in rows
                                  if r.organisation_id is not None})))}
    records = []
    for r in rows:
        deadline = aware(stage_deadline(r.status, r.accept_by, r.close_by))
        open_referral = referral.get(str(r.id))
        if open_referral is not None:
            deadline = open_referral.deadline()
        records.append({
            "incident_id": r.id, "category": r.category, "stage": r.status,
            "description": r.description, "title": (r.description or "")[:60],
            "created_at": r.created_at, "grid_code": r.grid_code, "worker_id": r.worker_id,
            "deadline": deadline.isoformat() if deadline else None,
            "overdue": past_deadline(r.status, deadline, now), "channel": r.channel,
            "organisation": names.get(r.organisation_id) if r.organisation_id else None})
    return gpd.GeoDataFrame(records, columns=INCIDENT_COLUMNS,
                            geometry=[r.geom for r in rows], crs="EPSG:4326")


# ---- pages ---------------------------------------------------------------------------------

def _scope(who: Principal) -> int | None:
    """The worker whose own data a page shows, None for everyone's (planners, admins)."""
    return who.worker_id if who.role == "worker" else None


def _page(view) -> str:
    return maps.page_html(view)


def _active_plan(session: Session) -> int:
    plan_id = active_plan_id(session)
    if plan_id is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案：请先启用一个方案",
                       "there is no active plan: activate one first")
    return plan_id


def _layers(session: Session, who: Principal, asked: LevelFilter | None = None
            ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The active plan's grids and buildings the caller may see (404 for a worker without
    grids in it)."""
    grids, buildings = plan_layers(session, _active_plan(session), _scope(who),
                                   visible_communities(who, asked))
    if grids.empty:
        raise ApiError(404, "no_grids", "启用的方案中尚未给您分配网格",
                       "no grid of the active plan is assigned to you yet")
    return grids, buildings


def _plan(session: Session, plan_id: int) -> int:
    if session.get(m.PlanRow, plan_id) is None:
        raise not_found("网格方案", "plan", plan_id)
    return plan_id


def page_options(lang: str, basemaps: BasemapStore | None, session: Session,
             plan_id: int | None) -> maps.MapOptions:
    """How the pages are drawn: in ``lang``, over the basemap of ``plan_id``'s dataset."""
    basemap = basemaps.for_plan(session, plan_id) if basemaps is not None else None
    return maps.MapOptions(lang=lang, basemap=basemap or None)


def grids_page(session: Session, who: Principal, lang: str,
               basemaps: BasemapStore | None = None, asked: LevelFilter | None = None) -> str:
    """The active grid plan (a worker: their grids; ``asked``: one level's)."""
    grids, buildings = _layers(session, who, asked)
    return _page(maps.grid_plan_map(grids, buildings, options=page_options(
        lang, basemaps, session, active_plan_id(session))))


def party_zones_page(session: Session, who: Principal, lang: str,
                     basemaps: BasemapStore | None = None,
                     asked: LevelFilter | None = None) -> str:
    """Party member responsibility zones over the grids (a worker: in their grids), buildings
    shaded by the days since their last household visit."""
    from api.services.visits import days_since_visit

    grids, buildings = _layers(session, who, asked)
    zones = party_zones_frame(session, _scope(who), visible_communities(who, asked))
    plan_id = active_plan_id(session)
    if plan_id is not None and len(buildings):
        buildings = buildings.assign(visit_days=days_since_visit(
            session, plan_id, buildings["building_id"].astype(str)).to_numpy())
    return _page(maps.party_zones_map(zones, grids=grids, buildings=buildings, options=page_options(
        lang, basemaps, session, active_plan_id(session))))


def incidents_page(session: Session, who: Principal, lang: str, category: str | None,
                   basemaps: BasemapStore | None = None, channel: str | None = None,
                   asked: LevelFilter | None = None) -> str:
    """Incidents over the active plan's grids (a worker: their own), of one category or
    channel when given."""
    plan_id = active_plan_id(session)
    communities = visible_communities(who, asked)
    grids = (plan_layers(session, plan_id, _scope(who), communities)[0]
             if plan_id is not None else None)
    if grids is not None and grids.empty:
        grids = None
    incidents = incidents_frame(session, worker_id=_scope(who), channel=channel,
                                communities=communities)
    if category:
        incidents = incidents[incidents["category"] == category]
    return _page(maps.incidents_map(incidents, grids=grids,
                                    options=page_options(lang, basemaps, session, plan_id)))


def organisations_frame(session: Session, organisation_id: int | None = None
                        ) -> gpd.GeoDataFrame:
    """The organisations with their areas (one, with ``organisation_id``)."""
    query = select(m.OrganisationRow).order_by(m.OrganisationRow.id)
    if organisation_id is not None:
        query = query.where(m.OrganisationRow.id == organisation_id)
    rows = list(session.scalars(query))
    return gpd.GeoDataFrame([{"org_id": r.id, "name": r.name, "kind": r.kind,
                              "categories": list(r.categories)} for r in rows],
                            columns=ORGANISATION_COLUMNS, geometry=[r.geom for r in rows],
                            crs="EPSG:4326")


def organisations_page(session: Session, who: Principal, lang: str,
                       organisation_id: int | None = None, open_only: bool = True,
                       basemaps: BasemapStore | None = None) -> str:
    """The organisations' areas and the incidents referred to them (an organisation: its
    own area and what was referred to it, without the grids; ``open_only``: those still with
    an organisation)."""
    if who.role == "organisation":
        if organisation_id not in (None, who.organisation_id):
            raise ApiError(403, "forbidden", "承办单位只能查看本单位", "an organisation may "
                           "only see itself")
        organisation_id = who.organisation_id if who.organisation_id is not None else -1
    orgs = organisations_frame(session, organisation_id)
    if organisation_id is not None and orgs.empty:
        raise not_found("承办单位", "organisation", organisation_id)
    query = select(m.IncidentRow).order_by(m.IncidentRow.id)
    if organisation_id is not None:
        query = query.where(m.IncidentRow.id.in_(org_store.referred_to(organisation_id)))
    else:
        query = query.where(m.IncidentRow.id.in_(select(m.ReferralRow.incident_id)))
    if open_only:
        query = query.where(m.IncidentRow.organisation_id.is_not(None))
    if organisation_id is not None and open_only:
        query = query.where(m.IncidentRow.organisation_id == organisation_id)
    incidents = _incident_records(session, list(session.scalars(query)), datetime.now(UTC))
    plan_id = active_plan_id(session)
    grids = None
    if plan_id is not None and who.role != "organisation":
        grids = plan_layers(session, plan_id)[0]
    return _page(maps.organisations_map(orgs, incidents, grids=grids,
                                        options=page_options(lang, basemaps, session, plan_id)))


def _arrival(eta) -> str | None:
    """A stop's ETA as the map shows it: ISO text kept, seconds from midnight as HH:MM."""
    if eta is None or isinstance(eta, str):
        return eta
    seconds = int(eta)
    return f"{seconds // 3600 % 24:02d}:{seconds % 3600 // 60:02d}"


def _day_routes(session: Session, worker_id: int, day: date | None
                ) -> tuple[m.RouteRow | None, m.RouteRow | None]:
    """The route to draw for ``worker_id`` on ``day`` (default: their latest day with one)
    in the active plan: the incident visits when there are any, else the street patrol; and
    the patrol to draw beside the visits (None when not both)."""
    query = select(m.RouteRow).where(m.RouteRow.worker_id == worker_id)
    plan_id = active_plan_id(session)
    if plan_id is not None:
        query = query.where(m.RouteRow.plan_id == plan_id)
    if day is None:
        latest = session.scalar(query.order_by(m.RouteRow.day.desc()).limit(1))
        day = latest.day if latest is not None else None
    drawable = {r.kind: r for r in session.scalars(query.where(m.RouteRow.day == day))
                if r.stops and r.geom is not None}
    if "visits" in drawable:
        return drawable["visits"], drawable.get("patrol")
    return drawable.get("patrol"), None


def route_page(session: Session, who: Principal, worker_id: int, lang: str,
               day: date | None, basemaps: BasemapStore | None = None) -> str:
    """A worker's route of ``day`` (a worker: their own)."""
    forbid_other_worker(who, worker_id)
    worker = session.get(m.WorkerRow, worker_id)
    if worker is None:
        raise not_found("网格员", "worker", worker_id)
    check_worker(session, who, worker_id)
    route, patrol = _day_routes(session, worker_id, day)
    if route is None:
        raise ApiError(404, "no_route", f"网格员 {worker.name} 尚无路线",
                       f"worker {worker_id} has no route yet")
    stops = gpd.GeoDataFrame(
        {"seq": [s.get("seq", i + 1) for i, s in enumerate(route.stops)],
         "name": [s.get("name") or s.get("ref") or "" for s in route.stops],
         "arrival": [_arrival(s.get("eta")) for s in route.stops]},
        geometry=[Point(s["lon"], s["lat"]) for s in route.stops], crs="EPSG:4326")
    # the day's GPS track, when one was uploaded: walked / missed streets, stops reached
    track = day_track(session, [route.id] + ([patrol.id] if patrol is not None else []))
    track_streets = streets_frame(track) if track is not None else None
    if track is not None and track.route_id == route.id and track.figures.get("stops"):
        reached = {v["ref"]: v["reached"] for v in track.figures["stops"]}
        stops["reached"] = [reached.get(str(s.get("ref", s.get("seq")))) for s in route.stops]
    path = gpd.GeoSeries([route.geom], crs="EPSG:4326")
    grids = plan_layers(session, route.plan_id, worker_id)[0]
    return _page(maps.route_map(
        stops, path, distance_m=route.distance_m, duration_s=route.duration_s or None,
        patrol=gpd.GeoSeries([patrol.geom], crs="EPSG:4326") if patrol is not None else None,
        worker_name=worker.name, grids=grids if len(grids) else None,
        track_streets=track_streets, options=page_options(lang, basemaps, session, route.plan_id)))


def coverage_page(session: Session, who: Principal, lang: str, tolerance_pct: float,
                  basemaps: BasemapStore | None = None) -> str:
    """Coverage gaps of the active plan (a street's staff: its communities)."""
    plan_id = _active_plan(session)
    communities = visible_communities(who)
    grids, buildings = plan_layers(session, plan_id, communities=communities)
    zones = party_zones_frame(session, communities=communities)
    incidents = incidents_frame(session, communities=communities)
    return _page(maps.coverage_map(
        grids, buildings, zones=zones if len(zones) else None,
        incidents=incidents if len(incidents) else None, tolerance_pct=tolerance_pct,
        options=page_options(lang, basemaps, session, plan_id)))


def compare_page(session: Session, who: Principal, old: int, new: int, lang: str,
                 basemaps: BasemapStore | None = None) -> str:
    """Two plans compared (a street's staff: its communities)."""
    communities = visible_communities(who)
    old_grids, old_buildings = plan_layers(session, _plan(session, old),
                                           communities=communities)
    new_grids, new_buildings = plan_layers(session, _plan(session, new),
                                           communities=communities)
    return _page(maps.compare_map(old_grids, new_grids, old_buildings, new_buildings,
                                  options=page_options(lang, basemaps, session, new)))
