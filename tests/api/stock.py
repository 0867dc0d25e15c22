"""A service's store made ready for the tests: tokens for each role, two workers and a
volunteer, a dataset with an active plan, assignments, a route and a party member; uploading a
dataset and waiting for a job through the HTTP API."""

from __future__ import annotations

import datetime as dt
import time

import shapely

from api.auth import issue_token
from api.services.datasets import add_dataset
from api.services.plans import make_active_plan
from api.store import models as m
from api.store.assignments import save_assignments
from api.store.routes import save_route

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def make_tokens(app, names=("admin", "planner", "reporter")) -> dict[str, dict]:
    headers = {}
    with app.state.db.writing() as s:
        w1 = m.WorkerRow(name="王芳", employee_no="W001")
        w2 = m.WorkerRow(name="李强", employee_no="W002")
        s.add_all([w1, w2])
        s.flush()
        for role in names:
            _, secret = issue_token(s, role, role)
            headers[role] = {"Authorization": f"Bearer {secret}"}
        for key, worker in (("worker", w1), ("worker2", w2)):
            _, secret = issue_token(s, "worker", worker.name, worker_id=worker.id)
            headers[key] = {"Authorization": f"Bearer {secret}"}
        headers["worker_id"], headers["worker2_id"] = w1.id, w2.id
        volunteer = m.VolunteerRow(name="赵敏", phone="13900000001", skills=["errands"],
                                   grid_codes=[])
        s.add(volunteer)
        s.flush()
        _, secret = issue_token(s, "volunteer", volunteer.name, volunteer_id=volunteer.id)
        headers["volunteer"] = {"Authorization": f"Bearer {secret}"}
        headers["volunteer_id"] = volunteer.id
    return headers


def wait_job(client, job_id, headers, timeout=180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}", headers=headers).json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def upload(client, path, headers, name="district", filename=None):
    with open(path, "rb") as f:
        return client.post("/datasets", headers=headers, data={"name": name},
                           files={"file": (filename or path.name, f, "application/xml")})


def stock_service(app, source) -> dict:
    """A dataset, an active plan whose grids but the last are shared by two workers (bases in
    their first grids),
    a route, a party member's zone and three incidents; returns the tokens and ids."""
    db, settings = app.state.db, app.state.settings
    h = make_tokens(app)
    dataset_id = add_dataset(db, settings, source, name="district")
    plan_id = make_active_plan(db, settings, dataset_id, target_households=300)
    with db.writing() as s:
        grids = s.execute(m.GridRow.__table__.select().where(m.GridRow.plan_id == plan_id)
                          .order_by(m.GridRow.code)).all()
        codes = [g.code for g in grids]
        half = len(codes) // 2
        # the last grid stays without a worker: a gap for the coverage map
        save_assignments(s, plan_id, {c: h["worker_id"] if i < half else h["worker2_id"]
                                      for i, c in enumerate(codes[:-1])})
        for wid, grid in ((h["worker_id"], grids[0]), (h["worker2_id"], grids[-2])):
            s.get(m.WorkerRow, wid).set_geometry(grid.geom.representative_point())
        p0 = grids[0].geom.representative_point()
        p1 = grids[1].geom.representative_point()
        stops = [{"kind": "grid", "ref": codes[0], "name": "起点 base", "lon": p0.x,
                  "lat": p0.y, "eta": 8 * 3600},
                 {"kind": "grid", "ref": codes[1], "name": "巡查", "lon": p1.x, "lat": p1.y,
                  "eta": 8 * 3600 + 600}]
        save_route(s, plan_id=plan_id, worker_id=h["worker_id"], day=dt.date(2026, 11, 21),
                   stops=stops, path=shapely.LineString([p0, p1]), distance_m=250.0,
                   duration_s=600.0)
        member = m.PartyMemberRow(name="陈红", grid_code=codes[0], households=30)
        member.set_geometry(grids[0].geom)
        s.add(member)
    return {"h": h, "plan_id": plan_id, "dataset_id": dataset_id, "codes": codes,
            "points": [p0, p1]}
