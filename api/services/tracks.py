"""Workers' GPS tracks: upload against a route, the figures they show, the map's layers, and
patrol coverage per grid and worker.

A track is uploaded against one of the worker's routes (``POST /routes/{id}/tracks`` or
``wangge track import``): GPX 1.1 or GeoJSON, WGS84, GCJ-02 or BD-09 (``datum``). It is read,
checked (the right day, on the plan's streets, in the datum given), cleaned, matched to the
walk network and measured against the route by dispatch.tracks, outside any transaction (a
day's track takes a few seconds); the result is then written in one short transaction
(api.store.tracks.save_track), replacing an earlier upload for the same route.

Track points are personal data (where a person was): a worker uploads and sees only their own
tracks, admins and planners all (tracks.read), reporters nothing. Uploads: the worker and
admins (tracks.upload).
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, time
from typing import Any

import geopandas as gpd
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, forbid_other_worker
from api.errors import ApiError, not_found
from api.services.dispatcher import walk_network
from api.services.maps import own_grids
from api.settings import Settings
from api.store import models as m
from api.store.db import Database
from api.store.plans import grids_frame
from api.store.tracks import patrol_coverage, save_track
from dispatch.incidents.rules import BEIJING
from dispatch.routing.network import WalkNetwork
from dispatch.tracks.compliance import PlannedStop, track_line
from dispatch.tracks.evaluate import evaluate_track
from dispatch.tracks.matching import MatchMap
from dispatch.tracks.reading import read_track

_maps: dict[int, tuple[WalkNetwork, MatchMap]] = {}
_lock = threading.Lock()


def match_map(net: WalkNetwork) -> MatchMap:
    """The matcher's map of ``net``, built once per process (networks are cached too)."""
    with _lock:
        cached = _maps.get(id(net))
        if cached is None or cached[0] is not net:
            cached = (net, MatchMap.from_network(net))
            _maps[id(net)] = cached
        return cached[1]


def _route(session: Session, route_id: int, who: Principal) -> m.RouteRow:
    route = session.get(m.RouteRow, route_id)
    if route is None:
        raise not_found("路线", "route", route_id)
    forbid_other_worker(who, route.worker_id)
    return route


def _eta_seconds(eta: object, day: date) -> float | None:
    """A stop's ETA as Unix seconds: ISO text, or seconds after midnight Beijing time."""
    if eta is None or eta == "":
        return None
    if isinstance(eta, int | float):
        midnight = datetime.combine(day, time(0), BEIJING)
        return midnight.timestamp() + float(eta)
    when = datetime.fromisoformat(str(eta))
    return (when if when.tzinfo else when.replace(tzinfo=BEIJING)).timestamp()


def _planned_stops(route: m.RouteRow, crs: object) -> list[PlannedStop]:
    """The stops of a visit route to be reached (the incidents; not its start)."""
    if route.kind != "visits":
        return []
    stops = [s for s in route.stops if s.get("kind") not in ("start", "patrol")]
    if not stops:
        return []
    points = gpd.GeoSeries(gpd.points_from_xy([s["lon"] for s in stops],
                                              [s["lat"] for s in stops]),
                           crs="EPSG:4326").to_crs(crs)
    return [PlannedStop(str(s.get("ref", s.get("seq"))), str(s.get("name") or s.get("ref") or ""),
                        p.x, p.y, _eta_seconds(s.get("eta"), route.day))
            for s, p in zip(stops, points, strict=True)]


def _check_day(fixes: gpd.GeoDataFrame, route: m.RouteRow, filename: str | None) -> None:
    days = fixes["time"].dt.tz_convert("Asia/Shanghai").dt.date
    share = float((days == route.day).mean())
    if share < 0.5:
        recorded = days.mode().iloc[0]
        raise ApiError(422, "track_day",
                       f"轨迹 {filename or ''} 记录于 {recorded}（北京时间），而路线是 "
                       f"{route.day} 的：请上传当天的轨迹，或上传到 {recorded} 的路线",
                       f"the track {filename or ''} was recorded on {recorded} (Beijing time) "
                       f"but the route is for {route.day}: upload that day's track, or upload "
                       f"it to the route of {recorded}")


