"""Writing what dispatch/ computes into the store: grid assignments and daily routes.

Call these inside one write transaction (``Database.writing()`` or a job's final
transaction), so that a run's results appear whole or not at all. Coordinates are WGS84
lon/lat; distances in metres, durations in seconds.
"""

from __future__ import annotations

from datetime import date

import shapely
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import models as m


def save_assignments(session: Session, plan_id: int, workers_by_grid: dict[str, int],
                     role: str = "worker", source: str = "dispatch") -> int:
    """Replace the plan's ``role`` assignments with ``{grid code: worker id}``; returns how
    many were written.

    Raises:
        ValueError: a grid code not in the plan or a worker id that does not exist.
    """
    grid_ids = dict(session.execute(select(m.Grid.code, m.Grid.id)
                                    .where(m.Grid.plan_id == plan_id)).all())
    unknown = set(workers_by_grid) - set(grid_ids)
    if unknown:
        raise ValueError(f"grids not in plan {plan_id}: {', '.join(sorted(unknown))} "
                         f"(网格不在方案中)")
    known = set(session.scalars(select(m.Worker.id).where(
        m.Worker.id.in_(set(workers_by_grid.values())))))
    missing = set(workers_by_grid.values()) - known
    if missing:
        raise ValueError(f"workers not found: {sorted(missing)} (网格员不存在)")
    session.execute(delete(m.Assignment).where(m.Assignment.plan_id == plan_id,
                                               m.Assignment.role == role))
    session.add_all(m.Assignment(plan_id=plan_id, grid_id=grid_ids[code], worker_id=worker,
                                 role=role, source=source)
                    for code, worker in workers_by_grid.items())
    session.flush()
    return len(workers_by_grid)


def save_route(session: Session, *, plan_id: int, worker_id: int, day: date,
               stops: list[dict], path: shapely.LineString | None, distance_m: float,
               duration_s: float, job_id: int | None = None,
               kind: str = "patrol") -> m.Route:
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
    route = session.scalar(select(m.Route).where(m.Route.plan_id == plan_id,
                                                 m.Route.worker_id == worker_id,
                                                 m.Route.day == day, m.Route.kind == kind))
    if route is None:
        route = m.Route(plan_id=plan_id, worker_id=worker_id, day=day, kind=kind)
        session.add(route)
    route.stops = [dict(stop, seq=stop.get("seq", i + 1)) for i, stop in enumerate(stops)]
    route.distance_m, route.duration_s, route.job_id = distance_m, duration_s, job_id
    route.set_geometry(path)
    session.flush()
    return route
