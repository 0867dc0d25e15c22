"""Workers' daily routes in the store: the street patrols and incident visits dispatch/ plans.

Call these inside one write transaction (``Database.writing()`` or a job's final
transaction), so that a run's results appear whole or not at all. Coordinates are WGS84
lon/lat; distances in metres, durations in seconds.
"""

from __future__ import annotations

from datetime import date

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.store import models as m


def save_route(session: Session, *, plan_id: int, worker_id: int, day: date,
               stops: list[dict], path: shapely.LineString | None, distance_m: float,
               duration_s: float, job_id: int | None = None,
               kind: str = "patrol") -> m.RouteRow:
    """Store (or replace) a worker's route of ``kind`` for ``day``.

    Args:
        stops: in visiting order, each ``{"seq", "kind", "ref", "name", "lon", "lat",
            "eta"}`` (kind: grid, building, incident, patrol; eta: ISO time or seconds from
            the start; name optional).
        path: the walked line (lon/lat), or None when only stops are known.
        kind: ``patrol`` (the street patrol) or ``visits`` (dispatched incidents); a worker
            has one route of each kind per plan and day (models.Route).
    """
    if kind not in m.ROUTE_KINDS:
        raise ValueError(f"route kind {kind!r} not one of {', '.join(m.ROUTE_KINDS)} "
                         f"(路线类型无效)")
    for i, stop in enumerate(stops):
        if not {"lon", "lat"} <= set(stop):
            raise ValueError(f"stop {i} has no lon/lat (站点缺少经纬度)")
    route = session.scalar(select(m.RouteRow).where(m.RouteRow.plan_id == plan_id,
                                                 m.RouteRow.worker_id == worker_id,
                                                 m.RouteRow.day == day, m.RouteRow.kind == kind))
    if route is None:
        route = m.RouteRow(plan_id=plan_id, worker_id=worker_id, day=day, kind=kind)
        session.add(route)
    route.stops = [dict(stop, seq=stop.get("seq", i + 1)) for i, stop in enumerate(stops)]
    route.distance_m, route.duration_s, route.job_id = distance_m, duration_s, job_id
    route.set_geometry(path)
    session.flush()
    return route
