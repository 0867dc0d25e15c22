"""Reading workers' routes: list, GeoJSON (stops and path) and GPX for phones' map apps
(api.services.routes); a worker sees only their own."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import RoutesRead
from api.deps import AppSettings, ReadDb, check_limit
from api.geojson import geojson_response
from api.schemas import RouteOut
from api.services import routes

router = APIRouter(tags=["routes 路线"])


@router.get("/routes", response_model=list[RouteOut],
            summary="路线列表 routes (a worker gets their own)")
def list_routes(session: ReadDb, who: RoutesRead, settings: AppSettings,
                worker_id: int | None = None, day: date | None = None,
                kind: Literal["patrol", "visits"] | None = Query(
                    None, description="patrol 巡查 or visits 事件走访"),
                limit: int = 100, offset: int = Query(0, ge=0)):
    return routes.list_routes(session, who, check_limit(limit, settings), offset,
                              worker_id=worker_id, day=day, kind=kind)


@router.get("/routes/{route_id}", response_class=Response,
            summary="路线 GeoJSON: the path and the numbered stops")
def route_geojson(route_id: int, session: ReadDb, who: RoutesRead):
    return geojson_response(routes.route_geojson(session, who, route_id))


@router.get("/routes/{route_id}/gpx", response_class=Response,
            summary="路线 GPX 1.1: stops as waypoints, the path as a track")
def route_gpx(route_id: int, session: ReadDb, who: RoutesRead):
    gpx, ident = routes.route_gpx(session, who, route_id)
    return Response(gpx, media_type="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="route-{ident}.gpx"'})
