"""The partition job: a dataset's study area divided into micro-grids (partition.plan),
saved as a draft plan together with the job's success in one transaction."""

from __future__ import annotations

from sqlalchemy import update

from api.jobs.runner import JobProgress, LeaseLostError, finish_job
from api.services.datasets import load_dataset
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow, JobRow

# Steps reported by a partition job: loading (gis.study_area.LOAD_STEPS), partition.plan's five
# steps, then saving. Progress is the share of steps started.
PARTITION_STEPS = 4 + 5 + 1


def run_partition(db: Database, settings: Settings, job_id: int, params: dict) -> None:
    """Load the dataset, make the plan, save it and the job's success in one transaction."""
    from api.store.plans import buildings_frame, grids_frame, save_plan
    from partition.plan import make_plan

    progress = JobProgress(db, job_id, PARTITION_STEPS)
    with db.read_session() as session:
        dataset = session.get_one(DatasetRow, params["dataset_id"])
        previous = None
        if params.get("previous_plan_id"):
            prev_id = params["previous_plan_id"]
            previous = (grids_frame(session, prev_id), buildings_frame(session, prev_id))
    area = load_dataset(settings, dataset, progress)
    plan = make_plan(area, params["target_households"], seed=params.get("seed", 0),
                     previous=previous, locked=frozenset(params.get("locked", [])),
                     split_units=params.get("split_units"), progress=progress)
    progress("保存 saving")
    with db.writing() as session:
        # First the job's end, conditional on the lease (its row stays locked until the
        # commit): cancelled, interrupted or taken up again meanwhile, nothing is written.
        if not finish_job(session, job_id, {}):
            raise LeaseLostError(job_id)
        row = save_plan(session, plan, dataset_id=dataset.id,
                        name=params.get("name") or f"plan {job_id}", params=params,
                        attribution=area.attribution, job_id=job_id)
        session.flush()
        session.execute(update(JobRow).where(JobRow.id == job_id).values(
            result={"plan_id": row.id, "grids": plan.summary.get("grids")}))
