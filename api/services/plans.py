"""Plans and their jobs: start a partition job, list, get, diff, activate, export."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select, update

from api.auth import allowed
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.errors import ApiError, not_found
from api.jobs.runner import eta_seconds
from api.schemas import JobOut, PlanCreate, PlanDiff, PlanOut
from api.store.models import DatasetRow, JobRow, PlanRow
from api.store.plans import as_partition_plan, diff_plans
from partition.plan_io import write_plan

router = APIRouter(tags=["plans 网格方案"])
RERUNNABLE = ("interrupted", "failed", "cancelled")


def job_out(job: JobRow) -> JobOut:
    out = JobOut.model_validate(job)
    out.eta_seconds = eta_seconds(job)
    return out


def _plan(session, plan_id: int) -> PlanRow:
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise not_found("网格方案", "plan", plan_id)
    return plan


def _job(session, job_id: int) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None:
        raise not_found("任务", "job", job_id)
    return job


def _accepted(job: JobRow) -> JSONResponse:
    return JSONResponse(job_out(job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/jobs/{job.id}"})


@router.post("/plans", status_code=202, response_model=JobOut,
             summary="生成网格方案 start a partition job (poll /jobs/{id})")
def create_plan(body: PlanCreate, request: Request, session: ReadDb, who: allowed("plans.draft")):
    if session.get(DatasetRow, body.dataset_id) is None:
        raise not_found("数据集", "dataset", body.dataset_id)
    if body.previous_plan_id is not None:
        _plan(session, body.previous_plan_id)
    elif body.locked:
        raise ApiError(422, "bad_request", "锁定网格需要指定原方案 previous_plan_id",
                       "locked grids need previous_plan_id")
    job = request.app.state.jobs.submit("partition", body.model_dump(), who.token_id)
    return _accepted(job)


@router.get("/plans", response_model=list[PlanOut], summary="方案列表 list plans")
def list_plans(session: ReadDb, who: allowed("plans.read"), settings: AppSettings, limit: int = 100,
               offset: int = Query(0, ge=0), status: str | None = None):
    query = select(PlanRow).order_by(PlanRow.id)
    if status:
        query = query.where(PlanRow.status == status)
    return list(session.scalars(query.limit(check_limit(limit, settings)).offset(offset)))


@router.get("/plans/{plan_id}", response_model=PlanOut, summary="方案 one plan")
def get_plan(plan_id: int, session: ReadDb, who: allowed("plans.read")):
    return _plan(session, plan_id)


@router.get("/plans/{plan_id}/diff/{other_id}", response_model=PlanDiff,
            summary="方案对比 what changed from plan_id to other_id")
def diff(plan_id: int, other_id: int, session: ReadDb, who: allowed("plans.read")):
    _plan(session, plan_id)
    _plan(session, other_id)
    return diff_plans(session, plan_id, other_id)


@router.post("/plans/{plan_id}/activate", response_model=PlanOut,
             summary="启用方案 make this the active plan (the previous one is archived)")
def activate(plan_id: int, session: WriteDb, who: allowed("plans.activate")):
    plan = _plan(session, plan_id)
    session.execute(update(PlanRow).where(PlanRow.status == "active", PlanRow.id != plan_id)
                    .values(status="archived"))
    plan.status = "active"
    plan.activated_at = datetime.now(UTC)
    session.flush()
    out = PlanOut.model_validate(plan)
    session.commit()
    return out


@router.get("/plans/{plan_id}/export.gpkg", response_class=FileResponse,
            summary="导出 GeoPackage export the plan (layers grids, buildings)")
def export_plan(plan_id: int, session: ReadDb, who: allowed("plans.read"), settings: AppSettings,
                background: BackgroundTasks):
    plan = _plan(session, plan_id)
    exports = settings.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    path = exports / f"plan-{plan_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.gpkg"
    write_plan(as_partition_plan(session, plan), path, plan.attribution)
    background.add_task(path.unlink, missing_ok=True)
    return FileResponse(path, media_type="application/geopackage+sqlite3",
                        filename=f"plan-{plan_id}.gpkg")


# ---- jobs ----------------------------------------------------------------------------------

@router.get("/jobs", response_model=list[JobOut], tags=["jobs 任务"], summary="任务列表")
def list_jobs(session: ReadDb, who: allowed("jobs.read"), settings: AppSettings, limit: int = 100,
              offset: int = Query(0, ge=0)):
    rows = session.scalars(select(JobRow).order_by(JobRow.id.desc())
                           .limit(check_limit(limit, settings)).offset(offset))
    return [job_out(j) for j in rows]


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs 任务"],
            summary="任务状态 status, progress and ETA")
def get_job(job_id: int, session: ReadDb, who: allowed("jobs.read")):
    return job_out(_job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs 任务"],
             summary="取消任务 cancel a queued or running job")
def cancel_job(job_id: int, request: Request, session: ReadDb, who: allowed("jobs.manage")):
    job = _job(session, job_id)
    if job.status not in ("queued", "running"):
        raise ApiError(409, "job_finished", f"任务已结束（{job.status}），无法取消",
                       f"the job has ended ({job.status}) and cannot be cancelled")
    request.app.state.jobs.cancel(job_id)
    session.rollback()  # end the read snapshot so that the new status is seen
    return job_out(_job(session, job_id))


@router.post("/jobs/{job_id}/rerun", status_code=202, response_model=JobOut,
             tags=["jobs 任务"], summary="重新运行 re-run an interrupted, failed or cancelled job")
def rerun_job(job_id: int, request: Request, session: ReadDb, who: allowed("jobs.manage")):
    job = _job(session, job_id)
    if job.status not in RERUNNABLE:
        raise ApiError(409, "job_not_rerunnable",
                       f"只能重新运行中断、失败或取消的任务（当前 {job.status}）",
                       f"only interrupted, failed or cancelled jobs can be re-run "
                       f"(this one is {job.status})")
    new = request.app.state.jobs.submit(job.kind, dict(job.params), who.token_id,
                                        rerun_of=job.id)
    return _accepted(new)
