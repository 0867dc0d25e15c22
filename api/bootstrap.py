"""Filling the store without the HTTP layer: a dataset from a file and an active plan.

For ``wangge demo`` and scripts: the same checks and the same one-transaction plan write as
the API and its jobs, run in the calling process.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import shapely
from sqlalchemy import update

from api.db import Database
from api.jobs import load_dataset
from api.models import Dataset, Plan
from api.plan_store import save_plan
from api.settings import Settings


def add_dataset(db: Database, settings: Settings, source: str | Path, name: str = "",
                **options) -> int:
    """Copy ``source`` into the data folder, check it (gis.study_area; InputError on bad
    input, nothing kept) and store it as a dataset; returns its id. ``options``: datum,
    households_col, id_col, invalid."""
    source = Path(source)
    folder_rel = Path("datasets") / uuid.uuid4().hex
    folder = settings.data_dir / folder_rel
    folder.mkdir(parents=True)
    try:
        shutil.copyfile(source, folder / source.name)
        dataset = Dataset(name=name or source.name, filename=source.name,
                          path=str(folder_rel / source.name),
                          size_bytes=source.stat().st_size,
                          options={"datum": "wgs84", "households_col": "households",
                                   "id_col": None, "invalid": "repair", **options})
        area = load_dataset(settings, dataset)
        dataset.summary = dict(area.summary(), source=source.name)
        dataset.attribution = area.attribution
        dataset.set_geometry(shapely.box(*area.buildings.to_crs("EPSG:4326").total_bounds))
        with db.writing() as session:
            session.add(dataset)
            session.flush()
            return dataset.id
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def make_active_plan(db: Database, settings: Settings, dataset_id: int,
                     target_households: int = 300, name: str = "", seed: int = 0,
                     progress=None) -> int:
    """Partition the dataset now (in this process), store the plan and make it the active
    one, in one transaction; returns the plan id."""
    from partition.plan import make_plan

    with db.read_session() as session:
        dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise ValueError(f"dataset {dataset_id} not found (数据集不存在)")
    area = load_dataset(settings, dataset, progress)
    plan = make_plan(area, target_households, seed=seed, progress=progress)
    with db.writing() as session:
        session.execute(update(Plan).where(Plan.status == "active").values(status="archived"))
        row = save_plan(session, plan, dataset_id=dataset_id, name=name or dataset.name,
                        params={"seed": seed}, attribution=area.attribution, job_id=None)
        row.status = "active"
        session.flush()
        return row.id
