"""Plans and their jobs: start a partition job, list, get, diff, activate, export; job
status, cancel and re-run (api.services.plans, api.services.jobs)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import FileResponse

from api.auth import JobsManage, JobsRead, PlansActivate, PlansDraft, PlansRead
from api.deps import AppSettings, ReadDb, WriteDb, check_limit, job_accepted
from api.schemas import JobOut, PlanCreate, PlanDiff, PlanOut
from api.services import jobs, plans

router = APIRouter(tags=["plans 网格方案"])


@router.post("/plans", status_code=202, response_model=JobOut,
             summary="生成网格方案 start a partition job (poll /jobs/{id})")
def create_plan(body: PlanCreate, request: Request, response: Response, session: ReadDb,
                who: PlansDraft):
    job = plans.start_partition(session, request.app.state.jobs, who.token_id, body)
    return job_accepted(response, job)


@router.get("/plans", response_model=list[PlanOut], summary="方案列表 list plans")
def list_plans(session: ReadDb, who: PlansRead, settings: AppSettings, limit: int = 100,
               offset: int = Query(0, ge=0), status: str | None = None):
    return plans.list_plans(session, check_limit(limit, settings), offset, status)


@router.get("/plans/{plan_id}", response_model=PlanOut, summary="方案 one plan")
def get_plan(plan_id: int, session: ReadDb, who: PlansRead):
    return plans.plan_row(session, plan_id)


@router.get("/plans/{plan_id}/diff/{other_id}", response_model=PlanDiff,
            summary="方案对比 what changed from plan_id to other_id")
def diff(plan_id: int, other_id: int, session: ReadDb, who: PlansRead):
    return plans.diff(session, plan_id, other_id)


@router.post("/plans/{plan_id}/activate", response_model=PlanOut,
             summary="启用方案 make this the active plan (the previous one is archived)")
def activate(plan_id: int, session: WriteDb, who: PlansActivate):
    return plans.activate(session, plan_id)


@router.get("/plans/{plan_id}/export.gpkg", response_class=FileResponse,
            summary="导出 GeoPackage export the plan (layers grids, buildings)")
def export_plan(plan_id: int, session: ReadDb, who: PlansRead, settings: AppSettings,
                background: BackgroundTasks):
    path = plans.export(session, settings, plan_id)
    background.add_task(path.unlink, missing_ok=True)
    return FileResponse(path, media_type="application/geopackage+sqlite3",
                        filename=f"plan-{plan_id}.gpkg")


# ---- jobs ----------------------------------------------------------------------------------

@router.get("/jobs", response_model=list[JobOut], tags=["jobs 任务"], summary="任务列表")
def list_jobs(session: ReadDb, who: JobsRead, settings: AppSettings, limit: int = 100,
              offset: int = Query(0, ge=0)):
    return jobs.list_jobs(session, check_limit(limit, settings), offset)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs 任务"],
            summary="任务状态 status, progress and ETA")
def get_job(job_id: int, session: ReadDb, who: JobsRead):
    return jobs.get_job(session, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs 任务"],
             summary="取消任务 cancel a queued or running job")
def cancel_job(job_id: int, request: Request, session: ReadDb, who: JobsManage):
    return jobs.cancel(session, request.app.state.jobs, job_id)


@router.post("/jobs/{job_id}/rerun", status_code=202, response_model=JobOut,
             tags=["jobs 任务"], summary="重新运行 re-run an interrupted, failed or cancelled job")
def rerun_job(job_id: int, request: Request, response: Response, session: ReadDb,
              who: JobsManage):
    return job_accepted(response, jobs.rerun(session, request.app.state.jobs, who, job_id))
