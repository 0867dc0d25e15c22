"""Levels above the community (districts, streets, communities), street-scoped tokens and
the level filter, on the synthetic district of 200 buildings (codes 320106 001 CCC, as the
national statistical division codes): GB/T 2260 validation, the CSV import (all or nothing),
the /levels tree, what a street's admin sees of grids, incidents, workers, maps and OGC, and
the grid -> community -> street -> district aggregation."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from api.auth import issue_token
from api.store import models as m
from api.store.levels import grid_levels


def csv_file(text: str):
    return {"file": ("levels.csv", io.BytesIO(text.encode("utf-8")), "text/csv")}


@pytest.fixture(scope="module")
def lv(open_service):
    """The stocked service, its communities, incidents in two grids of different
    communities, the levels imported (street 001 with the first community only, street 002
    empty) and street admins of both."""
    with open_service("levels-data", start_jobs=False) as sv:
        c, h, app = sv["client"], sv["h"], sv["app"]
        with app.state.db.read_session() as s:
            grids = s.execute(select(m.GridRow.code, m.GridRow.community, m.GridRow.geom)
                              .where(m.GridRow.plan_id == sv["plan_id"])
                              .order_by(m.GridRow.code)).all()
        communities = sorted({g.community for g in grids})
        assert len(communities) >= 2, communities
        first, other = communities[0], communities[1]
        assert first.startswith("320106001") and len(first) == 12
        text = ("district_code,district_name,street_code,street_name,community_code,"
                "community_name\n"
                f"320106,鼓楼区,001,宁海路街道,{first},第一社区\n"
                "320106,鼓楼区,002,华侨路街道,,\n")
        r = c.post("/levels/import", headers=h["admin"], files=csv_file(text))
        assert r.status_code == 200, r.text
        assert r.json() == {"districts": 1, "streets": 2, "communities": 1, "created": 4,
                            "updated": 0}
        tree = c.get("/levels", headers=h["admin"]).json()
        streets = {s["full_code"]: s for s in tree["districts"][0]["streets"]}
        incidents = {}
        for g in grids:  # one incident in the first grid of each community
            if g.community in incidents:
                continue
            p = g.geom.representative_point()
            r = c.post("/incidents", headers=h["reporter"],
                       json={"category": "noise", "lon": p.x, "lat": p.y,
                             "description": "楼下噪音", "reporter_name": "张三",
                             "reporter_phone": "13900000000"})
            assert r.status_code == 201, r.text
            incidents[g.community] = r.json()["id"]
        with app.state.db.writing() as s:
            for key, street in (("street1", "320106001"), ("street2", "320106002")):
                _, secret = issue_token(s, "admin", key, street_id=streets[street]["id"])
                h[key] = {"Authorization": f"Bearer {secret}"}
            _, secret = issue_token(s, "planner", "p1", street_id=streets["320106001"]["id"])
            h["street1_planner"] = {"Authorization": f"Bearer {secret}"}
        yield {**sv, "grids": grids, "first": first, "other": other, "streets": streets,
               "incidents": incidents, "tree": tree}


def test_tree_has_the_imported_levels_with_grid_counts(lv):
    tree, first, grids = lv["tree"], lv["first"], lv["grids"]
    district = tree["districts"][0]
    assert (district["code"], district["name"]) == ("320106", "鼓楼区")
    s1, s2 = lv["streets"]["320106001"], lv["streets"]["320106002"]
    assert (s1["code"], s1["name"], s2["communities"]) == ("001", "宁海路街道", [])
    [community] = s1["communities"]
    assert community["code"] == first and community["name"] == "第一社区"
    assert community["grids"] == sum(g.community == first for g in grids) > 0
    # the active plan's other communities are listed as not yet placed in a street
    assert lv["other"] in tree["unplaced_communities"]
    assert first not in tree["unplaced_communities"]
    # a street admin reads its street only
    own = lv["client"].get("/levels", headers=lv["h"]["street2"]).json()
    assert [s["full_code"] for d in own["districts"] for s in d["streets"]] == ["320106002"]
    assert own["unplaced_communities"] == []


@pytest.mark.parametrize("code,why", [
    ("990106", "99"), ("32010", "6 位"), ("32010a", "6 位"), ("320100", "00"),
    ("000106", "00")])
def test_district_codes_follow_gb_t_2260(lv, code, why):
    r = lv["client"].post("/districts", headers=lv["h"]["admin"],
                          json={"code": code, "name": "某区"})
    assert r.status_code == 422, r.text
    assert why in r.json()["message"]["zh"] or why in r.text


def test_codes_are_unique_and_12_digit_communities_start_with_their_street(lv):
    c, h = lv["client"], lv["h"]
    r = c.post("/districts", headers=h["admin"], json={"code": "320106", "name": "又一个"})
    assert r.status_code == 409
    s2 = lv["streets"]["320106002"]["id"]
    r = c.post("/communities", headers=h["admin"],
               json={"street_id": s2, "code": lv["other"], "name": "错街道"})
    assert r.status_code == 422 and "320106002" in r.json()["message"]["en"]
    r = c.post("/streets", headers=h["admin"],
               json={"district_id": lv["tree"]["districts"][0]["id"], "code": "000",
                     "name": "x"})
    assert r.status_code == 422
    # a community code of another kind (an OSM id) may go in any street
    r = c.post("/communities", headers=h["admin"],
               json={"street_id": s2, "code": "relation42", "name": "某社区"})
    assert r.status_code == 201, r.text
    assert c.delete(f"/streets/{s2}", headers=h["admin"]).status_code == 409  # it has one
    assert c.delete(f"/communities/{r.json()['id']}", headers=h["admin"]).status_code == 204


def test_create_rename_move_and_delete(lv):
    c, h = lv["client"], lv["h"]
    d = c.post("/districts", headers=h["admin"], json={"code": "110105", "name": "朝阳区"})
    assert d.status_code == 201, d.text
    s = c.post("/streets", headers=h["admin"],
               json={"district_id": d.json()["id"], "code": "011", "name": "三里屯街道"})
    assert s.status_code == 201 and s.json()["full_code"] == "110105011"
    com = c.post("/communities", headers=h["admin"],
                 json={"street_id": s.json()["id"], "code": "110105011001", "name": "幸福"})
    assert com.status_code == 201, com.text
    r = c.patch(f"/communities/{com.json()['id']}", headers=h["admin"], json={"name": "幸福村"})
    assert r.status_code == 200 and r.json()["name"] == "幸福村"
    # moving the street to a district whose code its 12-digit community does not start with
    r = c.patch(f"/streets/{s.json()['id']}", headers=h["admin"],
                json={"district_id": lv["tree"]["districts"][0]["id"]})
    assert r.status_code == 422 and "110105011001" in r.json()["message"]["en"]
    with lv["app"].state.db.read_session() as session:
        assert session.get(m.StreetRow, s.json()["id"]).full_code == "110105011"
    assert c.delete(f"/districts/{d.json()['id']}", headers=h["admin"]).status_code == 409
    for path in (f"/communities/{com.json()['id']}", f"/streets/{s.json()['id']}",
                 f"/districts/{d.json()['id']}"):
        assert c.delete(path, headers=h["admin"]).status_code == 204
    assert c.delete(f"/districts/{d.json()['id']}", headers=h["admin"]).status_code == 404


def test_csv_import_is_all_or_nothing_with_the_row_named(lv):
    c, h = lv["client"], lv["h"]
    before = c.get("/levels", headers=h["admin"]).json()
    text = ("district_code,district_name,street_code,street_name,community_code,"
            "community_name\n"
            "310101,黄浦区,001,南京东路街道,310101001001,一\n"
            "310101,黄浦区,1,南京东路街道,310101001002,二\n")
    r = c.post("/levels/import", headers=h["admin"], files=csv_file(text))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["row"] == 3 and body["column"] == "street_code"
    assert "第 3 行" in body["message"]["zh"]
    assert c.get("/levels", headers=h["admin"]).json() == before
    r = c.post("/levels/import", headers=h["admin"], files=csv_file("name\nx\n"))
    assert r.status_code == 422 and "district_code" in r.json()["message"]["en"]
    # GBK as Excel saves it, and a second import renames instead of duplicating
    gbk = ("district_code,district_name,street_code,street_name\n"
           "320106,南京市鼓楼区,002,华侨路\n").encode("gb18030")
    r = c.post("/levels/import", headers=h["admin"],
               files={"file": ("l.csv", io.BytesIO(gbk), "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 0 and r.json()["updated"] == 2
    tree = c.get("/levels", headers=h["admin"]).json()
    assert tree["districts"][0]["name"] == "南京市鼓楼区"


@pytest.mark.parametrize("role", ["planner", "worker", "reporter", "street1"])
def test_only_admins_of_the_whole_area_edit_the_levels(lv, role):
    c, h = lv["client"], lv["h"]
    district = lv["tree"]["districts"][0]["id"]
    street = lv["streets"]["320106001"]["id"]
    community = lv["streets"]["320106001"]["communities"][0]["id"]
    for method, path, kwargs in (
            ("post", "/districts", {"json": {"code": "320102", "name": "玄武区"}}),
            ("patch", f"/districts/{district}", {"json": {"name": "x"}}),
            ("delete", f"/districts/{district}", {}),
            ("post", "/streets", {"json": {"district_id": district, "code": "009",
                                           "name": "x"}}),
            ("patch", f"/streets/{street}", {"json": {"name": "x"}}),
            ("delete", f"/streets/{street}", {}),
            ("post", "/communities", {"json": {"street_id": street, "code": "x1",
                                               "name": "x"}}),
            ("patch", f"/communities/{community}", {"json": {"name": "x"}}),
            ("delete", f"/communities/{community}", {}),
            ("post", "/levels/import", {"files": csv_file("district_code,street_code\n")})):
        r = getattr(c, method)(path, headers=h[role], **kwargs)
        assert r.status_code == 403, (role, method, path, r.text)
    assert c.get("/levels", headers=h["reporter"]).status_code == 403
    assert c.get("/levels").status_code == 401
    for reader in ("planner", "worker", "street1"):
        assert c.get("/levels", headers=h[reader]).status_code == 200


def _codes(features) -> set[str]:
    return {f["properties"]["code"] for f in features}


def test_a_street_admin_sees_only_the_grids_of_its_communities(lv):
    c, h, first = lv["client"], lv["h"], lv["first"]
    mine = {g.code for g in lv["grids"] if g.community == first}
    theirs = {g.code for g in lv["grids"]} - mine
    assert mine and theirs
    for key in ("street1", "street1_planner"):
        assert _codes(c.get("/grids", headers=h[key]).json()["features"]) == mine
        got = c.get(f"/plans/{lv['plan_id']}/grids", headers=h[key]).json()["features"]
        assert _codes(got) == mine
    assert c.get("/grids", headers=h["street2"]).json()["features"] == []
    assert c.get(f"/grids/{min(mine)}", headers=h["street1"]).status_code == 200
    r = c.get(f"/grids/{min(theirs)}", headers=h["street1"])
    assert r.status_code == 403 and "街道" in r.json()["message"]["zh"]
    buildings = c.get(f"/plans/{lv['plan_id']}/buildings", headers=h["street1_planner"],
                      params={"limit": 500}).json()["features"]
    assert buildings and {b["properties"]["community"] for b in buildings} == {first}
    # the whole area's admin still sees every grid
    assert _codes(c.get("/grids", headers=h["admin"]).json()["features"]) == mine | theirs
    # a street admin may not assign a worker outside its street
    r = c.put(f"/plans/{lv['plan_id']}/grids/{min(theirs)}/assignment", headers=h["street1"],
              json={"worker_id": h["worker_id"]})
    assert r.status_code == 403


def test_a_street_admin_sees_and_moves_only_its_incidents(lv):
    c, h = lv["client"], lv["h"]
    mine, theirs = lv["incidents"][lv["first"]], lv["incidents"][lv["other"]]
    listed = {i["id"] for i in c.get("/incidents", headers=h["street1"]).json()}
    assert mine in listed and theirs not in listed
    assert {i["id"] for i in c.get("/incidents", headers=h["admin"]).json()} >= {mine, theirs}
    assert c.get("/incidents", headers=h["street2"]).json() == []
    assert c.get(f"/incidents/{mine}", headers=h["street1"]).status_code == 200
    assert c.get(f"/incidents/{theirs}", headers=h["street1"]).status_code == 403
    assert c.get(f"/incidents/{theirs}/history", headers=h["street1"]).status_code == 403
    r = c.post(f"/incidents/{theirs}/actions", headers=h["street1"], json={"action": "accept"})
    assert r.status_code == 403
    r = c.post(f"/incidents/{mine}/actions", headers=h["street1"], json={"action": "accept"})
    assert r.status_code == 200, r.text
    stats = c.get("/incidents/statistics", headers=h["street1_planner"],
                  params={"by": "grid"}).json()
    grids = {g.code for g in lv["grids"] if g.community == lv["first"]}
    assert stats["groups"] and {g["grid"] for g in stats["groups"]} <= grids
    # district-wide actions are refused to a street's token
    assert c.post("/incidents/escalate", headers=h["street1"]).status_code == 403
    r = c.post(f"/plans/{lv['plan_id']}/activate", headers=h["street1"])
    assert r.status_code == 403 and "全区" in r.json()["message"]["zh"]


def test_a_street_admin_sees_only_workers_serving_its_communities(lv):
    c, h, app = lv["client"], lv["h"], lv["app"]
    with app.state.db.read_session() as s:
        serving = set(s.scalars(
            select(m.AssignmentRow.worker_id).join(m.GridRow,
                                                   m.GridRow.id == m.AssignmentRow.grid_id)
            .where(m.GridRow.community == lv["first"],
                   m.AssignmentRow.plan_id == lv["plan_id"])))
    everyone = {w["id"] for w in c.get("/workers", headers=h["admin"]).json()}
    assert serving and serving <= everyone
    assert {w["id"] for w in c.get("/workers", headers=h["street1"]).json()} == serving
    assert c.get("/workers", headers=h["street2"]).json() == []
    wid = min(serving)
    assert c.get(f"/workers/{wid}", headers=h["street2"]).status_code == 403
    assert c.patch(f"/workers/{wid}", headers=h["street2"],
                   json={"notes": "x"}).status_code == 403
    assert c.patch(f"/workers/{wid}", headers=h["street1"],
                   json={"notes": "街道备注"}).status_code == 200
    r = c.post("/workers/import", headers=h["street1"],
               files={"file": ("w.csv", io.BytesIO(b"name\nx\n"), "text/csv")})
    assert r.status_code == 403


def test_a_street_admin_gets_maps_and_ogc_of_its_communities(lv):
    c, h, first = lv["client"], lv["h"], lv["first"]
    mine = {g.code for g in lv["grids"] if g.community == first}
    theirs = {g.code for g in lv["grids"]} - mine
    page = c.get("/maps/grids", headers=h["street1"])
    assert page.status_code == 200, page.text[:300]
    assert all(code in page.text for code in mine)
    assert not any(code in page.text for code in theirs)
    page = c.get("/maps/incidents", headers=h["street1"]).text
    assert not any(code in page for code in theirs)
    r = c.get("/ogc/collections/grids/items", headers=h["street1"], params={"limit": 500})
    assert r.status_code == 200 and _codes(r.json()["features"]) == mine
    assert r.json()["numberMatched"] == len(mine)
    r = c.get("/ogc/collections/incidents/items", headers=h["street1"]).json()
    assert {f["properties"]["grid_code"] for f in r["features"]} <= mine
    r = c.get(f"/ogc/collections/grids/items/{min(theirs)}", headers=h["street1"])
    assert r.status_code == 404


def test_grids_incidents_and_maps_at_each_level(lv):
    c, h, first = lv["client"], lv["h"], lv["first"]
    mine = {g.code for g in lv["grids"] if g.community == first}
    for level, code in (("community", first), ("street", "320106001"),
                        ("district", "320106")):
        got = c.get("/grids", headers=h["admin"], params={"level": level, "code": code})
        assert got.status_code == 200 and _codes(got.json()["features"]) == mine, level
        incidents = c.get("/incidents", headers=h["admin"],
                          params={"level": level, "code": code}).json()
        assert {i["id"] for i in incidents} == {lv["incidents"][first]}
        page = c.get("/maps/grids", headers=h["admin"], params={"level": level, "code": code})
        assert page.status_code == 200 and min(mine) in page.text
    assert c.get("/grids", headers=h["admin"],
                 params={"level": "street", "code": "320106002"}).json()["features"] == []
    r = c.get("/grids", headers=h["admin"], params={"level": "street", "code": "320106999"})
    assert r.status_code == 404
    assert c.get("/grids", headers=h["admin"], params={"level": "street"}).status_code == 400
    assert c.get("/grids", headers=h["admin"],
                 params={"level": "city", "code": "3201"}).status_code == 400


def test_grid_levels_maps_every_grid_to_its_community_street_and_district(lv):
    with lv["app"].state.db.read_session() as s:
        levels = grid_levels(lv["plan_id"])
        rows = s.execute(select(levels.c.grid_code, levels.c.community, levels.c.street_code,
                                levels.c.district_code)).all()
        by_district = dict(s.execute(select(levels.c.district_code, func.count())
                                     .group_by(levels.c.district_code)).all())
    assert len(rows) == len(lv["grids"])
    for _code, community, street, district in rows:
        if community == lv["first"]:
            assert (street, district) == ("320106001", "320106")
        else:
            assert (street, district) == (None, None)
    assert by_district["320106"] == sum(g.community == lv["first"] for g in lv["grids"])


def test_street_tokens_only_for_admins_and_planners(lv, tmp_path):
    from gis.errors import ArgumentError

    street = lv["streets"]["320106001"]["id"]
    with lv["app"].state.db.writing() as s:
        with pytest.raises(ArgumentError, match="admin and planner"):
            issue_token(s, "reporter", "r", street_id=street)
        with pytest.raises(ArgumentError, match="not found"):
            issue_token(s, "admin", "a", street_id=999_999)
    # the command line issues one on a fresh data folder (no such street there: refused)
    r = subprocess.run([sys.executable, "-m", "api.cli", "token", "create", "--role", "admin",
                        "--street", "1", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "street 1 not found" in r.stderr


def test_levels_scoping_and_public_figures_on_postgis(postgis_url, open_service):
    """The same queries on PostgreSQL + PostGIS: the import, a street admin's grids and
    incidents, the figures grouped by street, the public notice."""
    with open_service("levels-postgis", start_jobs=False, database_url=postgis_url) as pg:
        c, h, app = pg["client"], pg["h"], pg["app"]
        with app.state.db.read_session() as s:
            communities = sorted(set(s.scalars(select(m.GridRow.community).where(
                m.GridRow.plan_id == pg["plan_id"]))))
        first = communities[0]
        text = ("district_code,district_name,street_code,street_name,community_code,"
                f"community_name\n320106,鼓楼区,001,宁海路街道,{first},第一社区\n")
        assert c.post("/levels/import", headers=h["admin"],
                      files=csv_file(text)).status_code == 200
        street = c.get("/levels", headers=h["admin"]).json()["districts"][0]["streets"][0]
        with app.state.db.writing() as s:
            _, secret = issue_token(s, "admin", "street", street_id=street["id"])
        mine = {f["properties"]["code"] for f in c.get(
            "/grids", headers={"Authorization": f"Bearer {secret}"}).json()["features"]}
        assert mine and all(code.startswith(first) for code in mine)
        p = pg["points"][0]
        r = c.post("/incidents", headers=h["reporter"],
                   json={"category": "noise", "lon": p.x, "lat": p.y})
        assert r.status_code == 201
        listed = c.get("/incidents", headers={"Authorization": f"Bearer {secret}"}).json()
        assert r.json()["grid_code"] == pg["codes"][0] in mine
        assert [i["id"] for i in listed] == [r.json()["id"]]
        groups = c.get("/public/indicators", params={"by": "street"}).json()["groups"]
        assert [(g["code"], g["reported"]) for g in groups] == [("320106001", 1)]
        notice = c.get(f"/public/grids/{pg['codes'][0]}/notice.json")
        assert notice.status_code == 200 and notice.json()["indicators"]["reported"] == 1


def test_work_indicators_group_by_street_and_district_once_levels_exist(lv):
    """The indicators (api.services.indicators) get their street and district levels from
    the levels recorded, and a street's token counts its communities' grids only."""
    c, h = lv["client"], lv["h"]
    for level, key, name in (("street", "320106001", "宁海路街道"),
                             ("district", "320106", None)):
        r = c.get("/indicators", headers=h["admin"], params={"level": level})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        keyed = {row["key"]: row for row in rows}
        assert key in keyed, (level, rows)
        assert keyed[key]["received"] >= 1
        if name:
            assert keyed[key]["name"] == name
        # the other community is in no street: its incidents are the group without a key
        assert sum(row["received"] for row in rows) >= len(lv["incidents"])
    mine = c.get("/indicators", headers=h["street1"], params={"level": "grid"}).json()["rows"]
    grids = {g.code for g in lv["grids"] if g.community == lv["first"]}
    assert mine and {row["key"] for row in mine} <= grids
    assert c.get("/indicators", headers=h["street2"],
                 params={"level": "grid"}).json()["rows"] == []


def test_a_street_admin_sees_routes_of_workers_serving_its_communities(lv):
    c, h = lv["client"], lv["h"]
    routes = c.get("/routes", headers=h["admin"]).json()
    mine = [r for r in routes if r["worker_id"] == h["worker_id"]]
    assert mine, routes
    listed = c.get("/routes", headers=h["street1"]).json()
    assert {r["id"] for r in mine} <= {r["id"] for r in listed}
    assert c.get("/routes", headers=h["street2"]).json() == []
    route = mine[0]["id"]
    assert c.get(f"/routes/{route}", headers=h["street1"]).status_code == 200
    assert c.get(f"/routes/{route}", headers=h["street2"]).status_code == 403
    assert c.get(f"/routes/{route}/gpx", headers=h["street2"]).status_code == 403
    page = f"/maps/routes/{h['worker_id']}"
    assert c.get(page, headers=h["street2"]).status_code == 403
    assert c.get(page, headers=h["street1"]).status_code in (200, 503)  # 503: no map assets
