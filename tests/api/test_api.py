"""The service end to end on a synthetic district of 200 buildings (SQLite; a smoke run on
PostGIS): uploads, partition jobs, plans, grids, people, incidents, roles and limits."""

from __future__ import annotations

import itertools
import time
import zipfile
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.auth import issue_token, revoke_token
from api.settings import Settings
from api.store import models as m
from api.store.db import Database
from tests.api.stock import TERMINAL, make_tokens, upload, wait_job


def same_key_at_once(client, headers, n=8) -> set[int]:
    """``n`` threads report the same incident with the same key at the same moment; returns
    the ids they were given."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"category": "noise", "description": "same-key race", "lon": 118.78, "lat": 32.04}
    key = {"Idempotency-Key": f"race-{time.monotonic_ns()}", **headers}
    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(lambda _: client.post("/incidents", headers=key, json=body),
                                range(n)))
    assert {a.status_code for a in answers} == {201}
    return {a.json()["id"] for a in answers}


# ---- authentication and roles -----------------------------------------------------------------

def test_unauthenticated_write_is_401(service):
    c = service["client"]
    for method, path, kw in (("post", "/workers", {"json": {"name": "x"}}),
                             ("post", "/incidents", {"json": {"category": "noise", "lon": 118.78,
                                                              "lat": 32.04}}),
                             ("post", "/plans", {"json": {"dataset_id": 1}}),
                             ("post", f"/plans/{service['plan_id']}/activate", {})):
        r = getattr(c, method)(path, **kw)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in r.json()["message"]["en"] and r.json()["message"]["zh"]
    assert c.get("/grids", headers={"Authorization": "Bearer wg_nope"}).status_code == 401


def test_revoked_token_is_refused(service):
    app, c = service["app"], service["client"]
    with app.state.db.writing() as s:
        token, secret = issue_token(s, "planner", "temp")
    h = {"Authorization": f"Bearer {secret}"}
    assert c.get("/plans", headers=h).status_code == 200
    with app.state.db.writing() as s:
        assert revoke_token(s, token.id)
    assert c.get("/plans", headers=h).status_code == 401


def test_token_cache_honours_revocation(tmp_path):
    """A valid token is remembered token_cache_s seconds: revoked in this process it is
    refused at once, revoked by another process (the CLI) within those seconds."""
    app = create_app(Settings(data_dir=tmp_path, token_cache_s=1.0), start_jobs=False)
    with TestClient(app) as c:
        with app.state.db.writing() as s:
            first, first_secret = issue_token(s, "planner", "one")
            second, second_secret = issue_token(s, "planner", "two")
        one = {"Authorization": f"Bearer {first_secret}"}
        two = {"Authorization": f"Bearer {second_secret}"}
        assert c.get("/plans", headers=one).status_code == 200
        assert c.get("/plans", headers=two).status_code == 200
        # the CLI: another process, its own database connection; no token query meanwhile
        cli = Database(app.state.settings.url)
        with cli.engine.begin() as conn:
            conn.execute(update(m.TokenRow).where(m.TokenRow.id == second.id)
                         .values(revoked_at=datetime.now(UTC)))
        cli.dispose()
        assert c.get("/plans", headers=two).status_code == 200  # cached, under 1 s
        time.sleep(1.1)
        assert c.get("/plans", headers=two).status_code == 401
        assert c.post("/workers", headers=two, json={"name": "x"}).status_code == 401
        with app.state.db.writing() as s:  # in this process: at once
            assert revoke_token(s, first.id)
        assert c.get("/plans", headers=one).status_code == 401


def _endpoints(sv) -> list[tuple[str, str, dict, set[str]]]:
    """(method, path, request kwargs, roles allowed) for every endpoint."""
    p, d, w = sv["plan_id"], sv["dataset"]["id"], sv["h"]["worker_id"]
    code = sv["codes"][0]
    readers = {"admin", "planner"}
    csv_file = {"files": {"file": ("w.csv", b"name,employee_no\nX,R-1\n", "text/csv")}}
    return [
        ("get", "/datasets", {}, readers),
        ("get", f"/datasets/{d}", {}, readers),
        ("post", "/datasets", {"files": {"file": ("x.txt", b"x", "text/plain")}}, readers),
        ("get", "/plans", {}, readers),
        ("get", f"/plans/{p}", {}, readers),
        ("post", "/plans", {"json": {"dataset_id": 999999}}, readers),
        ("get", f"/plans/{p}/diff/{p}", {}, readers),
        ("post", f"/plans/{p}/activate", {}, {"admin"}),
        ("get", f"/plans/{p}/export.gpkg", {}, readers),
        ("get", f"/plans/{p}/grids", {}, readers),
        ("get", f"/plans/{p}/buildings", {"params": {"limit": 5}}, readers),
        ("get", f"/plans/{p}/assignments", {}, readers),
        ("put", f"/plans/{p}/grids/{code}/assignment", {"json": {"worker_id": w}}, {"admin"}),
        ("get", "/jobs", {}, readers),
        ("get", f"/jobs/{sv['job']['id']}", {}, readers),
        ("post", f"/jobs/{sv['job']['id']}/cancel", {}, readers),
        ("post", f"/jobs/{sv['job']['id']}/rerun", {}, readers),
        ("get", "/grids", {}, readers | {"worker"}),
        ("get", f"/grids/{code}", {}, readers | {"worker"}),
        ("get", "/workers", {}, readers),
        ("post", "/workers", {"json": {"name": "临时"}}, {"admin"}),
        ("get", f"/workers/{w}", {}, readers | {"worker"}),
        ("patch", f"/workers/{w}", {"json": {"phone": "13800000000"}}, {"admin"}),
        ("get", f"/workers/{w}/assignments", {}, readers | {"worker"}),
        ("post", "/workers/import", csv_file, {"admin"}),
        ("get", "/party-members", {}, readers),
        ("post", "/party-members", {"json": {"name": "党员"}}, {"admin"}),
        ("post", "/party-members/import", csv_file, {"admin"}),
        ("get", "/incidents", {}, readers | {"worker"}),
        ("post", "/incidents", {"json": {"category": "环境卫生", "lon": 118.78, "lat": 32.04}},
         {"admin", "worker", "reporter"}),
        ("get", "/ogc/collections/grids/items", {}, readers | {"worker"}),
        ("get", f"/ogc/collections/grids/items/{code}", {}, readers | {"worker"}),
        ("get", "/incidents/statistics", {}, readers),
        ("post", "/incidents/escalate", {}, {"admin"}),
        ("get", "/open311/v2/requests.json", {}, readers | {"worker"}),
        ("post", "/open311/v2/requests.json",
         {"data": {"service_code": "noise", "lat": "32.04", "long": "118.78"}},
         {"admin", "worker", "reporter"}),
    ]


def test_every_endpoint_checks_roles(service):
    c, h = service["client"], service["h"]
    for method, path, kw, allowed in _endpoints(service):
        assert getattr(c, method)(path, **kw).status_code == 401, (method, path)
        for role in ("admin", "planner", "worker", "reporter"):
            r = getattr(c, method)(path, headers=h[role], **kw)
            if role in allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                body = r.json()
                assert body["code"] == "forbidden" and "权限" in body["message"]["zh"]


def test_worker_cannot_read_another_workers_data(service):
    c, h = service["client"], service["h"]
    mine, theirs = service["codes"][0], service["codes"][1]
    assert c.get(f"/workers/{h['worker_id']}", headers=h["worker"]).status_code == 200
    assert c.get(f"/workers/{h['worker2_id']}", headers=h["worker"]).status_code == 403
    assert c.get(f"/workers/{h['worker2_id']}/assignments",
                 headers=h["worker"]).status_code == 403
    assert c.get(f"/grids/{mine}", headers=h["worker"]).status_code == 200
    assert c.get(f"/grids/{theirs}", headers=h["worker"]).status_code == 403
    own = c.get("/grids", headers=h["worker"]).json()["features"]
    assert [f["properties"]["code"] for f in own] == [mine]
    ogc = c.get("/ogc/collections/grids/items", headers=h["worker"]).json()
    assert [f["id"] for f in ogc["features"]] == [mine]
    assert c.get(f"/ogc/collections/grids/items/{theirs}", headers=h["worker"]).status_code \
        == 404
    # an incident in the other worker's grid is theirs, not mine
    grid = next(f for f in service["grids"] if f["properties"]["code"] == theirs)
    import shapely.geometry

    point = shapely.geometry.shape(grid["geometry"]).representative_point()
    r = c.post("/incidents", headers=h["reporter"],
               json={"category": "noise", "lon": point.x, "lat": point.y})
    assert r.status_code == 201 and r.json()["grid_code"] == theirs
    assert r.json()["worker_id"] is None  # nobody's until dispatched
    iid = r.json()["id"]
    assert c.get(f"/incidents/{iid}", headers=h["worker2"]).status_code == 403
    for body in ({"action": "accept"}, {"action": "dispatch", "worker_id": h["worker2_id"]}):
        assert c.post(f"/incidents/{iid}/actions", headers=h["admin"],
                      json=body).status_code == 200
    assert c.get(f"/incidents/{iid}", headers=h["worker2"]).status_code == 200
    assert c.get(f"/incidents/{iid}", headers=h["worker"]).status_code == 403
    assert iid not in [i["id"] for i in c.get("/incidents", headers=h["worker"]).json()]
    assert iid in [i["id"] for i in c.get("/incidents", headers=h["worker2"]).json()]


# ---- datasets ---------------------------------------------------------------------------------

def test_dataset_summary(service):
    d = service["dataset"]
    assert d["summary"]["buildings"] == 200 and d["summary"]["communities"] >= 1
    assert d["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert d["bbox"][0] < d["bbox"][2] and 118 < d["bbox"][0] < 119
    assert "/" not in d["summary"]["source"]


def test_bad_upload_gives_bilingual_422_and_keeps_nothing(service, tmp_path):
    c, h, settings = service["client"], service["h"], service["settings"]
    before = sorted((settings.data_dir / "datasets").iterdir())
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    r = upload(c, broken, h["planner"])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "bad_input" and body["file"] == "broken.geojson"
    assert "处理办法" in body["message"]["zh"] and "What to do" in body["message"]["en"]
    r = c.post("/datasets", headers=h["planner"], files={"file": ("a.txt", b"abc", "text/plain")})
    assert r.status_code == 422 and "unsupported" in r.json()["message"]["en"]
    assert sorted((settings.data_dir / "datasets").iterdir()) == before


def test_upload_size_limit(service):
    c, h = service["client"], service["h"]
    big = b"0" * (service["settings"].max_upload_bytes + 200_000)
    r = c.post("/datasets", headers=h["planner"], files={"file": ("big.osm", big, "text/xml")})
    assert r.status_code == 413 and "MB" in r.json()["message"]["zh"]


def test_zipped_shapefile_upload(service, tmp_path):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"bid": ["a", "b"], "households": [40, 60]},
        geometry=[shapely.box(118.780, 32.040, 118.7803, 32.0303 + 0.0100),
                  shapely.box(118.781, 32.040, 118.7813, 32.0403)], crs="EPSG:4326")
    frame.to_file(tmp_path / "b.shp", encoding="utf-8")
    archive = tmp_path / "buildings.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            if (tmp_path / f"b.{ext}").exists():
                z.write(tmp_path / f"b.{ext}", f"b.{ext}")
    with open(archive, "rb") as f:
        r = service["client"].post("/datasets", headers=service["h"]["planner"],
                                   data={"id_col": "bid"},
                                   files={"file": ("buildings.zip", f, "application/zip")})
    assert r.status_code == 201, r.text
    assert r.json()["summary"]["buildings"] == 2


# ---- plans and jobs ---------------------------------------------------------------------------

def test_plan_job_result_and_plan(service):
    c, h, job = service["client"], service["h"], service["job"]
    assert job["progress"] == 1.0 and job["started_at"] and job["finished_at"]
    plan = c.get(f"/plans/{service['plan_id']}", headers=h["planner"]).json()
    assert plan["status"] == "active" and plan["summary"]["grids"] == len(service["grids"])
    assert plan["summary"]["residential_without_grid"] == 0
    assert sum(f["properties"]["households"] for f in service["grids"]) == \
        plan["summary"]["households"]
    assert service["grids"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # the job left the plan editor the dataset's adjacency and cells (no draft made yet)
    from api.services import editor

    assert editor.ground_saved(service["settings"], service["dataset"]["id"])


def test_rebalanced_plan_diff_activate_and_export(service, tmp_path):
    from partition.plan_io import read_plan

    c, h, p = service["client"], service["h"], service["plan_id"]
    r = c.post("/plans", headers=h["planner"],
               json={"dataset_id": service["dataset"]["id"], "target_households": 200,
                     "previous_plan_id": p, "name": "2026 调整"})
    job = wait_job(c, r.json()["id"], h["planner"])
    assert job["status"] == "succeeded", job
    q = job["result"]["plan_id"]
    diff = c.get(f"/plans/{p}/diff/{q}", headers=h["planner"]).json()
    assert diff["grids_new"] > 0 and diff["buildings_moved"] > 0
    assert diff["households_moved"] == sum(x["households"] for x in diff["moves"]
                                           if x["change"] == "moved")
    r = c.get(f"/plans/{q}/export.gpkg", headers=h["planner"])
    assert r.status_code == 200
    (tmp_path / "p.gpkg").write_bytes(r.content)
    grids, buildings = read_plan(tmp_path / "p.gpkg")
    assert len(grids) == job["result"]["grids"] and len(buildings) == 200
    # activating the new plan archives the old one; then put the old one back
    assert c.post(f"/plans/{q}/activate", headers=h["admin"]).json()["status"] == "active"
    assert c.get(f"/plans/{p}", headers=h["planner"]).json()["status"] == "archived"
    assert c.post(f"/plans/{p}/activate", headers=h["admin"]).status_code == 200
    assert len(c.get("/plans", params={"status": "active"}, headers=h["planner"]).json()) == 1


def test_failed_job_reports_why_and_leaves_no_plan(service):
    c, h, app = service["client"], service["h"], service["app"]
    with app.state.db.read_session() as s:
        plans_before = s.scalar(select(func.count()).select_from(m.PlanRow))
    r = c.post("/plans", headers=h["planner"],
               json={"dataset_id": service["dataset"]["id"], "previous_plan_id":
                     service["plan_id"], "locked": ["no-such-grid"]})
    job = wait_job(c, r.json()["id"], h["planner"])
    assert job["status"] == "failed" and "no-such-grid" in job["error"]
    assert job["error_zh"]
    with app.state.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(m.PlanRow)) == plans_before


def test_cancel_and_rerun_an_interrupted_job(service):
    c, h, app = service["client"], service["h"], service["app"]
    runner = app.state.jobs
    body = {"dataset_id": service["dataset"]["id"], "target_households": 250}
    r = c.post("/plans", headers=h["planner"], json=body)
    job_id = r.json()["id"]
    r = c.post(f"/jobs/{job_id}/cancel", headers=h["planner"])
    assert r.status_code == 200
    job = wait_job(c, job_id, h["planner"])
    assert job["status"] == "cancelled"
    assert c.post(f"/jobs/{job_id}/cancel", headers=h["planner"]).status_code == 409
    # a job left "running" by a crashed service is marked interrupted when it starts again
    with app.state.db.writing() as s:
        s.execute(update(m.JobRow).where(m.JobRow.id == job_id).values(status="running"))
    assert runner.recover() == 1
    job = c.get(f"/jobs/{job_id}", headers=h["planner"]).json()
    assert job["status"] == "interrupted" and "restart" in job["error"]
    r = c.post(f"/jobs/{job_id}/rerun", headers=h["planner"])
    assert r.status_code == 202 and r.json()["rerun_of"] == job_id
    again = wait_job(c, r.json()["id"], h["planner"])
    assert again["status"] == "succeeded" and again["params"] == job["params"]
    assert c.post(f"/jobs/{again['id']}/rerun", headers=h["planner"]).status_code == 409


def test_running_job_reports_progress_and_eta(service):
    c, h = service["client"], service["h"]
    r = c.post("/plans", headers=h["planner"],
               json={"dataset_id": service["dataset"]["id"], "target_households": 150})
    job_id, seen = r.json()["id"], []
    while True:
        job = c.get(f"/jobs/{job_id}", headers=h["planner"]).json()
        seen.append(job)
        if job["status"] in TERMINAL:
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded"
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress)
    running = [j for j in seen if j["status"] == "running" and j["progress"] > 0]
    if running:  # a fast machine may finish between two polls
        assert all(j["eta_seconds"] is not None and j["eta_seconds"] >= 0 for j in running)
        assert all(j["step"] for j in running)


# ---- people -----------------------------------------------------------------------------------

def test_workers_create_edit_and_idempotent_retry(service):
    c, h = service["client"], service["h"]
    body = {"name": "赵敏", "phone": "13900000000", "employee_no": "W100", "lon": 118.78,
            "lat": 32.04}
    key = {"Idempotency-Key": "create-W100", **h["admin"]}
    first = c.post("/workers", headers=key, json=body)
    again = c.post("/workers", headers=key, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert c.post("/workers", headers=key, json={**body, "name": "别人"}).status_code == 422
    assert c.post("/workers", headers=h["admin"], json=body).status_code == 409  # same 工号
    wid = first.json()["id"]
    r = c.patch(f"/workers/{wid}", headers=h["admin"], json={"on_duty": False, "lat": 32.05,
                                                              "lon": 118.79})
    assert r.json()["on_duty"] is False and r.json()["lat"] == 32.05
    assert c.get(f"/workers/{wid}", headers=h["planner"]).json()["name"] == "赵敏"
    assert c.patch(f"/workers/{wid}", headers=h["admin"],
                   json={"lon": 118.7}).status_code == 422


def test_workers_csv_import_gbk_and_bad_row(service):
    c, h = service["client"], service["h"]
    csv_text = "name,phone,employee_no,on_duty,lon,lat\n张伟,139,W200,是,118.78,32.04\n" \
               "刘洋,138,W001,否,,\n"
    r = c.post("/workers/import", headers=h["admin"],
               files={"file": ("w.csv", csv_text.encode("gbk"), "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1 and r.json()["updated"] == 1
    assert c.get(f"/workers/{h['worker_id']}", headers=h["admin"]).json()["on_duty"] is False
    bad = "name,lon,lat\n甲,118.7,32\n乙,abc,32\n"
    r = c.post("/workers/import", headers=h["admin"],
               files={"file": ("w.csv", bad.encode("utf-8-sig"), "text/csv")})
    assert r.status_code == 422 and r.json()["row"] == 3 and "第 3 行" in r.json()["message"]["zh"]
    names = [w["name"] for w in c.get("/workers", headers=h["admin"]).json()]
    assert "甲" not in names  # one transaction: nothing of the bad file was kept


def test_party_members_zone_and_csv(service):
    c, h = service["client"], service["h"]
    zone = {"type": "Polygon", "coordinates": [[[118.78, 32.04], [118.78, 32.041],
                                                [118.781, 32.041], [118.781, 32.04],
                                                [118.78, 32.04]]]}  # clockwise on purpose
    r = c.post("/party-members", headers=h["admin"],
               json={"name": "陈红", "branch": "第一支部", "grid_code": service["codes"][0],
                     "households": 30, "zone": zone})
    assert r.status_code == 201, r.text
    member = r.json()
    import shapely.geometry

    assert shapely.geometry.shape(member["zone"]).exterior.is_ccw
    r = c.patch(f"/party-members/{member['id']}", headers=h["admin"], json={"households": 31})
    assert r.json()["households"] == 31 and r.json()["zone"] is not None
    bad_zone = {"type": "Point", "coordinates": [118.78, 32.04]}
    r = c.post("/party-members", headers=h["admin"], json={"name": "x", "zone": bad_zone})
    assert r.status_code == 422 and "Polygon" in r.json()["message"]["en"]
    ring = [[118.78 + 1e-5 * i, 32.04 + 1e-5 * (i % 2)] for i in range(20_001)]
    huge = {"type": "Polygon", "coordinates": [[*ring, [118.78, 32.05], ring[0]]]}
    r = c.post("/party-members", headers=h["admin"], json={"name": "x", "zone": huge})
    assert r.status_code == 413 and "顶点" in r.json()["message"]["zh"]
    csv_text = "name,branch,grid_code,households,building_ids\n周杰,第二支部,X,12,a;b\n"
    r = c.post("/party-members/import", headers=h["admin"],
               files={"file": ("p.csv", csv_text.encode("utf-8"), "text/csv")})
    assert r.status_code == 200 and r.json()["created"] == 1
    got = c.get(f"/party-members/{r.json()['ids'][0]}", headers=h["planner"]).json()
    assert got["building_ids"] == ["a", "b"] and got["households"] == 12


def test_incident_idempotent_under_retries(service):
    c, h, app = service["client"], service["h"], service["app"]
    body = {"category": "环境卫生", "description": "垃圾堆放", "lon": 118.779, "lat": 32.04}
    key = {"Idempotency-Key": "phone-1-report-7", **h["reporter"]}
    ids = {c.post("/incidents", headers=key, json=body).json()["id"] for _ in range(3)}
    assert len(ids) == 1
    with app.state.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(m.IncidentRow)
                        .where(m.IncidentRow.description == "垃圾堆放")) == 1
    r = c.post("/incidents", headers=h["reporter"], json={**body, "lat": 95})
    assert r.status_code == 422
    assert len(same_key_at_once(c, h["reporter"])) == 1


# ---- limits and CORS --------------------------------------------------------------------------

def test_page_size_and_bbox_limits(service):
    c, h = service["client"], service["h"]
    r = c.get("/workers", headers=h["admin"], params={"limit": 501})
    assert r.status_code == 400 and "500" in r.json()["message"]["zh"]
    r = c.get("/grids", headers=h["admin"], params={"bbox": "110,20,120,30"})
    assert r.status_code == 400 and r.json()["code"] == "bbox_too_large"
    r = c.get("/grids", headers=h["admin"], params={"bbox": "1,2,3"})
    assert r.status_code == 400 and r.json()["code"] == "bad_bbox"


def test_cors_closed_by_default_and_configurable(service, tmp_path):
    c = service["client"]
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    r = c.options("/ogc/collections", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    app = create_app(Settings(data_dir=tmp_path, cors_origins=("https://gis.example",)),
                     start_jobs=False)
    with TestClient(app) as client:
        ok = client.get("/ogc/", headers={"Origin": "https://gis.example"})
        assert ok.headers["access-control-allow-origin"] == "https://gis.example"
        no = client.get("/ogc/", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in no.headers


def test_openapi_docs(service):
    r = service["client"].get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/plans" in paths and "/ogc/collections/{collection_id}/items" in paths


# ---- PostGIS ----------------------------------------------------------------------------------

def test_service_on_postgis(postgis_url, tmp_path, district):
    """Upload, partition job, activate, grids and an incident located, on PostGIS."""
    app = create_app(Settings(data_dir=tmp_path, database_url=postgis_url))
    with TestClient(app) as c:
        h = make_tokens(app)
        dataset = upload(c, district, h["planner"]).json()
        r = c.post("/plans", headers=h["planner"], json={"dataset_id": dataset["id"]})
        job = wait_job(c, r.json()["id"], h["planner"])
        assert job["status"] == "succeeded", job
        plan_id = job["result"]["plan_id"]
        c.post(f"/plans/{plan_id}/activate", headers=h["admin"])
        grids = c.get("/grids", headers=h["planner"]).json()["features"]
        assert len(grids) == job["result"]["grids"]
        import shapely.geometry

        point = shapely.geometry.shape(grids[0]["geometry"]).representative_point()
        r = c.post("/incidents", headers=h["reporter"],
                   json={"category": "noise", "lon": point.x, "lat": point.y})
        assert r.json()["grid_code"] == grids[0]["properties"]["code"]
        box = ",".join(str(v) for v in point.buffer(1e-4).bounds)
        items = c.get("/ogc/collections/incidents/items", headers=h["planner"],
                      params={"bbox": box}).json()
        assert items["numberMatched"] == 1
        assert len(same_key_at_once(c, h["reporter"])) == 1
        assert len(duplicates_at_once(c, h["reporter"], point)) == 1


def duplicates_at_once(client, headers, point, n=8) -> set[int]:
    """``n`` threads report the same noise at once next to an open one (different keys): every
    report is merged into it. Before the incident row was locked, PostgreSQL let two merges
    append the same step number and answered 500."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"category": "parking", "lon": point.x, "lat": point.y}
    first = client.post("/incidents", headers=headers, json=body)
    assert first.status_code == 201

    def report(i: int):
        return client.post("/incidents", headers={**headers, "Idempotency-Key": f"dup-{i}"},
                           json={**body, "description": f"duplicate {i}"})

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(report, range(n)))
    assert [a.status_code for a in answers] == [201] * n, [a.text for a in answers]
    assert all(a.json()["merged"] for a in answers)
    return {first.json()["id"]} | {a.json()["id"] for a in answers}




