"""The partition job: a dataset's study area divided into micro-grids (partition.plan),
saved as a draft plan together with the job's success in one transaction."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import update

from api.jobs.runner import JobProgress, LeaseLostError, finish_job
from api.services.datasets import load_dataset
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow, JobRow

if TYPE_CHECKING:
    from gis.study_area import StudyArea
    from partition.plan import Territory

log = logging.getLogger(__name__)

# Steps reported by a partition job: loading (gis.study_area.LOAD_STEPS), partition.plan's five
# steps, then saving. Progress is the share of steps started.
PARTITION_STEPS = 4 + 5 + 1


def territory_for_editor(settings: Settings, dataset_id: int, area: StudyArea,
                         split_units: str | None, progress=None) -> Territory | None:
    """The territory (partition.plan.build_territory) a partition of ``area`` is about to
    build, built here so that the plan editor's ground of the dataset is pickled from it
    (api.services.editor.save_ground) and the first editor opened on the dataset does not
    build it again; None when the partition builds another one (``split_units``: the
    buildings divided into units) or when the ground is pickled already."""
    from api.services import editor
    from partition.plan import build_territory

    if split_units or editor.ground_saved(settings, dataset_id):
        return None
    territory = build_territory(area, progress)
    try:
        editor.save_ground(settings, dataset_id, territory, area.crs)
    except OSError:  # the editor builds it on first use instead
        log.exception("editor ground of dataset %s not saved", dataset_id)
    return territory


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
    territory = territory_for_editor(settings, dataset.id, area, params.get("split_units"),
                                     progress)
    plan = make_plan(area, params["target_households"], seed=params.get("seed", 0),
                     previous=previous, locked=frozenset(params.get("locked", [])),
                     split_units=params.get("split_units"), progress=progress,
                     territory=territory)
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
