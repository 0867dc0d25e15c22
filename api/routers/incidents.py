"""Incident reports (事件上报): the store's record of a report, placed in its grid.

The full lifecycle (accept, dispatch, handle, verify, close) is the incidents module's; this
router creates reports (idempotently, for phones on bad networks) and lets people read them
as their role allows.
"""

from __future__ import annotations

from typing import Annotated

import shapely
from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Reader, Reporter, forbid_other_worker
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.errors import not_found
from api.idempotency import idempotent_create
from api.models import Assignment, Grid, Incident, Plan
from api.schemas import IncidentIn, IncidentOut
from api.spatial import bbox_filter

router = APIRouter(tags=["incidents 事件"])


def incident_out(i: Incident) -> IncidentOut:
    return IncidentOut(id=i.id, category=i.category, description=i.description, status=i.status,
                       lon=i.geom.x, lat=i.geom.y, plan_id=i.plan_id, grid_code=i.grid_code,
                       worker_id=i.worker_id, created_at=i.created_at)


def locate(session: Session, point: shapely.Point) -> tuple[int | None, str | None, int | None]:
    """(plan id, grid code, worker id) of the active plan's grid holding ``point``."""
    dialect = session.get_bind().dialect.name
    box = (point.x, point.y, point.x, point.y)
    grids = session.scalars(select(Grid).join(Plan, Plan.id == Grid.plan_id).where(
        Plan.status == "active", bbox_filter(Grid, box, dialect)))
    for grid in grids:
        if grid.geom is not None and grid.geom.covers(point):
            worker = session.scalar(select(Assignment.worker_id).where(
                Assignment.grid_id == grid.id, Assignment.role == "worker"))
            return grid.plan_id, grid.code, worker
    return None, None, None


@router.post("/incidents", status_code=201, response_model=IncidentOut,
             summary="上报事件 report an incident (send Idempotency-Key when retrying)")
def report_incident(body: IncidentIn, request: Request, session: WriteDb, who: Reporter,
                    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    def create(s: Session) -> IncidentOut:
        point = shapely.Point(body.lon, body.lat)
        plan_id, grid_code, worker_id = locate(s, point)
        incident = Incident(category=body.category, description=body.description,
                            reporter_name=body.reporter_name, reporter_phone=body.reporter_phone,
                            reporter_token_id=who.token_id, plan_id=plan_id,
                            grid_code=grid_code, worker_id=worker_id)
        incident.set_geometry(point)
        s.add(incident)
        s.flush()
        return incident_out(incident)

    return idempotent_create(session, who, idempotency_key, "POST", request.url.path,
                             body.model_dump(), create)


@router.get("/incidents", response_model=list[IncidentOut],
            summary="事件列表 incidents (a worker sees their own)")
def list_incidents(session: ReadDb, who: Reader, settings: AppSettings,
                   limit: int = 100, offset: int = Query(0, ge=0),
                   status: str | None = None):
    query = select(Incident).order_by(Incident.id)
    if who.role == "worker":
        query = query.where(Incident.worker_id == who.worker_id)
    if status:
        query = query.where(Incident.status == status)
    rows = session.scalars(query.limit(check_limit(limit, settings)).offset(offset))
    return [incident_out(i) for i in rows]


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: int, session: ReadDb, who: Reader):
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise not_found("事件", "incident", incident_id)
    if who.role == "worker":
        forbid_other_worker(who, incident.worker_id)
    return incident_out(incident)
