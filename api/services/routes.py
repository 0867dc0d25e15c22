"""Reading workers' routes: list, GeoJSON (stops and path) and GPX for phones' map apps.

Routes are computed by dispatch/ and written with api.store.routes.save_route; a worker
sees only their own. A worker has up to two routes a day: ``patrol``, the street patrol of
their grids, and ``visits``, the incidents dispatched to them in visiting order with ETAs
(api.incident_routes, kept up to date as incidents come and go).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Query
from fastapi.responses import Response
from shapely.geometry import mapping
from sqlalchemy import select

from api.auth import allowed, forbid_other_worker
from api.deps import AppSettings, ReadDb, check_limit
from api.errors import not_found
from api.geojson import geojson_response
from api.schemas import RouteOut
from api.store.models import RouteRow, WorkerRow

router = APIRouter(tags=["routes 路线"])


def _route(session, route_id: int, who) -> RouteRow:
    route = session.get(RouteRow, route_id)
    if route is None:
        raise not_found("路线", "route", route_id)
    forbid_other_worker(who, route.worker_id)
    return route


@router.get("/routes", response_model=list[RouteOut],
            summary="路线列表 routes (a worker gets their own)")
def list_routes(session: ReadDb, who: allowed("routes.read"), settings: AppSettings,
                worker_id: int | None = None, day: date | None = None,
                kind: Literal["patrol", "visits"] | None = Query(
                    None, description="patrol 巡查 or visits 事件走访"),
                limit: int = 100, offset: int = Query(0, ge=0)):
    if who.role == "worker":
        forbid_other_worker(who, worker_id if worker_id is not None else who.worker_id)
        worker_id = who.worker_id
    query = select(RouteRow).order_by(RouteRow.day.desc(), RouteRow.worker_id, RouteRow.kind)
    if worker_id is not None:
        query = query.where(RouteRow.worker_id == worker_id)
    if day is not None:
        query = query.where(RouteRow.day == day)
    if kind is not None:
        query = query.where(RouteRow.kind == kind)
    return list(session.scalars(query.limit(check_limit(limit, settings)).offset(offset)))


def _features(route: RouteRow) -> list[dict]:
    features = []
    if route.geom is not None:
        features.append({"type": "Feature", "id": f"route-{route.id}",
                         "geometry": mapping(route.geom),
                         "properties": {"kind": "path", "distance_m": route.distance_m,
                                        "duration_s": route.duration_s}})
    for stop in route.stops:
        props = {k: v for k, v in stop.items() if k not in ("lon", "lat")}
        features.append({"type": "Feature", "id": f"stop-{stop['seq']}",
                         "geometry": {"type": "Point", "coordinates": [stop["lon"], stop["lat"]]},
                         "properties": {"kind": "stop", **props}})
    return features


@router.get("/routes/{route_id}", response_class=Response,
            summary="路线 GeoJSON: the path and the numbered stops")
def route_geojson(route_id: int, session: ReadDb, who: allowed("routes.read")):
    route = _route(session, route_id, who)
    body = {"type": "FeatureCollection", "features": _features(route),
            "worker_id": route.worker_id, "day": route.day.isoformat(), "kind": route.kind,
            "distance_m": route.distance_m, "duration_s": route.duration_s}
    return geojson_response(json.dumps(body, ensure_ascii=False))


@router.get("/routes/{route_id}/gpx", response_class=Response,
            summary="路线 GPX 1.1: stops as waypoints, the path as a track")
def route_gpx(route_id: int, session: ReadDb, who: allowed("routes.read")):
    route = _route(session, route_id, who)
    worker = session.get(WorkerRow, route.worker_id)
    label = "事件走访 visits" if route.kind == "visits" else "巡查 patrol"
    title = f"{worker.name if worker else route.worker_id} {route.day.isoformat()} {label}"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<gpx version="1.1" creator="Wangge" xmlns="http://www.topografix.com/GPX/1/1">',
             f"<metadata><name>{escape(title)}</name></metadata>"]
    for stop in route.stops:
        name = f"{stop['seq']}. {stop.get('name') or stop.get('ref') or ''}".strip()
        lines.append(f"<wpt lat={quoteattr(str(stop['lat']))} lon={quoteattr(str(stop['lon']))}>"
                     f"<name>{escape(name)}</name></wpt>")
    if route.geom is not None:
        lines.append(f"<trk><name>{escape(title)}</name><trkseg>")
        lines += [f'<trkpt lat="{y}" lon="{x}"/>' for x, y in route.geom.coords]
        lines.append("</trkseg></trk>")
    lines.append("</gpx>")
    return Response("\n".join(lines), media_type="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="route-{route.id}.gpx"'})
