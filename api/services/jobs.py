"""Jobs as the API shows them: status with an ETA, queueing the kinds of api.jobs for a plan,
cancel and re-run (the runner itself is api.jobs.runner, the app's ``state.jobs``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, check
from api.errors import ApiError, not_found
from api.jobs.runner import JobRunner, eta_seconds
from api.schemas import JobOut
from api.store.models import JobRow, PlanRow

RERUNNABLE = ("interrupted", "failed", "cancelled")


def job_out(job: JobRow) -> JobOut:
    """The API's view of a job row, with its estimated seconds left."""
    out = JobOut.model_validate(job)
    out.eta_seconds = eta_seconds(job)
    return out


def _job(session: Session, job_id: int) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None:
        raise not_found("任务", "job", job_id)
    return job


def list_jobs(session: Session, limit: int, offset: int) -> list[JobOut]:
    """The newest jobs first."""
    rows = session.scalars(select(JobRow).order_by(JobRow.id.desc()).limit(limit).offset(offset))
    return [job_out(j) for j in rows]


def get_job(session: Session, job_id: int) -> JobOut:
    """Job ``job_id``; 404 when there is none."""
    return job_out(_job(session, job_id))


def submit_for_plan(session: Session, runner: JobRunner, who: Principal, plan_id: int,
                    kind: str, params: dict) -> JobRow:
    """Queue a dispatch job (api.jobs.dispatch) over a plan; on the active plan (live data)
    only for those allowed ``plans.compute_active``."""
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise not_found("网格方案", "plan", plan_id)
    if plan.status == "active":  # live data: the active plan's assignments and routes
        check(who, "plans.compute_active")
    return runner.submit(kind, {"plan_id": plan_id, **params}, who.token_id)


def cancel(session: Session, runner: JobRunner, job_id: int) -> JobOut:
    """Cancel a queued or running job (409 once it has ended); the job as it is now."""
    job = _job(session, job_id)
    if job.status not in ("queued", "running"):
        raise ApiError(409, "job_finished", f"任务已结束（{job.status}），无法取消",
                       f"the job has ended ({job.status}) and cannot be cancelled")
    runner.cancel(job_id)
    session.rollback()  # end the read snapshot so that the new status is seen
    return job_out(_job(session, job_id))


def rerun(session: Session, runner: JobRunner, who: Principal, job_id: int) -> JobRow:
    """A new job with the parameters of an interrupted, failed or cancelled one (409 else)."""
    job = _job(session, job_id)
    if job.status not in RERUNNABLE:
        raise ApiError(409, "job_not_rerunnable",
                       f"只能重新运行中断、失败或取消的任务（当前 {job.status}）",
                       f"only interrupted, failed or cancelled jobs can be re-run "
                       f"(this one is {job.status})")
    return runner.submit(job.kind, dict(job.params), who.token_id, rerun_of=job.id)
