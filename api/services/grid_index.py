"""Which grid of the active plan holds a point: each plan's grids kept in memory, indexed.

A plan's grids never change once it is saved (a re-balanced plan is a new plan), so each
process reads a plan's grid polygons once and keeps them with their R-tree; a report then
costs one indexed query for the active plan's id plus a lookup in memory, instead of reading
every grid whose box holds the point on every request. The lookup is the Dispatcher's own
(dispatch.incidents.dispatcher.locate_grid), so a report and a dispatch place a point alike.
Activating another plan takes effect at the next report (the active plan's id is read every
time). The grids of a plan cover its communities (the partition tiles each community), so a
point in no grid lies outside every community of the plan.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.store.models import GridRow
from api.store.plans import active_plan_id

MAX_CACHED_PLANS = 8


@dataclass(frozen=True, eq=False)
class PlanGrids:
    """The grids of one plan: codes and polygons (EPSG:4326, prepared) in the order saved,
    with their R-tree."""

    plan_id: int
    codes: list[str]
    polygons: np.ndarray
    tree: shapely.STRtree
    bounds: tuple[float, float, float, float]

    def code_at(self, lon: float, lat: float) -> str | None:
        """The code of the grid covering (lon, lat) (the first saved when two share an
        edge), None outside every grid."""
        point = shapely.Point(lon, lat)
        near = self.tree.query(point)  # boxes holding the point
        if near.size == 0:
            return None
        near = near[shapely.covers(self.polygons[near], point)]
        return self.codes[int(near.min())] if near.size else None

    def polygon(self, code: str):
        """The polygon of grid ``code`` (the first saved with that code); KeyError if none."""
        return self.polygons[self.codes.index(code)]


class GridLocator:
    """Per-process cache of :class:`PlanGrids` by plan id (one per app)."""

    def __init__(self) -> None:
        self._plans: dict[int, PlanGrids] = {}
        self._lock = threading.Lock()

    def plan_grids(self, session: Session, plan_id: int) -> PlanGrids:
        """Plan ``plan_id``'s grids, read once per process and cached."""
        with self._lock:
            cached = self._plans.get(plan_id)
        if cached is not None:
            return cached
        rows = session.execute(select(GridRow.code, GridRow.geom).where(GridRow.plan_id == plan_id)
                               .order_by(GridRow.id)).all()
        kept = [(code, geom) for code, geom in rows if geom is not None and not geom.is_empty]
        polygons = np.array([geom for _, geom in kept], dtype=object)
        bounds = (0.0, 0.0, 0.0, 0.0)
        if kept:
            minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(polygons))
            bounds = (minx, miny, maxx, maxy)
        shapely.prepare(polygons)  # point-in-polygon tests without rebuilding edges
        grids = PlanGrids(plan_id, [str(code) for code, _ in kept], polygons,
                          shapely.STRtree(polygons), bounds)
        with self._lock:
            if len(self._plans) >= MAX_CACHED_PLANS:
                self._plans.clear()
            self._plans[plan_id] = grids
        return grids

    def active(self, session: Session) -> PlanGrids | None:
        """The grids of the active plan; None when no plan is active."""
        plan_id = active_plan_id(session)
        return None if plan_id is None else self.plan_grids(session, plan_id)


def outside_error(lon: float, lat: float, grids: PlanGrids) -> ApiError:
    """422: the point lies outside every community of the active plan."""
    minx, miny, maxx, maxy = grids.bounds
    area_zh = f"服务范围约为经度 {minx:.4f}–{maxx:.4f}、纬度 {miny:.4f}–{maxy:.4f}"
    area_en = f"the area served spans about lon {minx:.4f} to {maxx:.4f}, " \
              f"lat {miny:.4f} to {maxy:.4f}"
    return ApiError(
        422, "outside_area",
        f"上报位置（经度 {lon:g}，纬度 {lat:g}）不在任何社区（启用方案的网格）内，未受理。"
        f"请确认经纬度未写反、坐标为 WGS84（不是 GCJ-02 或 BD-09），或在地图上重新选点；"
        f"{area_zh}。",
        f"the reported point (lon {lon:g}, lat {lat:g}) lies outside every community (the "
        f"grids of the active plan) and was not accepted: check that lon and lat are not "
        f"swapped and are WGS84 (not GCJ-02 or BD-09), or pick the point again on the map; "
        f"{area_en}.",
        bounds=list(grids.bounds))
