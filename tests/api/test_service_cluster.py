"""A partition job of a large dataset goes to the Dask cluster when one is configured
(issue 20, item 4): the same plan as the job run in its own process, its progress advancing
with the communities; small datasets and re-balancing stay in the job's process."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api import jobs
from api.jobs import runner as job_runner
from api.jobs.partition import for_cluster
from api.jobs.runner import run_job
from api.services.datasets import add_dataset
from api.settings import Settings
from api.store import models as m
from api.store.db import Database


@pytest.fixture()
def service(tmp_path, district, monkeypatch):
    monkeypatch.setattr(job_runner, "_owners", {})
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.url)
    db.upgrade()
    dataset_id = add_dataset(db, settings, district, name="district")
    yield db, settings, dataset_id
    db.dispose()


def _run(db: Database, settings: Settings, dataset_id: int) -> m.JobRow:
    with db.writing() as s:
        job = m.JobRow(kind="partition", status="running", owner="lease",
                       params={"dataset_id": dataset_id, "target_households": 300})
        s.add(job)
        s.flush()
        job_id = job.id
    run_job(settings, job_id, jobs.JOB_KINDS["partition"], owner="lease")
    with db.read_session() as s:
        row = s.get_one(m.JobRow, job_id)
        s.expunge(row)
        return row


def _plan(db: Database, plan_id: int) -> tuple[dict, dict]:
    with db.read_session() as s:
        grids = {g.code: (g.community, g.households, g.buildings)
                 for g in s.scalars(select(m.GridRow).where(m.GridRow.plan_id == plan_id))}
        labels = {b.building_id: b.grid_code for b in
                  s.scalars(select(m.PlanBuildingRow).where(m.PlanBuildingRow.plan_id == plan_id))}
    return grids, labels


def test_a_cluster_job_saves_the_plan_of_a_local_job(service):
    pytest.importorskip("distributed")
    db, settings, dataset_id = service
    local = _run(db, settings, dataset_id)
    cluster_settings = Settings(data_dir=settings.data_dir, dask_scheduler="local",
                                cluster_min_buildings=0)
    on_cluster = _run(db, cluster_settings, dataset_id)
    assert local.status == on_cluster.status == "succeeded", on_cluster.error
    assert on_cluster.progress == 1.0
    local_grids, local_labels = _plan(db, local.result["plan_id"])
    grids, labels = _plan(db, on_cluster.result["plan_id"])
    assert grids == local_grids
    assert labels == local_labels
    with db.read_session() as s:
        summary = s.get_one(m.PlanRow, on_cluster.result["plan_id"]).summary
    assert summary["cluster"] == "local" and summary["grids"] == len(grids)
    assert not (settings.data_dir / "jobs" / str(on_cluster.id)).exists()  # folder removed


def test_what_stays_in_the_job_process(service):
    db, settings, dataset_id = service
    with db.read_session() as s:
        dataset = s.get_one(m.DatasetRow, dataset_id)
    buildings = dataset.summary["buildings"]
    on = Settings(data_dir=settings.data_dir, dask_scheduler="tcp://10.0.0.1:8786",
                  cluster_min_buildings=buildings)
    fresh = {"dataset_id": dataset_id, "target_households": 300}
    assert for_cluster(on, dataset, fresh)
    assert not for_cluster(settings, dataset, fresh)  # no scheduler configured
    assert not for_cluster(Settings(data_dir=settings.data_dir, dask_scheduler="local",
                                    cluster_min_buildings=buildings + 1), dataset, fresh)
    assert not for_cluster(on, dataset, dict(fresh, previous_plan_id=1))
    assert not for_cluster(on, dataset, dict(fresh, split_units="units"))
