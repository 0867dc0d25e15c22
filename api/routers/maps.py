"""The maps of maps/ as HTML pages: /maps/grids, /maps/party-zones, /maps/incidents,
/maps/routes/{worker_id}, /maps/coverage and /maps/compare?old=&new=.
The route page draws the worker's incident visits of the day with the street patrol beside
them (or the patrol alone).

Each page is drawn from the store (api.map_data, WGS84 lon/lat) and links Leaflet and its
plugins under /static/maps/, which the app serves from the assets folder (maps.ensure_assets):
no page asks another host for anything. ``?lang=en`` gives the English page. A worker sees
their own route and incidents only; coverage and plan comparison are for planners.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Literal

import geopandas as gpd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

import maps
from api import map_data
from api.auth import Principal, allowed, forbid_other_worker
from api.deps import ReadDb
from api.errors import ApiError, not_found
from api.map_assets import gather_map_assets
from api.store.models import PlanRow, RouteRow, WorkerRow
from partition.metrics import BALANCE_LIMIT_PCT

router = APIRouter(prefix="/maps", tags=["maps 地图"])
_gather_lock = threading.Lock()
Lang = Literal["zh", "en"]
LangQuery = Query("zh", description="语言 language: zh or en")


def assets_ready(request: Request) -> None:
    """Gather the map scripts on the first map page (api.map_assets); 503 when
    they could not be gathered (the page would draw nothing)."""
    state = request.app.state
    with _gather_lock:
        if not getattr(state, "map_assets_checked", False):
            state.map_assets_error = gather_map_assets(state.settings)
            state.map_assets_checked = True
    error = state.map_assets_error
    if error:
        raise ApiError(503, "map_assets_missing",
                       f"地图脚本尚未安装：{error}；请运行 wangge assets install",
                       f"map scripts are not installed: {error}; run wangge assets install")


def _scope(who: Principal) -> int | None:
    """The worker whose own data a page shows, None for everyone's (planners, admins)."""
    return who.worker_id if who.role == "worker" else None


def _page(m) -> HTMLResponse:
    return HTMLResponse(maps.page_html(m))


def _active_plan(session: Session) -> int:
    plan_id = map_data.active_plan_id(session)
    if plan_id is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案：请先启用一个方案",
                       "there is no active plan: activate one first")
    return plan_id


def _layers(session: Session, who: Principal) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The active plan's grids and buildings the caller may see (404 for a worker without
    grids in it)."""
    grids, buildings = map_data.plan_layers(session, _active_plan(session), _scope(who))
    if grids.empty:
        raise ApiError(404, "no_grids", "启用的方案中尚未给您分配网格",
                       "no grid of the active plan is assigned to you yet")
    return grids, buildings


def _plan(session: Session, plan_id: int) -> int:
    if session.get(PlanRow, plan_id) is None:
        raise not_found("网格方案", "plan", plan_id)
    return plan_id


@router.get("/grids", response_class=HTMLResponse, summary="网格方案地图 the active grid plan")
def grids_page(request: Request, session: ReadDb, who: allowed("maps.read"),
               lang: Lang = LangQuery):
    assets_ready(request)
    grids, buildings = _layers(session, who)
    return _page(maps.grid_plan_map(grids, buildings,
                                             options=maps.MapOptions(lang=lang)))


@router.get("/party-zones", response_class=HTMLResponse,
            summary="党员责任区地图 party member responsibility zones")
def party_zones_page(request: Request, session: ReadDb, who: allowed("maps.read"),
                     lang: Lang = LangQuery):
    assets_ready(request)
    grids, buildings = _layers(session, who)
    zones = map_data.party_zones_frame(session, _scope(who))
    return _page(maps.party_zones_map(zones, grids=grids, buildings=buildings,
                                               options=maps.MapOptions(lang=lang)))


@router.get("/incidents", response_class=HTMLResponse,
            summary="事件地图 open incidents (a worker sees their own)")
def incidents_page(request: Request, session: ReadDb, who: allowed("maps.read"),
                   lang: Lang = LangQuery,
                   category: str | None = None):
    assets_ready(request)
    plan_id = map_data.active_plan_id(session)
    grids = (map_data.plan_layers(session, plan_id, _scope(who))[0]
             if plan_id is not None else None)
    if grids is not None and grids.empty:
        grids = None
    incidents = map_data.incidents_frame(session, worker_id=_scope(who))
    if category:
        incidents = incidents[incidents["category"] == category]
    return _page(maps.incidents_map(incidents, grids=grids,
                                             options=maps.MapOptions(lang=lang)))


def _arrival(eta) -> str | None:
    """A stop's ETA as the map shows it: ISO text kept, seconds from midnight as HH:MM."""
    if eta is None or isinstance(eta, str):
        return eta
    seconds = int(eta)
    return f"{seconds // 3600 % 24:02d}:{seconds % 3600 // 60:02d}"