def upload_track(db: Database, settings: Settings, who: Principal, route_id: int,
                 data: bytes, filename: str | None, datum: str) -> m.TrackRow:
    """Read, evaluate and store a worker's track for route ``route_id`` (module docstring);
    committed. Returns the stored row (detached)."""
    if len(data) > settings.max_upload_bytes:
        mb = settings.max_upload_bytes / 1024 / 1024
        raise ApiError(413, "upload_too_large", f"上传内容超过上限 {mb:g} MB",
                       f"upload larger than the limit of {mb:g} MB")
    with db.read_session() as session:
        route = _route(session, route_id, who)
        plan = session.get_one(m.PlanRow, route.plan_id)
        dataset = session.get_one(m.DatasetRow, plan.dataset_id)
        grids = grids_frame(session, plan.id,
                            m.GridRow.id.in_(own_grids(plan.id, route.worker_id)))
        route_geom = route.geom
        session.expunge(route)
    fixes = read_track(data, filename=filename, datum=datum)
    _check_day(fixes, route, filename)
    net = walk_network(settings, dataset)
    planned = (gpd.GeoSeries([route_geom], crs="EPSG:4326").to_crs(net.crs).iloc[0]
               if route_geom is not None else None)
    result = evaluate_track(net, match_map(net), fixes, planned_path=planned,
                            grids=grids[["code", "geometry"]].to_crs(net.crs) if len(grids)
                            else None,
                            stops=_planned_stops(route, net.crs),
                            datum=fixes.attrs.get("datum", datum), filename=filename)
    streets = result.result.streets.to_crs("EPSG:4326")
    street_rows = [{"name": r.name, "length_m": r.length_m, "planned": bool(r.planned),
                    "walked": bool(r.walked),
                    "coords": [[round(x, 7), round(y, 7)] for x, y in r.geometry.coords]}
                   for r in streets.itertuples()]
    line = track_line(result.clean)
    geom = gpd.GeoSeries([line], crs=net.crs).to_crs("EPSG:4326").iloc[0] if line else None
    with db.writing() as session:
        row = session.get(m.RouteRow, route_id)
        if row is None:
            raise not_found("路线", "route", route_id)
        track = save_track(session, row, figures=result.figures, streets=street_rows,
                           geom=geom, datum=fixes.attrs.get("datum", datum),
                           filename=filename, uploaded_by=who.token_id or None)
        session.flush()
        session.expunge(track)
    return track


def get_track(session: Session, who: Principal, track_id: int) -> m.TrackRow:
    """A track (a worker: only their own; 403 otherwise)."""
    track = session.get(m.TrackRow, track_id)
    if track is None:
        raise not_found("轨迹", "track", track_id)
    forbid_other_worker(who, track.worker_id)
    return track


def list_tracks(session: Session, who: Principal, limit: int, offset: int, *,
                worker_id: int | None = None, start: date | None = None,
                end: date | None = None, kind: str | None = None) -> list[m.TrackRow]:
    """Tracks, latest day first (a worker: their own; 403 asking for another's)."""
    if who.role == "worker":
        forbid_other_worker(who, worker_id if worker_id is not None else who.worker_id)
        worker_id = who.worker_id
    query = select(m.TrackRow).order_by(m.TrackRow.day.desc(), m.TrackRow.worker_id,
                                        m.TrackRow.id)
    if worker_id is not None:
        query = query.where(m.TrackRow.worker_id == worker_id)
    if start is not None:
        query = query.where(m.TrackRow.day >= start)
    if end is not None:
        query = query.where(m.TrackRow.day <= end)
    if kind is not None:
        query = query.where(m.TrackRow.kind == kind)
    return list(session.scalars(query.limit(limit).offset(offset)))


def track_geojson(session: Session, who: Principal, track_id: int) -> str:
    """The track as a FeatureCollection: the cleaned track (kind ``track``), the planned and
    walked streets (kind ``street``: name, length_m, planned, walked) and, for visit routes,
    the stops (kind ``stop``: reached, arrival); the figures at the top level."""
    track = get_track(session, who, track_id)
    features: list[dict[str, Any]] = []
    if track.geom is not None:
        features.append({"type": "Feature", "id": f"track-{track.id}",
                         "geometry": mapping(track.geom), "properties": {"kind": "track"}})
    for i, s in enumerate(track.streets):
        features.append({"type": "Feature", "id": f"street-{i}",
                         "geometry": {"type": "LineString", "coordinates": s["coords"]},
                         "properties": {"kind": "street", "name": s["name"],
                                        "length_m": s["length_m"], "planned": s["planned"],
                                        "walked": s["walked"]}})
    route = session.get(m.RouteRow, track.route_id)
    reached = {v["ref"]: v for v in track.figures.get("stops", [])}
    for stop in (route.stops if route is not None else []):
        visit = reached.get(str(stop.get("ref", stop.get("seq"))))
        if visit is None:
            continue
        features.append({"type": "Feature", "id": f"stop-{stop.get('seq')}",
                         "geometry": {"type": "Point", "coordinates": [stop["lon"], stop["lat"]]},
                         "properties": {"kind": "stop", **visit}})
    body = {"type": "FeatureCollection", "features": features, "track_id": track.id,
            "route_id": track.route_id, "worker_id": track.worker_id,
            "day": track.day.isoformat(), "figures": track.figures}
    return json.dumps(body, ensure_ascii=False)


def coverage(session: Session, who: Principal, start: date, end: date,
             worker_id: int | None = None, plan_id: int | None = None) -> list[dict[str, Any]]:
    """Patrol coverage per grid and worker over ``start``..``end`` (api.store.tracks); a
    worker gets their own."""
    if end < start:
        raise ApiError(422, "bad_range", f"结束日期 {end} 早于开始日期 {start}",
                       f"end {end} is before start {start}")
    if who.role == "worker":
        forbid_other_worker(who, worker_id if worker_id is not None else who.worker_id)
        worker_id = who.worker_id
    return patrol_coverage(session, start, end,
                           worker_ids=None if worker_id is None else [worker_id],
                           plan_id=plan_id)
