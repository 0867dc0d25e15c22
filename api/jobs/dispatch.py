"""Dispatch runs as jobs (api.jobs.JOB_KINDS): worker assignment, street patrol routes and
party member zones over a stored plan.

Each runs in a job process: it reads the plan, its dataset's walk network and the people from
the store, calls dispatch/ and writes its results together with the job's success in one
transaction (api.store.assignments, api.store.routes), so a failure or a cancel leaves the
previous results whole.
The same functions run without a job (``job_id=None``) for api.services.demo.

Metric work happens in the walk network's CRS (the dataset's local metric CRS, m); the store
keeps WGS84 lon/lat. Walking speed 4 km/h (dispatch.routing.network.WALK_SPEED_KMH).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import select

from api.jobs.runner import JobProgress, finish_job
from api.services.dispatcher import walk_network
from api.settings import Settings
from api.store import models as m
from api.store.assignments import save_assignments
from api.store.db import Database
from api.store.plans import buildings_frame, grids_frame
from api.store.routes import save_route
from dispatch.incidents.rules import BEIJING
from dispatch.routing.network import walk_seconds
from dispatch.staffing.workers import Worker as DispatchWorker
from gis.errors import ArgumentError

PATROL_EXACT_SECONDS = 0.1  # exact model time per grid (demo: 26 of 51 grids proven optimal, 4 s)
PATROL_START_S = 9 * 3600  # patrols start at 09:00


def _context(db: Database, settings: Settings, plan_id: int):
    """(plan, walk network, grids in its CRS with grid_id = code)."""
    with db.read_session() as session:
        plan = session.get(m.PlanRow, plan_id)
        if plan is None:
            raise ArgumentError(f"网格方案 {plan_id} 不存在", f"plan {plan_id} not found")
        dataset = session.get_one(m.DatasetRow, plan.dataset_id)
        grids = grids_frame(session, plan_id)
    net = walk_network(settings, dataset)
    return plan, net, grids.to_crs(net.crs)


def _finish(session, job_id: int | None, result: dict) -> bool:
    """Mark the job succeeded in the caller's transaction; False when it was cancelled or is
    no longer this process's (api.jobs.runner.finish_job: the caller then writes nothing)."""
    return job_id is None or finish_job(session, job_id, result)


def _steps(db: Database, job_id: int | None, total: int) -> Callable[[str], None]:
    return JobProgress(db, job_id, total) if job_id is not None else (lambda _name: None)


def worker_bases(session, crs, **limits) -> list[DispatchWorker]:
    """Workers with a base point, in ``crs``; ``limits``: max_grids, max_households."""
    rows = [w for w in session.scalars(select(m.WorkerRow).order_by(m.WorkerRow.id))
            if w.geom is not None]
    if not rows:
        return []
    points = gpd.GeoSeries([w.geom for w in rows], crs="EPSG:4326").to_crs(crs)
    return [DispatchWorker(w.id, w.name, p.x, p.y, phone=w.phone or "", **limits)
            for w, p in zip(rows, points, strict=True)]


def run_assignments(db: Database, settings: Settings, job_id: int | None,
                    params: dict) -> dict:
    """Assign a worker to every grid of ``params["plan_id"]``
    (dispatch.staffing.workers.assign_workers over the stored workers with a base, each holding
    at most ``max_grids`` grids and ``max_households`` households), keeping previous
    assignments where possible."""
    from dispatch.staffing.workers import assign_workers

    step = _steps(db, job_id, 3)
    step("路网 walk network")
    plan, net, grids = _context(db, settings, params["plan_id"])
    with db.read_session() as session:
        limits = {k: int(params[k]) for k in ("max_grids", "max_households") if k in params}
        workers = worker_bases(session, net.crs, **limits)
        previous = dict(session.execute(
            select(m.GridRow.code, m.AssignmentRow.worker_id)
            .join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
            .where(m.AssignmentRow.plan_id == plan.id, m.AssignmentRow.role == "worker")).all())
    if not workers:
        raise ArgumentError("没有设置驻点的网格员：请先为网格员设置驻点（经纬度）",
                            "no worker has a base point (lon/lat): add one first")
    step("分配 assigning")
    table = assign_workers(net, grids, workers, previous=previous,
                           seconds=float(params.get("seconds", 5.0)), deterministic=True)
    chosen = {str(g): int(w) for g, w in zip(table["grid_id"], table["worker_id"], strict=True)}
    step("保存 saving")
    load = table.groupby("worker_id")["households"].sum()
    result = {"plan_id": plan.id, "grids": len(chosen), "workers": int(load.size),
              "kept": int(table["kept"].sum()),
              "households_min": int(load.min()), "households_max": int(load.max()),
              "mean_walk_m": round(float(table["walk_m"].mean()), 1)}
    with db.writing() as session:
        if _finish(session, job_id, result):
            save_assignments(session, plan.id, chosen)
    return result


def _route_day(params: dict) -> date:
    text = params.get("day")
    return date.fromisoformat(text) if text else datetime.now(BEIJING).date()


