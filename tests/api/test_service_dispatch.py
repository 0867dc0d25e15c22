"""Dispatch jobs of the service on a synthetic district of 200 buildings: worker assignment
(keeping previous assignments), street patrol routes served as GeoJSON and GPX, party member
zones; roles and bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import shapely.geometry

from tests.api.stock import wait_job


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("dispatch-data") as sv:
        yield sv


def run(sv, path, role="admin", **body) -> dict:
    c, h = sv["client"], sv["h"]
    r = c.post(path, headers=h[role], json=body or None)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/jobs/{r.json()['id']}"
    return wait_job(c, r.json()["id"], h["planner"], timeout=120)


def test_dispatch_endpoints_check_roles_and_plan(sv):
    c, h = sv["client"], sv["h"]
    for kind in ("assignments", "routes", "party-zones"):
        path = f"/plans/{sv['plan_id']}/{kind}/compute"
        assert c.post(path).status_code == 401
        for role in ("planner", "worker", "reporter"):  # the active plan: admins only
            assert c.post(path, headers=h[role]).status_code == 403, (kind, role)
        r = c.post(f"/plans/999999/{kind}/compute", headers=h["admin"])
        assert r.status_code == 404 and r.json()["message"]["zh"]
    r = c.post(f"/plans/{sv['plan_id']}/assignments/compute", headers=h["admin"],
               json={"seconds": -1})
    assert r.status_code == 422


def test_assignments_then_routes(sv):
    c, h, p = sv["client"], sv["h"], sv["plan_id"]
    r = c.post(f"/plans/{p}/assignments/compute", headers=h["admin"], json={"seconds": 2})
    job = wait_job(c, r.json()["id"], h["planner"])
    assert job["status"] == "failed" and "max_households" in job["error"]  # 2 x 1200 too few
    limits = {"max_grids": 100, "max_households": 100_000}
    job = run(sv, f"/plans/{p}/assignments/compute", seconds=5, **limits)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["grids"] == len(sv["codes"]) and result["workers"] == 2
    assignments = c.get(f"/plans/{p}/assignments", headers=h["planner"]).json()
    assert len(assignments) == len(sv["codes"])
    assert {a["source"] for a in assignments} == {"dispatch"}
    assert {a["worker_id"] for a in assignments} == {h["worker_id"], h["worker2_id"]}
    # a second run keeps every grid with its worker
    again = run(sv, f"/plans/{p}/assignments/compute", role="admin", **limits)["result"]
    assert again["kept"] == again["grids"]

    job = run(sv, f"/plans/{p}/routes/compute", day="2026-11-23")
    assert job["status"] == "succeeded", job
    assert job["result"]["routes"] == 2 and job["result"]["grids"] == len(sv["codes"])
    routes = c.get("/routes", params={"day": "2026-11-23"}, headers=h["admin"]).json()
    assert {r["worker_id"] for r in routes} == {h["worker_id"], h["worker2_id"]}
    mine = next(r for r in routes if r["worker_id"] == h["worker_id"])
    held = sum(a["worker_id"] == h["worker_id"] for a in assignments)
    geo = c.get(f"/routes/{mine['id']}", headers=h["worker"]).json()
    path = shapely.geometry.shape(geo["features"][0]["geometry"])
    assert path.geom_type == "LineString" and path.is_valid
    stops = geo["features"][1:]
    assert len(stops) == held and all(s["properties"]["kind"] == "patrol" for s in stops)
    assert mine["distance_m"] > 0 and mine["duration_s"] == pytest.approx(
        mine["distance_m"] / (4000 / 3600), rel=0.01)
    gpx = ET.fromstring(c.get(f"/routes/{mine['id']}/gpx", headers=h["worker"]).content)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(gpx.findall("g:wpt", ns)) == held and len(gpx.findall(".//g:trkpt", ns)) > 10
    assert c.get(f"/routes/{mine['id']}", headers=h["worker2"]).status_code == 403


def test_party_zones(sv):
    c, h, p = sv["client"], sv["h"], sv["plan_id"]
    buildings = c.get("/ogc/collections/buildings/items", params={"limit": 500},
                      headers=h["planner"]).json()["features"]
    homes = [f["id"] for f in buildings if f["properties"]["households"] > 0]
    ids = []
    for i, home in enumerate(homes[::len(homes) // 6][:6]):
        r = c.post("/party-members", headers=h["admin"],
                   json={"name": f"党员{i}", "building_ids": [str(home)]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    job = run(sv, f"/plans/{p}/party-zones/compute", capacity=40)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["members"] == 6 and result["skipped_members"] >= 1  # 陈红 has no home
    total = sum(f["properties"]["households"] for f in buildings)
    assert result["households"] + result["households_without_member"] == total
    members = [c.get(f"/party-members/{i}", headers=h["planner"]).json() for i in ids]
    assert sum(x["households"] for x in members) == result["households"]
    for x in members:
        if x["zone"] is not None:
            assert shapely.geometry.shape(x["zone"]).is_valid and x["grid_code"]
    assert sum(x["zone"] is not None for x in members) >= 5
    page = c.get("/maps/party-zones", headers=h["planner"])
    assert page.status_code in (200, 503)  # 503 only when no map assets were gathered
