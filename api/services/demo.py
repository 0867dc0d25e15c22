"""The store ``wangge demo`` serves, filled on first run without the HTTP layer: the demo
extract as a dataset, an active plan, workers and party members, assignments, patrol routes
and party zones (the same checks, jobs and one-transaction writes as the API, run in the
calling process), and an admin token.
"""

from __future__ import annotations

from pathlib import Path

from api.services.datasets import add_dataset
from api.services.plans import make_active_plan
from api.settings import Settings
from api.store.db import Database
from api.store.plans import active_plan

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
        session.add_all([*staff, *party])
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
            active = active_plan(session)
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
                                   .where(GridRow.plan_id == plan_id)) or 0
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
