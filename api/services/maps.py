"""What the maps (maps/) draw, read from the store as GeoDataFrames in EPSG:4326.

Column names follow the maps' requirements: grids (code, households, deviation_pct, worker),
buildings (building_id, households, grid_id), party zones (member_id, name, grid_id,
households), incidents (incident_id, category, stage, created_at, grid_code, worker_id).

A worker's maps hold what the API gives them (as api.routers.ogc scopes its collections): their
own grids of the plan, the buildings and party member zones in them, their own incidents.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.store import models as m
from api.store.plans import buildings_frame, grids_frame
from dispatch.incidents.lifecycle import past_deadline, stage_deadline

ZONE_COLUMNS = ["member_id", "name", "branch", "grid_id", "households"]
INCIDENT_COLUMNS = ["incident_id", "category", "stage", "description", "title", "created_at",
                    "grid_code", "worker_id", "deadline", "overdue"]


def active_plan_id(session: Session) -> int | None:
    return session.scalar(select(m.PlanRow.id).where(m.PlanRow.status == "active"))


def own_grids(plan_id: int | None, worker_id: int):
    """A subquery: ids of the grids of ``plan_id`` assigned to ``worker_id``."""
    return select(m.AssignmentRow.grid_id).where(m.AssignmentRow.plan_id == plan_id,
                                              m.AssignmentRow.worker_id == worker_id)


def own_grid_codes(plan_id: int | None, worker_id: int):
    """A subquery: codes of the grids of ``plan_id`` assigned to ``worker_id``."""
    return select(m.GridRow.code).where(m.GridRow.id.in_(own_grids(plan_id, worker_id)))


def plan_layers(session: Session, plan_id: int, worker_id: int | None = None
                ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A plan's grids (with assigned worker names) and buildings; with ``worker_id``, only
    that worker's grids and the buildings in them."""
    if worker_id is None:
        return grids_frame(session, plan_id), buildings_frame(session, plan_id)
    return (grids_frame(session, plan_id, m.GridRow.id.in_(own_grids(plan_id, worker_id))),
            buildings_frame(session, plan_id, m.PlanBuildingRow.grid_code.in_(
                own_grid_codes(plan_id, worker_id))))


def party_zones_frame(session: Session, worker_id: int | None = None) -> gpd.GeoDataFrame:
    """Party members with a drawn responsibility zone; with ``worker_id``, those in that
    worker's grids of the active plan."""
    query = select(m.PartyMemberRow).where(m.PartyMemberRow.geom.is_not(None))
    if worker_id is not None:
        query = query.where(m.PartyMemberRow.grid_code.in_(
            own_grid_codes(active_plan_id(session), worker_id)))
    rows = list(session.scalars(query.order_by(m.PartyMemberRow.id)))
    return gpd.GeoDataFrame(
        [{"member_id": r.id, "name": r.name, "branch": r.branch, "grid_id": r.grid_code,
          "households": r.households} for r in rows], columns=ZONE_COLUMNS,
        geometry=[r.geom for r in rows], crs="EPSG:4326")


def incidents_frame(session: Session, worker_id: int | None = None) -> gpd.GeoDataFrame:
    """Incidents as points; ``stage`` is the stored status, ``deadline`` the one that applies
    now (to accept while reported, else to close) and ``overdue`` whether it has passed."""
    from api.store.incidents import aware

    now = datetime.now(UTC)
    query = select(m.IncidentRow).order_by(m.IncidentRow.id)
    if worker_id is not None:
        query = query.where(m.IncidentRow.worker_id == worker_id)
    rows = list(session.scalars(query))
    records = []
    for r in rows:
        deadline = aware(stage_deadline(r.status, r.accept_by, r.close_by))
        records.append({
            "incident_id": r.id, "category": r.category, "stage": r.status,
            "description": r.description, "title": (r.description or "")[:60],
            "created_at": r.created_at, "grid_code": r.grid_code, "worker_id": r.worker_id,
            "deadline": deadline.isoformat() if deadline else None,
            "overdue": past_deadline(r.status, deadline, now)})
    return gpd.GeoDataFrame(records, columns=INCIDENT_COLUMNS,
                            geometry=[r.geom for r in rows], crs="EPSG:4326")
