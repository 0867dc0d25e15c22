"""Workers' GPS tracks in the store, and the patrol figures read from them.

A track belongs to one route (a worker's patrol or visits of a day, api.store.routes) and is
written with what dispatch.tracks found in it (models.TrackRow). Call :func:`save_track` in
one write transaction. :func:`patrol_coverage` is the read the indicators of the evaluation
work use: per grid and worker over a date range, how many days had a track, on how many the
grid was patrolled for at least 30 minutes, the minutes spent and the share of planned street
length walked.

Coordinates are WGS84 lon/lat; lengths metres; days Beijing dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import geopandas as gpd
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.store import models as m


def save_track(session: Session, route: m.RouteRow, *, figures: dict[str, Any],
               streets: list[dict[str, Any]], geom: BaseGeometry | None, datum: str,
               filename: str | None, uploaded_by: int | None) -> m.TrackRow:
    """Store (or replace) the track of ``route`` with its figures.

    Args:
        figures: dispatch.tracks.evaluate.TrackEvaluation.figures (JSON-able): raw_points,
            dropped (reason -> points), matched_points, walked_m, planned_m, coverage, start,
            end (ISO), grids, stops, missed_streets, ...
        streets: the planned and walked streets, each {name, length_m, planned, walked,
            coords: [[lon, lat], ...]}.
        geom: the cleaned track (lon/lat lines).
    """
    track = session.scalar(select(m.TrackRow).where(m.TrackRow.route_id == route.id))
    if track is None:
        track = m.TrackRow(route_id=route.id)
        session.add(track)
    track.plan_id, track.worker_id, track.day, track.kind = (route.plan_id, route.worker_id,
                                                             route.day, route.kind)
    track.filename, track.datum, track.uploaded_by = filename, datum, uploaded_by
    track.raw_points = int(figures.get("raw_points", 0))
    track.dropped = dict(figures.get("dropped", {}))
    track.matched_points = int(figures.get("matched_points", 0))
    track.walked_m = float(figures.get("walked_m", 0.0))
    track.planned_m = float(figures.get("planned_m", 0.0))
    track.coverage = figures.get("coverage")
    track.started_at = _when(figures.get("start"))
    track.ended_at = _when(figures.get("end"))
    track.figures, track.streets = figures, streets
    track.set_geometry(geom)
    session.flush()
    return track


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def patrol_coverage(session: Session, start: date, end: date, *,
                    worker_ids: Iterable[int] | None = None,
                    plan_id: int | None = None) -> list[dict[str, Any]]:
    """Patrol figures per grid and worker from the stored tracks of days ``start``..``end``
    (inclusive), read by the indicators of the evaluation work.

    Args:
        worker_ids: only these workers (default all).
        plan_id: only tracks against routes of this plan (default all plans).

    Returns:
        one dict per (grid code, worker) with a track in the range, sorted by grid and worker:
        ``grid_code``, ``worker_id``, ``days_tracked`` (days with a track that passed the
        grid's planned streets or spent time in it), ``days_patrolled`` (days with at least
        30 minutes in the grid), ``minutes`` (total in the grid), ``planned_m`` and
        ``walked_planned_m`` (summed over the days), ``coverage`` (their ratio, None without
        planned streets).
    """
    query = select(m.TrackRow.worker_id, m.TrackRow.day, m.TrackRow.figures).where(
        m.TrackRow.day >= start, m.TrackRow.day <= end)
    if worker_ids is not None:
        query = query.where(m.TrackRow.worker_id.in_(list(worker_ids)))
    if plan_id is not None:
        query = query.where(m.TrackRow.plan_id == plan_id)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for worker_id, day, figures in session.execute(query):
        for grid in (figures or {}).get("grids", []):
            key = (str(grid["code"]), int(worker_id))
            row = rows.setdefault(key, {"grid_code": key[0], "worker_id": key[1],
                                        "days": set(), "days_patrolled": set(),
                                        "minutes": 0.0, "planned_m": 0.0,
                                        "walked_planned_m": 0.0})
            if grid.get("minutes", 0) > 0 or grid.get("planned_m", 0) > 0:
                row["days"].add(day)
            if grid.get("patrolled"):
                row["days_patrolled"].add(day)
            row["minutes"] += float(grid.get("minutes") or 0.0)
            row["planned_m"] += float(grid.get("planned_m") or 0.0)
            row["walked_planned_m"] += float(grid.get("walked_planned_m") or 0.0)
    out = []
    for key in sorted(rows):
        row = rows[key]
        out.append({"grid_code": row["grid_code"], "worker_id": row["worker_id"],
                    "days_tracked": len(row["days"]),
                    "days_patrolled": len(row["days_patrolled"]),
                    "minutes": round(row["minutes"], 1),
                    "planned_m": round(row["planned_m"], 1),
                    "walked_planned_m": round(row["walked_planned_m"], 1),
                    "coverage": round(row["walked_planned_m"] / row["planned_m"], 4)
                    if row["planned_m"] else None})
    return out


def day_track(session: Session, route_ids: list[int]) -> m.TrackRow | None:
    """The track of the first of ``route_ids`` that has one (the route map's overlay)."""
    for route_id in route_ids:
        track = session.scalar(select(m.TrackRow).where(m.TrackRow.route_id == route_id))
        if track is not None:
            return track
    return None


def streets_frame(track: m.TrackRow) -> gpd.GeoDataFrame:
    """A track's planned and walked streets (EPSG:4326): name, length_m, planned, walked."""
    rows = track.streets or []
    return gpd.GeoDataFrame({k: [r[k] for r in rows]
                             for k in ("name", "length_m", "planned", "walked")},
                            geometry=[LineString(r["coords"]) for r in rows], crs="EPSG:4326")
