"""Reading workers' routes: list, GeoJSON (stops and path) and GPX for phones' map apps.

Routes are computed by dispatch/ and written with api.store.routes.save_route; a worker
sees only their own, a street's staff those of the workers serving its communities
(api.services.scope). A worker has up to two routes a day: ``patrol``, the street patrol of
their grids, and ``visits``, the incidents dispatched to them in visiting order with ETAs
(api.services.visit_routes, kept up to date as incidents come and go).
"""

from __future__ import annotations

import json
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, forbid_other_worker
from api.errors import not_found
from api.services.scope import check_worker, visible_communities, workers_clause
from api.store.models import RouteRow, WorkerRow


def _route(session: Session, route_id: int, who: Principal) -> RouteRow:
    route = session.get(RouteRow, route_id)
    if route is None:
        raise not_found("路线", "route", route_id)
    forbid_other_worker(who, route.worker_id)
    check_worker(session, who, route.worker_id)
    return route


def list_routes(session: Session, who: Principal, limit: int, offset: int,
                worker_id: int | None = None, day: date | None = None,
                kind: str | None = None) -> list[RouteRow]:
    """Routes, the latest day first; a worker gets their own (403 asking for another's)."""
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
    scoped = workers_clause(RouteRow.worker_id, visible_communities(who))
    if scoped is not None:
        query = query.where(scoped)
    return list(session.scalars(query.limit(limit).offset(offset)))


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


def route_geojson(session: Session, who: Principal, route_id: int) -> str:
    """The route as a FeatureCollection: the path and the numbered stops."""
    route = _route(session, route_id, who)
    body = {"type": "FeatureCollection", "features": _features(route),
            "worker_id": route.worker_id, "day": route.day.isoformat(), "kind": route.kind,
            "distance_m": route.distance_m, "duration_s": route.duration_s}
    return json.dumps(body, ensure_ascii=False)


def route_gpx(session: Session, who: Principal, route_id: int) -> tuple[str, int]:
    """(GPX 1.1 of the route: stops as waypoints, the path as a track; the route's id)."""
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
    return "\n".join(lines), route.id