def _day_routes(session: Session, worker_id: int, day: date | None
                ) -> tuple[RouteRow | None, RouteRow | None]:
    """The route to draw for ``worker_id`` on ``day`` (default: their latest day with one)
    in the active plan: the incident visits when there are any, else the street patrol; and
    the patrol to draw beside the visits (None when not both)."""
    query = select(RouteRow).where(RouteRow.worker_id == worker_id)
    plan_id = map_data.active_plan_id(session)
    if plan_id is not None:
        query = query.where(RouteRow.plan_id == plan_id)
    if day is None:
        latest = session.scalar(query.order_by(RouteRow.day.desc()).limit(1))
        day = latest.day if latest is not None else None
    drawable = {r.kind: r for r in session.scalars(query.where(RouteRow.day == day))
                if r.stops and r.geom is not None}
    if "visits" in drawable:
        return drawable["visits"], drawable.get("patrol")
    return drawable.get("patrol"), None


@router.get("/routes/{worker_id}", response_class=HTMLResponse,
            summary="网格员路线地图 a worker's route (a worker sees their own)")
def route_page(request: Request, worker_id: int, session: ReadDb, who: allowed("maps.read"),
               lang: Lang = LangQuery, day: date | None = None):
    assets_ready(request)
    forbid_other_worker(who, worker_id)
    worker = session.get(WorkerRow, worker_id)
    if worker is None:
        raise not_found("网格员", "worker", worker_id)
    route, patrol = _day_routes(session, worker_id, day)
    if route is None:
        raise ApiError(404, "no_route", f"网格员 {worker.name} 尚无路线",
                       f"worker {worker_id} has no route yet")
    stops = gpd.GeoDataFrame(
        {"seq": [s.get("seq", i + 1) for i, s in enumerate(route.stops)],
         "name": [s.get("name") or s.get("ref") or "" for s in route.stops],
         "arrival": [_arrival(s.get("eta")) for s in route.stops]},
        geometry=[Point(s["lon"], s["lat"]) for s in route.stops], crs="EPSG:4326")
    path = gpd.GeoSeries([route.geom], crs="EPSG:4326")
    grids = map_data.plan_layers(session, route.plan_id, worker_id)[0]
    return _page(maps.route_map(
        stops, path, distance_m=route.distance_m, duration_s=route.duration_s or None,
        patrol=gpd.GeoSeries([patrol.geom], crs="EPSG:4326") if patrol is not None else None,
        worker_name=worker.name, grids=grids if len(grids) else None,
        options=maps.MapOptions(lang=lang)))


@router.get("/coverage", response_class=HTMLResponse,
            summary="覆盖缺口地图 coverage gaps of the active plan (planners)")
def coverage_page(request: Request, session: ReadDb, who: allowed("maps.plans"),
                  lang: Lang = LangQuery,
                  tolerance_pct: float = Query(BALANCE_LIMIT_PCT, gt=0, le=100)):
    assets_ready(request)
    grids, buildings = map_data.plan_layers(session, _active_plan(session))
    zones = map_data.party_zones_frame(session)
    incidents = map_data.incidents_frame(session)
    return _page(maps.coverage_map(
        grids, buildings, zones=zones if len(zones) else None,
        incidents=incidents if len(incidents) else None, tolerance_pct=tolerance_pct,
        options=maps.MapOptions(lang=lang)))


@router.get("/compare", response_class=HTMLResponse,
            summary="方案对比地图 two plans compared (planners)")
def compare_page(request: Request, session: ReadDb, who: allowed("maps.plans"),
                 old: int = Query(description="原方案 id the earlier plan"),
                 new: int = Query(description="新方案 id the later plan"),
                 lang: Lang = LangQuery):
    assets_ready(request)
    old_grids, old_buildings = map_data.plan_layers(session, _plan(session, old))
    new_grids, new_buildings = map_data.plan_layers(session, _plan(session, new))
    return _page(maps.compare_map(old_grids, new_grids, old_buildings, new_buildings,
                                           options=maps.MapOptions(lang=lang)))
