"""Workers' GPS tracks: upload against a route, list, GeoJSON (track, streets walked and
missed, stops reached) and patrol coverage per grid and worker (api.services.tracks). Track
points are personal data: a worker uploads and sees their own, admins and planners all."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import Response

from api.auth import TracksRead, TracksUpload
from api.deps import AppSettings, ReadDb, check_limit
from api.geojson import geojson_response
from api.schemas import PatrolCoverageOut, TrackOut
from api.services import tracks

router = APIRouter(tags=["tracks 轨迹"])
Datum = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]


@router.post("/routes/{route_id}/tracks", status_code=201, response_model=TrackOut,
             summary="上传巡查轨迹 upload a GPS track (GPX 1.1 or GeoJSON) for a route")
def upload_track(route_id: int, file: UploadFile, request: Request, who: TracksUpload,
                 settings: AppSettings,
                 datum: Annotated[Datum, Form(description="坐标系: wgs84 (GPS), gcj02 "
                                              "(高德/腾讯/微信), bd09 (百度)")] = "wgs84"):
    """The track is cleaned (points dropped by reason), matched to the walk network and
    measured against the route: share of planned street length walked, streets missed, time
    in each grid, detours and, for visit routes, the stops reached (30 m for 2 minutes). A new
    upload for the same route replaces the earlier one."""
    data = file.file.read(settings.max_upload_bytes + 1)
    return tracks.upload_track(request.app.state.db, settings, who, route_id, data,
                               file.filename, datum)


@router.get("/tracks", response_model=list[TrackOut],
            summary="轨迹列表 tracks (a worker gets their own)")
def list_tracks(session: ReadDb, who: TracksRead, settings: AppSettings,
                worker_id: int | None = None, start: date | None = None,
                end: date | None = None,
                kind: Literal["patrol", "visits"] | None = None,
                limit: int = 100, offset: int = Query(0, ge=0)):
    return tracks.list_tracks(session, who, check_limit(limit, settings), offset,
                              worker_id=worker_id, start=start, end=end, kind=kind)


@router.get("/tracks/coverage", response_model=list[PatrolCoverageOut],
            summary="巡查覆盖 patrol coverage per grid and worker over a date range")
def track_coverage(session: ReadDb, who: TracksRead,
                   start: Annotated[date, Query(description="开始日期 first day")],
                   end: Annotated[date, Query(description="结束日期 last day (inclusive)")],
                   worker_id: int | None = None, plan_id: int | None = None):
    return tracks.coverage(session, who, start, end, worker_id, plan_id)


@router.get("/tracks/{track_id}", response_class=Response,
            summary="轨迹 GeoJSON: the track, streets walked and missed, stops reached")
def track_geojson(track_id: int, session: ReadDb, who: TracksRead):
    return geojson_response(tracks.track_geojson(session, who, track_id))
