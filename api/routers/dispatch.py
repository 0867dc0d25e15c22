"""Dispatch runs over a plan, as jobs (poll /jobs/{id}): grid worker assignment, street patrol
routes and party member zones (api.jobs.dispatch). Planners and admins start them on a draft
plan; on the active plan (live data) only admins (api.services.jobs.submit_for_plan)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.auth import PlansCompute
from api.deps import ReadDb, job_accepted
from api.schemas import AssignmentsCompute, JobOut, PartyZonesCompute, RoutesCompute
from api.services.jobs import submit_for_plan

router = APIRouter(tags=["dispatch 调度"])


@router.post("/plans/{plan_id}/assignments/compute", status_code=202, response_model=JobOut,
             summary="分配网格员 assign workers to the plan's grids (a job; keeps previous "
             "assignments where it can)")
def compute_assignments(plan_id: int, request: Request, response: Response, session: ReadDb,
                        who: PlansCompute,
                        body: AssignmentsCompute | None = None):
    body = body or AssignmentsCompute()
    job = submit_for_plan(session, request.app.state.jobs, who, plan_id, "assignments",
                          body.model_dump())
    return job_accepted(response, job)


@router.post("/plans/{plan_id}/routes/compute", status_code=202, response_model=JobOut,
             summary="巡查路线 one street patrol per assigned grid from its worker's base "
             "(a job; routes as GeoJSON and GPX under /routes)")
def compute_routes(plan_id: int, request: Request, response: Response, session: ReadDb,
                   who: PlansCompute, body: RoutesCompute | None = None):
    body = body or RoutesCompute()
    job = submit_for_plan(session, request.app.state.jobs, who, plan_id, "routes",
                          body.model_dump(mode="json"))
    return job_accepted(response, job)


@router.post("/plans/{plan_id}/party-zones/compute", status_code=202, response_model=JobOut,
             summary="党员责任区 households to party members and their zones (a job)")
def compute_party_zones(plan_id: int, request: Request, response: Response, session: ReadDb,
                        who: PlansCompute,
                        body: PartyZonesCompute | None = None):
    body = body or PartyZonesCompute()
    job = submit_for_plan(session, request.app.state.jobs, who, plan_id, "party_zones",
                          body.model_dump())
    return job_accepted(response, job)
