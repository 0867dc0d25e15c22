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

from api.jobs.partition import load_dataset
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow, PlanRow
from api.store.plans import save_plan
from partition.metrics import DEFAULT_TARGET


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
        dataset = DatasetRow(name=name or source.name, filename=source.name,
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
                     target_households: int = DEFAULT_TARGET, name: str = "", seed: int = 0,
                     progress=None) -> int:
    """Partition the dataset now (in this process), store the plan and make it the active
    one, in one transaction; returns the plan id."""
    from partition.plan import make_plan

    with db.read_session() as session:
        dataset = session.get(DatasetRow, dataset_id)
    if dataset is None:
        raise ValueError(f"dataset {dataset_id} not found (数据集不存在)")
    area = load_dataset(settings, dataset, progress)
    plan = make_plan(area, target_households, seed=seed, progress=progress)
    with db.writing() as session:
        session.execute(update(PlanRow).where(PlanRow.status == "active").values(status="archived"))
        row = save_plan(session, plan, dataset_id=dataset_id, name=name or dataset.name,
                        params={"seed": seed}, attribution=area.attribution, job_id=None)
        row.status = "active"
        session.flush()
        return row.id


DEMO_WORKERS = 10
DEMO_MEMBERS = 15
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def demo_source() -> Path:
    """The demo data: the real OpenStreetMap extract shipped in the pyrosm wheel."""
    import pyrosm

    return Path(pyrosm.get_data("test_pbf"))


def _spread(frame, count: int) -> list[int]:
    """Positions of ``count`` rows spread over ``frame`` (sorted by grid, then id)."""
    order = frame.sort_values(["grid_id", "building_id"]).index.tolist()
    if len(order) <= count:
        return order
    step = len(order) / count
    return [order[int(i * step + step / 2)] for i in range(count)]


def _demo_people(db: Database, plan_id: int, workers: int, members: int) -> tuple[list, list]:
    """Workers based at residential buildings spread over the grids, and party members
    living in others; returns their ids."""
    from api.store.models import PartyMemberRow, WorkerRow
    from api.store.plans import buildings_frame

    with db.read_session() as session:
        homes = buildings_frame(session, plan_id)
    homes = homes[(homes["households"] > 0) & homes["grid_id"].notna()]
    worker_rows = homes.loc[_spread(homes, workers)]
    member_rows = homes.drop(index=worker_rows.index).loc[
        _spread(homes.drop(index=worker_rows.index), members)]
    with db.writing() as session:
        staff = []
        for i, (_, b) in enumerate(worker_rows.iterrows()):
            w = WorkerRow(name=f"{SURNAMES[i % len(SURNAMES)]}网格员{i + 1:02d}",
                       employee_no=f"DEMO-{i + 1:03d}", notes="演示数据 demo")
            w.set_geometry(b.geometry.representative_point())
            staff.append(w)
        party = [PartyMemberRow(name=f"{SURNAMES[-1 - i % len(SURNAMES)]}党员{i + 1:02d}",
                             branch="演示支部 demo branch", building_ids=[str(b.building_id)],
                             notes="演示数据 demo")
                 for i, (_, b) in enumerate(member_rows.iterrows())]
        session.add_all(staff + party)
        session.flush()
        return [w.id for w in staff], [p.id for p in party]


def demo_service(data_dir: str | Path, *, workers: int = DEMO_WORKERS,
                 members: int = DEMO_MEMBERS, source: str | Path | None = None,
                 report=print) -> dict:
    """Fill ``data_dir``'s store for ``wangge demo`` on first run; later runs find the active
    plan and do nothing.

    First run: import the demo extract (pyrosm's test_pbf, or ``source``), partition it and
    activate the plan, create ``workers`` grid workers based at residential buildings spread
    over the grids and ``members`` party members at other homes, assign workers to grids
    (CP-SAT, capacities scaled to the area), compute a street patrol per grid as today's routes
    and the party members' zones, and issue an admin token.

    Returns:
        dict: created (False when the store was filled before), dataset_id, plan_id, grids,
        workers, members, routes, seconds per step, admin_token (first run only: shown once).
    """
    import math
    import time

    from sqlalchemy import func, select

    from api.auth import issue_token
    from api.jobs.dispatch import run_assignments, run_party_zones, run_routes
    from api.store.models import GridRow, TokenRow

    settings = Settings.from_env(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.url, settings.sqlite_synchronous)
    try:
        db.upgrade()
        with db.read_session() as session:
            active = session.scalar(select(PlanRow).where(PlanRow.status == "active"))
            if active is not None:
                return {"created": False, "dataset_id": active.dataset_id,
                        "plan_id": active.id}
        seconds, started = {}, time.perf_counter()

        def lap(name: str) -> None:
            nonlocal started
            seconds[name] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            report(f"  {name}: {seconds[name]} s")

        source = Path(source) if source else demo_source()
        report(f"演示数据 demo data: {source}")
        dataset_id = add_dataset(db, settings, source, name="演示 demo")
        lap("导入 import")
        plan_id = make_active_plan(db, settings, dataset_id, name="演示方案 demo plan")
        lap("划分网格 partition")
        with db.read_session() as session:
            grids = session.scalar(select(func.count()).select_from(GridRow)
                                   .where(GridRow.plan_id == plan_id))
            households = session.scalar(select(func.sum(GridRow.households))
                                        .where(GridRow.plan_id == plan_id)) or 0
        staff, party = _demo_people(db, plan_id, workers, members)
        limits = {"max_grids": max(3, math.ceil(2 * grids / max(1, len(staff)))),
                  "max_households": max(1200, math.ceil(2 * households / max(1, len(staff))))}
        result = run_assignments(db, settings, None, {"plan_id": plan_id, "seconds": 5.0,
                                                      **limits})
        lap("分配网格员 assignments")
        routes = run_routes(db, settings, None, {"plan_id": plan_id})
        lap("巡查路线 patrol routes")
        zones = run_party_zones(db, settings, None, {"plan_id": plan_id})
        lap("党员责任区 party zones")
        with db.writing() as session:
            have_admin = session.scalar(select(TokenRow.id).where(TokenRow.role == "admin"))
            secret = None if have_admin else issue_token(session, "admin", "demo admin")[1]
        return {"created": True, "dataset_id": dataset_id, "plan_id": plan_id,
                "grids": grids, "households": int(households), "workers": len(staff),
                "members": len(party), "assigned_workers": result["workers"],
                "routes": routes["routes"], "route_m": routes["distance_m"],
                "zones": zones["zones"], "seconds": seconds, "admin_token": secret}
    finally:
        db.dispose()