# ---- OGC API - Features -----------------------------------------------------------------------

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"


def _path(href: str) -> str:
    return href.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_ogc_landing_conformance_and_collections(service):
    c = service["client"]
    landing = c.get("/ogc/")
    assert landing.status_code == 200
    rels = {link["rel"]: link for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    for rel in ("service-desc", "conformance", "data"):
        assert c.get(_path(rels[rel]["href"])).status_code == 200
    assert {CORE, GEOJSON_CLASS} <= set(c.get("/ogc/conformance").json()["conformsTo"])
    cols = c.get("/ogc/collections").json()["collections"]
    assert [x["id"] for x in cols] == ["grids", "buildings", "party-zones", "incidents"]
    for col in cols:
        items = next(link for link in col["links"] if link["rel"] == "items")
        assert items["type"] == "application/geo+json"
        assert col["extent"]["spatial"]["crs"].endswith("CRS84")
        box = col["extent"]["spatial"]["bbox"][0]
        assert len(box) == 4 and box[0] <= box[2] and box[1] <= box[3]
    grids = c.get("/ogc/collections/grids").json()
    assert grids["id"] == "grids" and 118 < grids["extent"]["spatial"]["bbox"][0][0] < 119
    assert c.get("/ogc/collections/nothing").status_code == 404


def test_ogc_items_paging_by_next_links(service):
    c, h = service["client"], service["h"]
    r = c.get("/ogc/collections/grids/items", headers=h["planner"], params={"limit": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    page = r.json()
    total = page["numberMatched"]
    assert total == len(service["grids"]) and page["numberReturned"] == 3
    assert page["type"] == "FeatureCollection" and page["timeStamp"].endswith("Z")
    seen = []
    while True:
        for f in page["features"]:
            assert f["type"] == "Feature" and f["id"] and f["geometry"]["type"].endswith("Polygon")
            rings = f["geometry"]["coordinates"]
            outer = rings[0] if f["geometry"]["type"] == "Polygon" else rings[0][0]
            area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(outer))
            assert area2 > 0  # counter-clockwise (RFC 7946)
            seen.append(f["id"])
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        page = c.get(_path(nxt[0]["href"]), headers=h["planner"]).json()
    assert len(seen) == len(set(seen)) == total
    one = c.get(f"/ogc/collections/grids/items/{seen[0]}", headers=h["planner"]).json()
    assert one["id"] == seen[0] and {x["rel"] for x in one["links"]} >= {"self", "collection"}


def test_ogc_bbox_and_parameter_errors(service):
    c, h = service["client"], service["h"]
    url = "/ogc/collections/buildings/items"
    everything = c.get(url, headers=h["planner"], params={"limit": 500}).json()
    assert everything["numberMatched"] == 200
    xs = sorted(f["geometry"]["coordinates"][0][0][0] for f in everything["features"])
    ys = sorted(f["geometry"]["coordinates"][0][0][1] for f in everything["features"])
    box = (xs[0] - 1e-6, ys[0] - 1e-6, xs[len(xs) // 2], ys[len(ys) // 2])
    part = c.get(url, headers=h["planner"],
                 params={"bbox": ",".join(map(str, box)), "limit": 500}).json()
    assert 0 < part["numberMatched"] < 200
    for f in part["features"]:
        pts = [p for ring in f["geometry"]["coordinates"] for p in ring]
        assert min(p[0] for p in pts) <= box[2] and max(p[0] for p in pts) >= box[0]
        assert min(p[1] for p in pts) <= box[3] and max(p[1] for p in pts) >= box[1]
    for params, code in (({"limit": 0}, "bad_limit"), ({"limit": 501}, "bad_limit"),
                         ({"colour": "red"}, "unknown_parameter"),
                         ({"bbox": "118,32,117,33"}, "bad_bbox"),
                         ({"datetime": "yesterday"}, "bad_datetime")):
        r = c.get("/ogc/collections/incidents/items", headers=h["planner"], params=params)
        assert r.status_code == 400 and r.json()["code"] == code, (params, r.text)


def test_ogc_incidents_by_time_and_party_zones(service):
    c, h = service["client"], service["h"]
    r = c.post("/incidents", headers=h["reporter"],
               json={"category": "parking", "lon": 118.7801, "lat": 32.0401})
    created = r.json()["created_at"][:10]
    url = "/ogc/collections/incidents/items"
    today = c.get(url, headers=h["planner"], params={"datetime": f"{created}/.."}).json()
    assert str(r.json()["id"]) in [f["id"] for f in today["features"]]
    past = c.get(url, headers=h["planner"], params={"datetime": "../2001-01-01"}).json()
    assert past["numberMatched"] == 0
    zones = c.get("/ogc/collections/party-zones/items", headers=h["planner"]).json()
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in zones["features"])
    assert c.get(url, headers=h["reporter"]).status_code == 403
    assert c.get(url).status_code == 401


def test_token_create_command(tmp_path, capsys):
    from api.cli.service import main

    assert main(["token", "create", "--role", "planner", "--name", "规划科",
                 "--data-dir", str(tmp_path)]) == 0
    secret = capsys.readouterr().out.splitlines()[1]
    assert secret.startswith("wg_")
    app = create_app(Settings(data_dir=tmp_path), start_jobs=False)
    with TestClient(app) as c:
        assert c.get("/plans", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert main(["token", "create", "--role", "worker", "--data-dir", str(tmp_path)]) == 2
    assert main(["token", "revoke", "1", "--data-dir", str(tmp_path)]) == 0
    assert main(["token", "revoke", "1", "--data-dir", str(tmp_path)]) == 2


def test_map_data_frames_for_the_maps(service):
    """What maps/ draws, read from the store with the columns the maps require."""
    from api.services.maps import incidents_frame, party_zones_frame, plan_layers
    from api.store.plans import active_plan_id

    with service["app"].state.db.read_session() as s:
        plan_id = active_plan_id(s)
        grids, buildings = plan_layers(s, plan_id)
        zones = party_zones_frame(s)
        incidents = incidents_frame(s)
        mine = incidents_frame(s, worker_id=service["h"]["worker2_id"])
    assert {"code", "households", "deviation_pct", "worker"} <= set(grids.columns)
    assert grids.crs.to_epsg() == 4326 and len(buildings) == 200
    name = service["client"].get(f"/workers/{service['h']['worker_id']}",
                                 headers=service["h"]["admin"]).json()["name"]
    assert set(grids.loc[grids["code"] == service["codes"][0], "worker"]) == {name}
    assert {"member_id", "name", "grid_id", "households"} <= set(zones.columns)
    assert {"incident_id", "category", "stage"} <= set(incidents.columns)
    assert set(mine["worker_id"]) <= {service["h"]["worker2_id"]}


def test_basic_auth_with_token_as_password_and_bilingual_validation_errors(service):
    import base64

    c, h = service["client"], service["h"]
    secret = h["planner"]["Authorization"].split()[1]
    basic = base64.b64encode(f"qgis:{secret}".encode()).decode()
    r = c.get("/ogc/collections/grids/items", headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200
    wrong = base64.b64encode(b"qgis:wg_wrong").decode()
    assert c.get("/plans", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert c.get("/plans", headers={"Authorization": "Basic !!"}).status_code == 401
    assert c.get("/ogc").status_code == 200  # the landing page without the trailing slash
    r = c.post("/workers", headers=h["admin"], json={"phone": "1"})
    assert r.status_code == 422 and "name" in r.json()["message"]["zh"]
    assert isinstance(r.json()["detail"], list)


def test_dispatch_results_stored_and_routes_served(service):
    """What dispatch/ computes goes in with api.store.assignments and api.store.routes; routes
    come out as GeoJSON and GPX, a worker seeing only their own."""
    import datetime as dt
    import xml.etree.ElementTree as ET

    import shapely

    from api.store.assignments import save_assignments
    from api.store.routes import save_route

    c, h, app, p = service["client"], service["h"], service["app"], service["plan_id"]
    codes = service["codes"]
    with pytest.raises(ValueError, match="not in plan"), app.state.db.writing() as s:
        save_assignments(s, p, {"nope": h["worker_id"]})
    with app.state.db.writing() as s:
        assert save_assignments(s, p, {codes[0]: h["worker_id"], codes[1]: h["worker2_id"],
                                       codes[2]: h["worker2_id"]}) == 3
        stops = [{"kind": "grid", "ref": codes[1], "name": "巡查 1", "lon": 118.780,
                  "lat": 32.040},
                 {"kind": "incident", "ref": "7", "lon": 118.781, "lat": 32.041}]
        path = shapely.LineString([(118.780, 32.040), (118.7805, 32.0405), (118.781, 32.041)])
        route = save_route(s, plan_id=p, worker_id=h["worker2_id"], day=dt.date(2026, 11, 21),
                           stops=stops, path=path, distance_m=160.0, duration_s=130.0)
        rid = route.id
    sources = {a["grid_code"]: a["source"]
               for a in c.get(f"/plans/{p}/assignments", headers=h["planner"]).json()}
    assert sources[codes[2]] == "dispatch"
    r = c.get(f"/routes/{rid}", headers=h["worker2"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    features = r.json()["features"]
    assert features[0]["geometry"]["type"] == "LineString"
    assert [f["properties"]["seq"] for f in features[1:]] == [1, 2]
    gpx = ET.fromstring(c.get(f"/routes/{rid}/gpx", headers=h["worker2"]).content)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(gpx.findall("g:wpt", ns)) == 2 and len(gpx.findall(".//g:trkpt", ns)) == 3
    assert gpx.find("g:wpt/g:name", ns).text == "1. 巡查 1"
    for path_ in (f"/routes/{rid}", f"/routes/{rid}/gpx"):
        assert c.get(path_, headers=h["worker"]).status_code == 403
        assert c.get(path_, headers=h["reporter"]).status_code == 403
        assert c.get(path_, headers=h["planner"]).status_code == 200
        assert c.get(path_).status_code == 401
    # worker 2 also has today's visit route of the incident dispatched to them earlier
    assert [x["id"] for x in c.get("/routes", headers=h["worker2"],
                                   params={"kind": "patrol"}).json()] == [rid]
    assert {x["kind"] for x in c.get("/routes", headers=h["worker2"]).json()} <= {"patrol",
                                                                                "visits"}
    assert c.get("/routes", headers=h["worker"]).json() == []
    assert c.get("/routes", params={"worker_id": h["worker2_id"]},
                 headers=h["worker"]).status_code == 403
    # saving again replaces the day's route
    with app.state.db.writing() as s:
        again = save_route(s, plan_id=p, worker_id=h["worker2_id"], day=dt.date(2026, 11, 21),
                           stops=stops[:1], path=None, distance_m=0, duration_s=0)
        assert again.id == rid
    assert len(c.get(f"/routes/{rid}", headers=h["admin"]).json()["features"]) == 1


def test_grids_simplified_for_display(service):
    import shapely.geometry

    c, h, p = service["client"], service["h"], service["plan_id"]
    full = c.get(f"/plans/{p}/grids", headers=h["planner"])
    light = c.get(f"/plans/{p}/grids", headers=h["planner"], params={"simplify": 3})
    assert len(light.content) < len(full.content)
    a = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"])
         for f in full.json()["features"]}
    b = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"])
         for f in light.json()["features"]}
    assert a.keys() == b.keys()
    for code, geom in b.items():
        assert geom.is_valid and shapely.get_num_coordinates(geom) <= \
            shapely.get_num_coordinates(a[code])
        assert geom.symmetric_difference(a[code]).area < 0.05 * a[code].area
    assert c.get(f"/plans/{p}/grids", headers=h["planner"],
                 params={"simplify": 500}).status_code == 422


def slow_job(db, settings, job_id, params):
    """A job kind for the tests: reports progress, then waits far longer than any test."""
    from api.jobs.runner import JobProgress

    progress = JobProgress(db, job_id, 4)
    progress("第一步 first")
    progress("第二步 second")
    time.sleep(600)


def test_cancel_ends_a_running_job_process(service, monkeypatch):
    from api import jobs

    c, h, runner = service["client"], service["h"], service["app"].state.jobs
    monkeypatch.setitem(jobs.JOB_KINDS, "slow", "tests.api.test_api:slow_job")
    job = runner.submit("slow", {}, None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = c.get(f"/jobs/{job.id}", headers=h["planner"]).json()
        if state["status"] == "running" and state["progress"] >= 0.25:
            break
        time.sleep(0.05)
    assert state["step"] == "第二步 second" and state["eta_seconds"] > 0
    proc = runner.procs[job.id]
    assert proc.is_alive()
    r = c.post(f"/jobs/{job.id}/cancel", headers=h["planner"])
    assert r.status_code == 200
    assert wait_job(c, job.id, h["planner"], timeout=30)["status"] == "cancelled"
    proc.join(timeout=10)
    assert not proc.is_alive() and job.id not in runner.procs


def test_bootstrap_dataset_and_active_plan_without_http(tmp_path, district):
    from api.services.datasets import add_dataset
    from api.services.plans import make_active_plan
    from api.store.db import Database
    from gis.errors import InputError

    settings = Settings(data_dir=tmp_path)
    db = Database(settings.url)
    db.upgrade()
    dataset_id = add_dataset(db, settings, district, "示范")
    first = make_active_plan(db, settings, dataset_id)
    second = make_active_plan(db, settings, dataset_id, target_households=200)
    with db.read_session() as s:
        assert s.get(m.PlanRow, first).status == "archived"
        assert s.get(m.PlanRow, second).status == "active"
        assert s.scalar(select(func.count()).select_from(m.GridRow)
                        .where(m.GridRow.plan_id == second)) > 0
    empty = tmp_path / "empty.geojson"
    empty.write_text("")
    with pytest.raises(InputError):
        add_dataset(db, settings, empty)
    assert len(list((tmp_path / "datasets").iterdir())) == 1
    db.dispose()
