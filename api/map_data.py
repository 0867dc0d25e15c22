"""What the maps (maps/) draw, read from the store as GeoDataFrames in EPSG:4326.

Column names follow the maps' requirements: grids (code, households, deviation_pct, worker),
buildings (building_id, households, grid_id), party zones (member_id, name, grid_id,
households), incidents (incident_id, category, stage, created_at, grid_code, worker_id).
"""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import models as m
from api.plan_store import buildings_frame, grids_frame


def active_plan_id(session: Session) -> int | None:
    return session.scalar(select(m.Plan.id).where(m.Plan.status == "active"))


def plan_layers(session: Session, plan_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A plan's grids (with assigned worker names) and buildings."""
    return grids_frame(session, plan_id), buildings_frame(session, plan_id)


def party_zones_frame(session: Session) -> gpd.GeoDataFrame:
    """Party members with a drawn responsibility zone."""
    rows = list(session.scalars(select(m.PartyMember).where(m.PartyMember.geom.is_not(None))
                                .order_by(m.PartyMember.id)))
    return gpd.GeoDataFrame(
        [{"member_id": r.id, "name": r.name, "branch": r.branch, "grid_id": r.grid_code,
          "households": r.households} for r in rows],
        geometry=[r.geom for r in rows], crs="EPSG:4326")


def incidents_frame(session: Session, worker_id: int | None = None) -> gpd.GeoDataFrame:
    """Incidents as points; ``stage`` is the stored status. Deadlines belong to the incidents
    module, which adds them."""
    query = select(m.Incident).order_by(m.Incident.id)
    if worker_id is not None:
        query = query.where(m.Incident.worker_id == worker_id)
    rows = list(session.scalars(query))
    return gpd.GeoDataFrame(
        [{"incident_id": r.id, "category": r.category, "stage": r.status,
          "description": r.description, "title": (r.description or "")[:60],
          "created_at": r.created_at, "grid_code": r.grid_code, "worker_id": r.worker_id}
         for r in rows],
        geometry=[r.geom for r in rows], crs="EPSG:4326")
