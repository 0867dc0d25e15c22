"""Facilities in the service: import from the dataset's OSM and from files (all or nothing),
coverage per type on the active plan (a worker: their grids), what-if siting and scoring a
moved site, the roles of every endpoint, bad input refused in both languages, the map page;
on the synthetic district (SQLite, and a run on PostGIS)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from api.store import models as m

ROLES = ("admin", "planner", "worker", "reporter")


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("facilities-data", start_jobs=False) as sv:
        yield sv


def _count(sv) -> int:
    with sv["app"].state.db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(m.FacilityRow)))


def _csv(text: str, name: str = "facilities.csv"):
    return {"file": (name, io.BytesIO(text.encode("utf-8")), "text/csv")}


def test_import_from_dataset_osm_and_list(sv):
    c, h = sv["client"], sv["h"]
    r = c.post("/facilities/import-osm", headers=h["admin"], json={})
    assert r.status_code == 201, r.text
    body = r.json()
    # the synthetic district tags 2 community centres and 1 clinic
    assert body["by_type"] == {"activity_room": 2, "clinic": 1} and body["created"] == 3
    again = c.post("/facilities/import-osm", headers=h["admin"], json={"replace": True})
    assert again.json()["replaced"] == 3 and _count(sv) == 3
    listed = c.get("/facilities", headers=h["worker"]).json()
    assert {f["type"] for f in listed} == {"activity_room", "clinic"}
    assert all(f["source"] == "osm" and -180 <= f["lon"] <= 180 for f in listed)
    only = c.get("/facilities?type=clinic", headers=h["planner"]).json()
    assert [f["type"] for f in only] == ["clinic"]


def test_coverage_per_type_and_worker_scope(sv):
    c, h = sv["client"], sv["h"]
    c.post("/facilities/import-osm", headers=h["admin"], json={"replace": True})
    r = c.get("/facilities/coverage", headers=h["planner"])
    assert r.status_code == 200, r.text
    types = {t["type"]: t for t in r.json()["types"]}
    assert set(types) == {"garbage_point", "service_station", "activity_room", "canteen",
                          "clinic"}
    clinic = types["clinic"]
    assert clinic["distance_m"] == 1000 and clinic["facilities"] == 1
    assert clinic["households_covered"] + clinic["households_beyond"] == clinic["households"]
    assert types["canteen"]["share_covered"] == 0 and types["canteen"]["facilities"] == 0
    # a shorter walk covers no more
    short = c.get("/facilities/coverage?type=clinic&distance_m=200",
                  headers=h["planner"]).json()["types"][0]
    assert short["households_covered"] <= clinic["households_covered"]
    # a worker sees the homes of their own grids only
    mine = c.get("/facilities/coverage?type=clinic", headers=h["worker"]).json()["types"][0]
    assert 0 < mine["households"] < clinic["households"]


def test_siting_and_score(sv):
    c, h = sv["client"], sv["h"]
    c.post("/facilities/import-osm", headers=h["admin"], json={"replace": True})
    r = c.post("/facilities/siting", headers=h["planner"],
               json={"type": "canteen", "k": 2, "distance_m": 300})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "OPTIMAL" and out["gap"] == 0 and len(out["sites"]) == 2
    assert out["covered_before"] == 0
    assert out["covered_after"] == sum(s["households_new"] for s in out["sites"]) > 0
    assert out["greedy_covered_after"] <= out["covered_after"]
    assert 0 < out["share_after"] <= 1
    first, second = out["sites"]
    s = c.post("/facilities/score", headers=h["planner"],
               json={"type": "canteen", "distance_m": 300, "lon": first["lon"],
                     "lat": first["lat"]}).json()
    assert s["households_new"] == first["households_new"]
    s2 = c.post("/facilities/score", headers=h["planner"],
                json={"type": "canteen", "distance_m": 300, "lon": second["lon"],
                      "lat": second["lat"], "proposed": [first]}).json()
    assert s2["households_new"] == second["households_new"]
    # given sites: the proposal is one of them
    sites = [first, {"lon": first["lon"] + 0.002, "lat": first["lat"]}]
    given = c.post("/facilities/siting", headers=h["admin"],
                   json={"type": "canteen", "k": 1, "distance_m": 300, "candidates": "sites",
                         "sites": sites}).json()
    assert given["sites"][0]["households_new"] >= first["households_new"] - 1e-9
    # existing facilities count as covering: a canteen at the first site takes its gain
    made = c.post("/facilities", headers=h["admin"],
                  json={"type": "canteen", "name": "长者食堂", "lon": first["lon"],
                        "lat": first["lat"]})
    assert made.status_code == 201
    after = c.post("/facilities/siting", headers=h["planner"],
                   json={"type": "canteen", "k": 1, "distance_m": 300}).json()
    assert after["covered_before"] == first["households_new"]
    assert c.delete(f"/facilities/{made.json()['id']}", headers=h["admin"]).status_code == 204


def test_roles(sv):
    c, h = sv["client"], sv["h"]
    office, everyone = {"admin", "planner"}, {"admin", "planner", "worker"}
    site = {"type": "canteen", "k": 1}
    point = {"type": "canteen", "lon": 118.78, "lat": 32.04}
    cases = [("get", "/facilities", {}, everyone),
             ("get", "/facilities/coverage?type=clinic", {}, everyone),
             ("post", "/facilities/siting", {"json": site}, office),
             ("post", "/facilities/score", {"json": point}, office),
             ("post", "/facilities/import-osm", {"json": {}}, {"admin"}),
             ("post", "/facilities", {"json": {**point, "name": "x"}}, {"admin"}),
             ("delete", "/facilities/999999", {}, {"admin"}),
             ("get", "/maps/facilities?type=clinic", {}, office)]
    for method, path, kw, allowed in cases:
        assert getattr(c, method)(path, **kw).status_code == 401, (method, path)
        for role in ROLES:
            r = getattr(c, method)(path, headers=h[role], **kw)
            if role in allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert "权限" in r.json()["message"]["zh"]
    r = c.post("/facilities/import", headers=h["planner"],
               files=_csv("type,lon,lat\nclinic,118.78,32.04\n"))
    assert r.status_code == 403


def test_file_import_all_or_nothing(sv):
    c, h = sv["client"], sv["h"]
    before = _count(sv)
    good = "名称,类型,lon,lat\n食堂一,canteen,118.780,32.040\n卫生站,卫生服务站,118.781,32.041\n"
    r = c.post("/facilities/import", headers=h["admin"], files=_csv(good))
    assert r.status_code == 201, r.text
    assert r.json()["by_type"] == {"canteen": 1, "clinic": 1} and _count(sv) == before + 2
    bad = "name,type,lon,lat\n甲,canteen,118.78,32.04\n乙,toilet,118.78,32.04\n"
    r = c.post("/facilities/import", headers=h["admin"], files=_csv(bad))
    assert r.status_code == 422
    msg = r.json()["message"]
    assert "toilet" in msg["en"] and "row 3" in msg["en"] and "未知的设施类型" in msg["zh"]
    assert "/" not in msg["en"].split(":")[0]  # the file by its name, no server folder
    assert _count(sv) == before + 2  # nothing of the bad file kept
    r = c.post("/facilities/import", headers=h["admin"], files=_csv("x", "facilities.xlsx"))
    assert r.status_code == 422 and "不支持" in r.json()["message"]["zh"]


@pytest.mark.parametrize(("body", "text"), [
    ({"type": "toilet", "k": 1}, "type"),
    ({"type": "canteen", "k": 0}, "k"),
    ({"type": "canteen", "k": 1, "distance_m": -5}, "distance_m"),
    ({"type": "canteen", "k": 1, "candidates": "sites"}, "sites"),
])
def test_bad_siting_requests(sv, body, text):
    r = sv["client"].post("/facilities/siting", headers=sv["h"]["planner"], json=body)
    assert r.status_code == 422 and text in r.text
    assert r.json()["message"]["zh"]


def test_map_page(sv, map_assets):
    c, h = sv["client"], sv["h"]
    c.post("/facilities/import-osm", headers=h["admin"], json={"replace": True})
    r = c.get("/maps/facilities?type=clinic&k=2&lang=en", headers=h["planner"])
    assert r.status_code == 200, r.text
    assert "clinic" in r.text.lower() and "/static/maps/" in r.text
    zh = c.get("/maps/facilities?type=canteen&k=1", headers=h["admin"])
    assert zh.status_code == 200 and "社区食堂" in zh.text


def test_facilities_on_postgis(postgis_url, open_service):
    with open_service("facilities-postgis", start_jobs=False, database_url=postgis_url) as pg:
        c, h = pg["client"], pg["h"]
        assert c.post("/facilities/import-osm", headers=h["admin"], json={}).status_code == 201
        bad = "type,lon,lat\nclinic,118.78,32.04\ncanteen,118.78,not\n"
        assert c.post("/facilities/import", headers=h["admin"],
                      files=_csv(bad)).status_code == 422
        assert len(c.get("/facilities", headers=h["admin"]).json()) == 3
        cov = c.get("/facilities/coverage?type=clinic", headers=h["planner"]).json()
        assert cov["types"][0]["facilities"] == 1
        r = c.post("/facilities/siting", headers=h["planner"],
                   json={"type": "clinic", "k": 1, "distance_m": 300})
        assert r.status_code == 200 and r.json()["status"] == "OPTIMAL"
