"""Dispatch runs over a plan, as jobs (poll /jobs/{id}): grid worker assignment, street patrol
routes and party member zones (api.jobs.dispatch). Planners and admins start them on a draft
plan; on the active plan (live data) only admins."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth import allowed, check
from api.deps import ReadDb
from api.errors import not_found
from api.routers.plans import _accepted
from api.schemas import AssignmentsCompute, JobOut, PartyZonesCompute, RoutesCompute
from api.store.models import PlanRow

router = APIRouter(tags=["dispatch 调度"])


def _submit(request: Request, session, plan_id: int, kind: str, params: dict, who):
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise not_found("网格方案", "plan", plan_id)
    if plan.status == "active":  # live data: the active plan's assignments and routes
        check(who, "plans.compute_active")
    job = request.app.state.jobs.submit(kind, {"plan_id": plan_id, **params}, who.token_id)
    return _accepted(job)


@router.post("/plans/{plan_id}/assignments/compute", status_code=202, response_model=JobOut,
             summary="分配网格员 assign workers to the plan's grids (a job; keeps previous "
             "assignments where it can)")
def compute_assignments(plan_id: int, request: Request, session: ReadDb,
                        who: allowed("plans.compute"),
                        body: AssignmentsCompute | None = None):
    body = body or AssignmentsCompute()
    return _submit(request, session, plan_id, "assignments", body.model_dump(), who)


@router.post("/plans/{plan_id}/routes/compute", status_code=202, response_model=JobOut,
             summary="巡查路线 one street patrol per assigned grid from its worker's base "
             "(a job; routes as GeoJSON and GPX under /routes)")
def compute_routes(plan_id: int, request: Request, session: ReadDb, who: allowed("plans.compute"),
                   body: RoutesCompute | None = None):
    body = body or RoutesCompute()
    return _submit(request, session, plan_id, "routes", body.model_dump(mode="json"), who)


@router.post("/plans/{plan_id}/party-zones/compute", status_code=202, response_model=JobOut,
             summary="党员责任区 households to party members and their zones (a job)")
def compute_party_zones(plan_id: int, request: Request, session: ReadDb,
                        who: allowed("plans.compute"),
                        body: PartyZonesCompute | None = None):
    body = body or PartyZonesCompute()
    return _submit(request, session, plan_id, "party_zones", body.model_dump(), who)