def run_routes(db: Database, settings: Settings, job_id: int | None, params: dict) -> dict:
    """One street patrol per assigned grid from its worker's base (dispatch.routing.patrol),
    saved as each worker's route for ``params["day"]`` (default today, Beijing): the patrols
    one after the other, each from the base and back."""
    from dispatch.routing.patrol import grid_streets, patrol_route

    step = _steps(db, job_id, 3)
    step("路网 walk network")
    plan, net, grids = _context(db, settings, params["plan_id"])
    with db.read_session() as session:
        bases = {w.worker_id: (w.x, w.y) for w in worker_bases(session, net.crs)}
    grids = grids[grids["worker_id"].notna()]
    if grids.empty:
        raise ArgumentError("方案中没有已分配网格员的网格：请先计算分配",
                            "no grid of the plan has a worker: compute assignments first")
    step("巡查路线 patrols")
    per_worker: dict[int, list] = {}
    for code, worker_id, polygon in zip(grids["code"], grids["worker_id"], grids.geometry,
                                        strict=True):
        worker_id = int(worker_id)
        base = bases.get(worker_id) or (polygon.centroid.x, polygon.centroid.y)
        route = patrol_route(net, grid_streets(net, polygon), base,
                             exact_seconds=float(params.get("exact_seconds",
                                                            PATROL_EXACT_SECONDS)))
        per_worker.setdefault(worker_id, []).append((code, route))
    step("保存 saving")
    day = _route_day(params)
    rows = [_route_row(net, worker_id, patrols) for worker_id, patrols in per_worker.items()]
    result = {"plan_id": plan.id, "day": day.isoformat(), "routes": len(rows),
              "grids": len(grids),
              "distance_m": round(sum(r["distance_m"] for r in rows), 1),
              "optimal_grids": sum(r["optimal"] for r in rows)}
    with db.writing() as session:
        if _finish(session, job_id, result):
            for r in rows:
                save_route(session, plan_id=plan.id, worker_id=r["worker_id"], day=day,
                           stops=r["stops"], path=r["path"], distance_m=r["distance_m"],
                           duration_s=r["duration_s"], job_id=job_id)
    return result


def _route_row(net, worker_id: int, patrols: list) -> dict:
    """A worker's day: their grids' patrols in turn; stops are each patrol's start."""
    coords, stops, metres, optimal = [], [], 0.0, 0
    for code, route in patrols:
        line = net.path_geometry(route.nodes)
        start = net.xy(route.base)
        stops.append({"kind": "patrol", "ref": str(code), "name": f"巡查 patrol {code}",
                      "x": start[0], "y": start[1],
                      "eta": int(PATROL_START_S + walk_seconds(metres))})
        if line is not None and not line.is_empty:
            coords.extend(line.coords)
        metres += route.length_m
        optimal += bool(route.optimal)
    xs, ys = [s.pop("x") for s in stops], [s.pop("y") for s in stops]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=net.crs).to_crs("EPSG:4326")
    for stop, p in zip(stops, lonlat, strict=True):
        stop["lon"], stop["lat"] = p.x, p.y
    path = None
    if len(coords) >= 2:
        path = gpd.GeoSeries([shapely.LineString(coords)], crs=net.crs).to_crs(
            "EPSG:4326").iloc[0]
    return {"worker_id": worker_id, "stops": stops, "path": path,
            "distance_m": round(metres, 1), "duration_s": round(float(walk_seconds(metres))),
            "optimal": optimal}


def run_party_zones(db: Database, settings: Settings, job_id: int | None,
                    params: dict) -> dict:
    """Give every household of the plan a party member
    (dispatch.staffing.party.assign_households) and draw the members' zones (zone_polygons),
    saved on the members: zone, grid, households and building ids (their home first). A
    member's home is the first of their building_ids."""
    from dispatch.staffing.party import PartyMember, assign_households, zone_polygons

    step = _steps(db, job_id, 3)
    step("路网 walk network")
    plan, net, grids = _context(db, settings, params["plan_id"])
    with db.read_session() as session:
        buildings = buildings_frame(session, plan.id).to_crs(net.crs)
        rows = list(session.scalars(select(m.PartyMemberRow).order_by(m.PartyMemberRow.id)))
    known = set(buildings["building_id"].astype(str))
    members = [PartyMember(r.id, r.name, str(r.building_ids[0]),
                           int(params.get("capacity") or 20))
               for r in rows if r.building_ids and str(r.building_ids[0]) in known]
    if not members:
        raise ArgumentError("没有党员的住址在本方案的建筑中："
                            "请先为每名党员填写住址建筑 building_ids",
                            "no party member lives in a building of this plan: give each one "
                            "building_ids with their home first")
    step("分配 assigning")
    buildings = buildings.assign(building_id=buildings["building_id"].astype(str))
    assignment, gaps = assign_households(net, buildings, members, grids)
    zones = zone_polygons(buildings, grids, assignment, members).to_crs("EPSG:4326")
    step("保存 saving")
    held = assignment.groupby("member_id")["building_id"].apply(list)
    households = assignment.groupby("member_id")["households"].sum()
    result = {"plan_id": plan.id, "members": len(members), "zones": len(zones),
              "households": int(assignment["households"].sum()),
              "households_without_member": int(gaps["households"].sum()),
              "skipped_members": len(rows) - len(members)}
    with db.writing() as session:
        if _finish(session, job_id, result):
            _save_zones(session, members, zones, held, households)
    return result


def _save_zones(session, members, zones: gpd.GeoDataFrame, held: pd.Series,
                households: pd.Series) -> None:
    by_member = {int(r.member_id): r for r in zones.itertuples()}
    for member in members:
        row = session.get(m.PartyMemberRow, member.member_id)
        zone = by_member.get(member.member_id)
        others = [b for b in held.get(member.member_id, []) if b != member.building_id]
        row.building_ids = [member.building_id, *others]
        row.households = int(households.get(member.member_id, 0))
        if zone is not None:
            row.grid_code = None if pd.isna(zone.grid_id) else str(zone.grid_id)
            row.set_geometry(shapely.orient_polygons(zone.geometry, exterior_cw=False))
        else:
            row.set_geometry(None)
    session.flush()
