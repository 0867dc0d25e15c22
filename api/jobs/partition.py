"""The partition job: a dataset's study area divided into micro-grids (partition.plan),
saved as a draft plan together with the job's success in one transaction.

With a Dask scheduler configured (``Settings.dask_scheduler``), a fresh plan of a dataset of
at least ``Settings.cluster_min_buildings`` buildings goes to the cluster: the dataset is
written to a city store in the job's folder (gis.city_store) and planned one community per
task (partition.city), the job's progress advancing with the communities done; the plan is
the one the job would make in its own process. Re-balancing (previous plan, locked grids) and
unit splits need the whole area at once and stay here."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from api.jobs.runner import JobProgress, LeaseLostError, finish_job
from api.services.datasets import load_dataset
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow, JobRow

# The dataset options (load_study_area keywords) a city store is written with.
STORE_OPTIONS = ("datum", "id_col", "invalid", "streets", "communities", "households_col")

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
    from api.store.plans import buildings_frame, grids_frame
    from partition.plan import make_plan

    with db.read_session() as session:
        dataset = session.get_one(DatasetRow, params["dataset_id"])
        if for_cluster(settings, dataset, params):
            return run_partition_on_cluster(db, settings, job_id, params, dataset)
    progress = JobProgress(db, job_id, PARTITION_STEPS)
    with db.read_session() as session:
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
    _save(db, settings, job_id, params, dataset.id, plan, area.attribution)


def _save(db: Database, settings: Settings, job_id: int, params: dict, dataset_id: int,
          plan: Any, attribution: str | None) -> None:
    """The plan and the job's success, in one transaction."""
    from api.store.plans import save_plan

    with db.writing() as session:
        # First the job's end, conditional on the lease (its row stays locked until the
        # commit): cancelled, interrupted or taken up again meanwhile, nothing is written.
        if not finish_job(session, job_id, {}):
            raise LeaseLostError(job_id)
        row = save_plan(session, plan, dataset_id=dataset_id,
                        name=params.get("name") or f"plan {job_id}", params=params,
                        attribution=attribution, job_id=job_id)
        session.flush()
        session.execute(update(JobRow).where(JobRow.id == job_id).values(
            result={"plan_id": row.id, "grids": plan.summary.get("grids")}))
        plan_id = row.id
    footprints_for_editor(db, settings, plan_id)


def footprints_for_editor(db: Database, settings: Settings, plan_id: int) -> None:
    """Keep the new plan's footprints packed and its editor page's basemap for the plan
    editor (api.services.editor.save_footprints, save_basemap): the drafts copied from it
    open without making them. A failure only costs the first editor page that time."""
    from api.services import editor

    try:
        editor.save_footprints(db, settings, plan_id)
        editor.save_basemap(db, settings, plan_id)
    except Exception:
        log.exception("editor footprints and basemap of plan %s not saved", plan_id)


def for_cluster(settings: Settings, dataset: DatasetRow, params: dict) -> bool:
    """Whether this job goes to the Dask cluster: one is configured, the dataset is large
    enough, the plan is a fresh one, and the dataset's options are a store's."""
    if not settings.dask_scheduler:
        return False
    if params.get("previous_plan_id") or params.get("locked") or params.get("split_units"):
        return False
    if set(dataset.options or {}) - set(STORE_OPTIONS):
        return False
    return int((dataset.summary or {}).get("buildings") or 0) >= settings.cluster_min_buildings


def run_partition_on_cluster(db: Database, settings: Settings, job_id: int, params: dict,
                             dataset: DatasetRow) -> None:
    """The dataset written to a city store in the job's folder, planned one community per
    task on ``settings.dask_scheduler`` (partition.city), then saved as run_partition saves;
    the folder is removed after."""
    import pyogrio

    from gis.city_store import write_city_store
    from gis.households import HouseholdOptions
    from partition.city import plan_city
    from partition.plan import Plan

    progress = JobProgress(db, job_id, PARTITION_STEPS)
    folder = settings.data_dir / "jobs" / str(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        opts = dict(dataset.options or {})
        households = HouseholdOptions(households_col=opts.pop("households_col", "households"))
        progress.at(0.0, "数据仓 city store")
        store = folder / "store.gpkg"
        write_city_store(Path(settings.data_dir) / dataset.path, store, households=households,
                         **{k: v for k, v in opts.items() if v is not None})

        def advance(report: dict[str, Any], done: int, total: int) -> None:
            progress.at(0.1 + 0.8 * done / total,
                        f"社区 community {report['community']} ({done}/{total})")

        out = folder / "plan.gpkg"
        result = plan_city(store, out, target=params["target_households"],
                           seed=params.get("seed", 0), time_limit=params.get("time_limit"),
                           cluster=settings.dask_scheduler, workers=os.cpu_count() or 1,
                           progress=advance)
        progress.at(0.9, "保存 saving")
        plan = Plan(grids=pyogrio.read_dataframe(out, layer="grids"),
                    buildings=pyogrio.read_dataframe(out, layer="buildings"),
                    crs="EPSG:4326", target=params["target_households"],
                    summary=dict(result.summary, cluster=settings.dask_scheduler),
                    failures=result.failures)
        _save(db, settings, job_id, params, dataset.id, plan, dataset.attribution)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
