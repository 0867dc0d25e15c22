"""Referral (转办) and channels on the real Beijing extract (../shared/data): organisations
imported from a GeoJSON file (a property company per residential compound drawn in OSM,
sanitation and the police over the whole area), incidents referred to the one responsible
(the compound's company over the district's sanitation), the organisation's steps and what
each role sees; reports with their channel (reporter app, operator phone call, worker patrol
or on behalf) and the statistics by channel; bad input refused with nothing written."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import func, select

from api.auth import issue_token
from api.services.datasets import add_dataset
from api.services.plans import make_active_plan
from api.store import models as m
from tests.api.stock import make_tokens


def _feature(code, name, kind, categories, area, **extra):
    return {"type": "Feature", "geometry": mapping(area),
            "properties": {"code": code, "name": name, "kind": kind,
                           "categories": categories, **extra}}


def _collection(features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _import(client, headers, features, filename="orgs.geojson"):
    return client.post("/organisations/import", headers=headers,
                       files={"file": (filename, _collection(features), "application/json")})


def _stock(sv: dict, beijing_path) -> dict:
    """An active plan on the Beijing extract, organisations imported (a property company per
    compound, sanitation and the police over the area) and tokens for every role."""
    from gis.osm import read_osm

    app, client = sv["app"], sv["client"]
    db, settings = app.state.db, app.state.settings
    h = make_tokens(app, names=("admin", "planner", "reporter", "operator"))
    dataset_id = add_dataset(db, settings, beijing_path, name="xitucheng")
    plan_id = make_active_plan(db, settings, dataset_id, target_households=300)
    with db.read_session() as s:
        grids = [g.geom for g in s.scalars(select(m.GridRow)
                                           .where(m.GridRow.plan_id == plan_id))]
        buildings = [(b.building_id, b.grid_code, b.geom) for b in s.scalars(
            select(m.PlanBuildingRow).where(m.PlanBuildingRow.plan_id == plan_id,
                                            m.PlanBuildingRow.grid_code.is_not(None)))]
    covered = shapely.union_all(grids)
    compounds = [a.geometry for a in read_osm(beijing_path).areas
                 if a.tags.get("landuse") == "residential"]
    assert len(compounds) == 3
    district = shapely.box(*covered.bounds).buffer(0.001)
    features = [_feature(f"WY{i}", f"物业公司{i}", "property_company",
                         "environment;public_facilities;parking", c,
                         accept="4wh", handle="3wd")
                for i, c in enumerate(compounds)]
    features += [_feature("HW", "环卫所", "sanitation", "environment", district,
                          accept="2h", handle="1wd"),
                 _feature("PCS", "西土城派出所", "police", "public_order,neighbour_dispute",
                          district, accept="1h", handle="2h",
                          category_deadlines=json.dumps(
                              {"neighbour_dispute": {"accept": "1wd", "handle": "5wd"}}))]
    r = _import(client, h["admin"], features)
    assert r.status_code == 200, r.text
    orgs = {o["code"]: o["id"] for o in r.json()["organisations"]}
    with db.writing() as s:
        _, secret = issue_token(s, "operator", "热线2")
        h["operator2"] = {"Authorization": f"Bearer {secret}"}
        for code in ("WY0", "WY2", "HW"):
            _, secret = issue_token(s, "organisation", code, organisation_id=orgs[code])
            h[code] = {"Authorization": f"Bearer {secret}"}
    # buildings inside each compound (the second one, mostly outside the extract, holds
    # none) and one outside them all; two in the first compound far apart (no merging)
    inside = [[b for b in buildings if c.covers(b[2].representative_point())]
              for c in compounds]
    assert [len(b) > 0 for b in inside] == [True, False, True]
    first = inside[0][0][2].representative_point()
    far = max(inside[0], key=lambda b: b[2].representative_point().distance(first))
    outside = next(b for b in buildings
                   if not any(c.covers(b[2].representative_point()) for c in compounds))
    return {**sv, "h": h, "plan_id": plan_id, "orgs": orgs, "compounds": compounds,
            "district": district, "a": inside[0][0], "b": inside[2][0], "c": far,
            "outside": outside}


@pytest.fixture(scope="module")
def bj(open_service, beijing_path, map_assets):
    """The service on the Beijing extract (:func:`_stock`)."""
    with open_service("referral", stocked=False, map_assets_dir=map_assets) as sv:
        yield _stock(sv, beijing_path)


def _at(building) -> dict:
    p = building[2].representative_point()
    return {"lon": p.x, "lat": p.y}


def _report(bj, who, category, building, **body):
    r = bj["client"].post("/incidents", headers=bj["h"][who],
                          json={"category": category, **_at(building), **body})
    assert r.status_code == 201, r.text
    return r.json()


def _act(bj, who, iid, action, **body):
    return bj["client"].post(f"/incidents/{iid}/actions", headers=bj["h"][who],
                             json={"action": action, **body})


def _accepted(bj, category, building, **body) -> int:
    iid = _report(bj, "reporter", category, building, **body)["id"]
    assert _act(bj, "admin", iid, "accept").status_code == 200
    return iid


def _counts(bj) -> tuple[int, int, int]:
    with bj["app"].state.db.read_session() as s:
        return (s.scalar(select(func.count()).select_from(m.OrganisationRow)),
                s.scalar(select(func.count()).select_from(m.ReferralRow)),
                s.scalar(select(func.count()).select_from(m.IncidentStepRow)))


# ---- organisations ------------------------------------------------------------------------

def test_import_merges_areas_by_code_and_updates_by_code(bj):
    c, h = bj["client"], bj["h"]
    orgs = c.get("/organisations", headers=h["planner"]).json()
    assert {o["code"] for o in orgs} == {"WY0", "WY1", "WY2", "HW", "PCS"}
    police = next(o for o in orgs if o["code"] == "PCS")
    assert police["kind_zh"] == "派出所" and police["accept"] == "1h"
    assert police["category_deadlines"] == {"neighbour_dispute": {"accept": "1wd",
                                                                  "handle": "5wd"}}
    one = c.get(f"/organisations/{bj['orgs']['WY0']}", headers=h["admin"]).json()
    assert shape(one["area"]).equals(shapely.MultiPolygon([bj["compounds"][0]]))
    # an organisation's token reads itself only
    assert [o["code"] for o in c.get("/organisations", headers=h["WY0"]).json()] == ["WY0"]
    assert c.get(f"/organisations/{bj['orgs']['WY1']}", headers=h["WY0"]).status_code == 403


@pytest.mark.parametrize("change,field", [
    ({"geometry": {"type": "Point", "coordinates": [116.35, 39.96]}}, "Polygon"),
    ({"properties": {"categories": "environment;graffiti"}}, "graffiti"),
    ({"properties": {"kind": "bank"}}, "bank"),
    ({"properties": {"accept": "soon"}}, "accept"),
    ({"properties": {"name": ""}}, "name"),
    ({"geometry": {"type": "Polygon", "coordinates": [[[116.35, 39.96], [116.36, 39.97],
                                                        [116.36, 39.96], [116.35, 39.97],
                                                        [116.35, 39.96]]]}}, "valid"),
])
def test_bad_feature_is_refused_by_name_and_nothing_is_written(bj, change, field):
    good = _feature("NEW1", "新单位", "utilities", "public_facilities", bj["district"])
    bad = _feature("BAD9", "坏单位", "utilities", "public_facilities", bj["district"])
    bad["properties"].update(change.get("properties", {}))
    if "geometry" in change:
        bad["geometry"] = change["geometry"]
    before = _counts(bj)
    r = _import(bj["client"], bj["h"]["admin"], [good, bad])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["feature"] == "code=BAD9" and body["file"] == "orgs.geojson"
    assert field in body["message"]["en"] and body["message"]["zh"] != body["message"]["en"]
    assert _counts(bj) == before  # the good feature before it was not written either


def test_import_needs_its_columns_and_an_admin(bj):
    c, h = bj["client"], bj["h"]
    r = c.post("/organisations/import", headers=h["admin"], files={"file": (
        "o.geojson", _collection([{"type": "Feature", "geometry": mapping(bj["district"]),
                                   "properties": {"name": "x"}}]), "application/json")})
    assert r.status_code == 422 and "code" in r.json()["message"]["en"]
    for role in ("planner", "WY0", "operator", "worker"):
        assert _import(c, h[role], []).status_code == 403


def test_create_refuses_a_point_and_a_taken_code(bj):
    c, h = bj["client"], bj["h"]
    body = {"code": "SW1", "name": "自来水公司", "kind": "utilities",
            "categories": ["public_facilities"],
            "area": {"type": "Point", "coordinates": [116.35, 39.96]}}
    r = c.post("/organisations", headers=h["admin"], json=body)
    assert r.status_code == 422 and "Polygon" in r.json()["message"]["en"]
    body["code"] = "HW"
    body["area"] = mapping(bj["district"])
    assert c.post("/organisations", headers=h["admin"], json=body).status_code == 409


# ---- who is responsible -------------------------------------------------------------------

def test_the_compound_company_wins_over_district_sanitation(bj):
    from api.store import organisations as store
    from dispatch.incidents.referral import responsible

    with bj["app"].state.db.read_session() as s:
        for code, building in (("WY0", bj["a"]), ("WY2", bj["b"]), ("WY0", bj["c"])):
            p = building[2].representative_point()
            orgs = store.covering(s, p.x, p.y)
            assert responsible(orgs, "environment", p.x, p.y).code == code
            assert responsible(orgs, "public_order", p.x, p.y).code == "PCS"
            assert responsible(orgs, "noise", p.x, p.y) is None
        p = bj["outside"][2].representative_point()
        assert responsible(store.covering(s, p.x, p.y), "environment", p.x, p.y).code == "HW"


def test_referral_candidates_most_specific_first(bj):
    c, h = bj["client"], bj["h"]
    iid = _report(bj, "reporter", "parking", bj["a"], description="消防通道停车")["id"]
    listed = c.get(f"/incidents/{iid}/referral-candidates", headers=h["admin"]).json()
    assert [x["organisation_id"] for x in listed] == [bj["orgs"]["WY0"]]
    assert listed[0]["accept"] == "4wh" and listed[0]["area_m2"] > 0
    iid = _report(bj, "reporter", "environment", bj["b"], description="垃圾桶满溢")["id"]
    listed = c.get(f"/incidents/{iid}/referral-candidates", headers=h["admin"]).json()
    assert [x["organisation_id"] for x in listed] == [bj["orgs"]["WY2"], bj["orgs"]["HW"]]
    assert listed[0]["area_m2"] < listed[1]["area_m2"] and listed[1]["accept"] == "2h"
    for role in ("planner", "worker", "WY2", "operator"):
        assert c.get(f"/incidents/{iid}/referral-candidates",
                     headers=h[role]).status_code == 403
    for done in (iid, iid - 1):  # rejected: later reports there make incidents of their own
        assert _act(bj, "admin", done, "reject").status_code == 200


# ---- the referral's steps and who sees what ------------------------------------------------

def test_referral_from_report_to_close(bj):
    c, h = bj["client"], bj["h"]
    iid = _accepted(bj, "environment", bj["a"], description="楼道堆放杂物")
    r = _act(bj, "admin", iid, "refer")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["incident"]["status"] == "referred"
    assert out["incident"]["organisation_id"] == bj["orgs"]["WY0"]
    assert "物业公司0" in out["reason"]
    # the company sees it; the other company, sanitation and the workers do not
    assert iid in [i["id"] for i in c.get("/incidents", headers=h["WY0"]).json()]
    for other in ("WY2", "HW"):
        assert iid not in [i["id"] for i in c.get("/incidents", headers=h[other]).json()]
        assert c.get(f"/incidents/{iid}", headers=h[other]).status_code == 403
        assert _act(bj, other, iid, "org_accept").status_code == 403
    assert c.get(f"/incidents/{iid}", headers=h["worker"]).status_code == 403
    # the community cannot handle it meanwhile; the company accepts and handles
    assert _act(bj, "admin", iid, "handle").status_code == 409
    assert _act(bj, "WY0", iid, "org_handle").status_code == 409  # accept first
    assert _act(bj, "WY0", iid, "org_accept", note="已安排保洁").json()["incident"][
        "status"] == "org_accepted"
    r = _act(bj, "WY0", iid, "org_handle", note="已清理")
    assert r.json()["incident"]["status"] == "handled"
    assert r.json()["incident"]["organisation_id"] is None
    assert _act(bj, "WY0", iid, "verify").status_code == 403  # the community's step
    for action in ("verify", "close"):
        assert _act(bj, "admin", iid, action).status_code == 200
    steps = c.get(f"/incidents/{iid}/history", headers=h["WY0"]).json()
    assert [s["stage"] for s in steps] == ["reported", "accepted", "referred", "org_accepted",
                                           "handled", "verified", "closed"]
    assert steps[2]["assignee"] == f"org:{bj['orgs']['WY0']}"
    referrals = c.get(f"/incidents/{iid}/referrals", headers=h["admin"]).json()
    assert len(referrals) == 1 and referrals[0]["status"] == "handled"
    assert referrals[0]["accepted_at"] <= referrals[0]["accept_by"]


def test_organisation_returns_with_a_reason_and_the_community_refers_again(bj):
    iid = _accepted(bj, "environment", bj["b"])
    assert _act(bj, "admin", iid, "refer").json()["incident"]["organisation_id"] == \
        bj["orgs"]["WY2"]
    before = _counts(bj)
    r = _act(bj, "WY2", iid, "org_return")
    assert r.status_code == 409 and "reason" in r.json()["message"]["en"]
    assert _counts(bj) == before
    r = _act(bj, "WY2", iid, "org_return", note="不属于小区公共区域")
    assert r.json()["incident"]["status"] == "returned"
    assert _act(bj, "WY2", iid, "org_accept").status_code == 403  # no longer with it
    # the company still sees what it was given, with the reason
    assert bj["client"].get(f"/incidents/{iid}", headers=bj["h"]["WY2"]).status_code == 200
    r = _act(bj, "admin", iid, "refer", organisation_id=bj["orgs"]["HW"], note="改由环卫")
    assert r.status_code == 200 and r.json()["incident"]["organisation_id"] == bj["orgs"]["HW"]
    referrals = bj["client"].get(f"/incidents/{iid}/referrals", headers=bj["h"]["admin"]).json()
    assert [x["status"] for x in referrals] == ["returned", "referred"]
    assert "不属于小区公共区域" in referrals[0]["reason"]


def test_bad_referrals_are_refused_and_write_nothing(bj):
    iid = _accepted(bj, "environment", bj["c"])
    before = _counts(bj)
    cases = [
        ({"organisation_id": 999999}, 404, "not_found"),
        ({"organisation_id": bj["orgs"]["WY2"]}, 422, "not_served"),  # another compound
        ({"organisation_id": bj["orgs"]["PCS"]}, 422, "not_served"),  # not its category
    ]
    for body, status, code in cases:
        r = _act(bj, "admin", iid, "refer", **body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert r.json()["message"]["zh"] and r.json()["message"]["en"]
    noise = _accepted(bj, "noise", bj["outside"])
    r = _act(bj, "admin", noise, "refer")
    assert (r.status_code, r.json()["code"]) == (422, "no_organisation")
    reported = _report(bj, "reporter", "environment", bj["outside"])["id"]
    r = _act(bj, "admin", reported, "refer")  # not accepted yet: out of turn
    assert (r.status_code, r.json()["code"]) == (409, "bad_transition")
    for role in ("worker", "planner", "operator", "WY0"):
        assert _act(bj, role, iid, "refer").status_code == 403
    after = _counts(bj)
    assert after[:2] == before[:2]
    assert after[2] == before[2] + 3  # only the new reports' steps: noise reported, accepted;
    # the other reported


def test_statistics_per_organisation(bj):
    stats = bj["client"].get("/organisations/statistics", headers=bj["h"]["planner"]).json()
    by_code = {o["name"]: o for o in stats["organisations"]}
    wy0 = by_code["物业公司0"]
    assert wy0["received"] >= 1 and wy0["handled"] >= 1
    assert wy0["handled_on_time"] == wy0["handled"] and wy0["median_handle_h"] is not None
    assert by_code["物业公司2"]["returned"] >= 1
    assert by_code["物业公司1"]["received"] == 0
    assert by_code["环卫所"]["open"] >= 1
    assert bj["client"].get("/organisations/statistics",
                            headers=bj["h"]["WY0"]).status_code == 403


# ---- channels -----------------------------------------------------------------------------

def test_each_role_reports_by_its_channel(bj):
    c, h = bj["client"], bj["h"]
    phone = _report(bj, "operator", "noise", bj["a"], reporter_name="张大爷",
                    reporter_phone="010-62281234", description="楼上装修噪声")
    assert phone["channel"] == "phone_call"
    walk = _report(bj, "operator", "parking", bj["b"], channel="walk_in")
    assert walk["channel"] == "walk_in"
    assert _report(bj, "worker", "parking", bj["outside"])["channel"] == "patrol"
    door = _report(bj, "worker", "public_facilities", bj["c"], channel="door_visit")
    assert door["channel"] == "door_visit"
    assert _report(bj, "reporter", "stray_animals", bj["outside"])["channel"] == "app"
    r = c.post("/incidents", headers=h["reporter"], json={
        "category": "noise", **_at(bj["outside"]), "channel": "phone_call"})
    assert r.status_code == 422 and "phone_call" in r.json()["message"]["en"]
    r = c.post("/incidents", headers=h["operator"], json={
        "category": "noise", **_at(bj["outside"]), "channel": "qr_poster"})
    assert r.status_code == 422
    r = c.post("/incidents", headers=h["operator"], json={
        "category": "noise", **_at(bj["outside"]), "channel": "fax"})
    assert r.status_code == 422
    # an operator reads what it entered, and nothing else
    mine = {i["id"] for i in c.get("/incidents", headers=h["operator"]).json()}
    assert mine == {phone["id"], walk["id"]}
    assert c.get(f"/incidents/{door['id']}", headers=h["operator"]).status_code == 403
    assert c.get("/incidents", headers=h["operator2"]).json() == []
    assert c.get(f"/incidents/{phone['id']}/history", headers=h["operator"]).status_code == 200
    for path in ("/workers", "/plans", "/incidents/statistics", "/organisations/statistics"):
        assert c.get(path, headers=h["operator"]).status_code == 403
    assert _act(bj, "operator", phone["id"], "accept").status_code == 403


def test_statistics_and_list_by_channel(bj):
    c, h = bj["client"], bj["h"]
    stats = c.get("/incidents/statistics", headers=h["planner"],
                  params={"by": "channel"}).json()
    groups = {g["channel"]: g["incidents"] for g in stats["groups"]}
    listed = c.get("/incidents", headers=h["admin"], params={"limit": 500}).json()
    for channel, n in groups.items():
        assert n == sum(1 for i in listed if i["channel"] == channel)
    assert groups.get("phone_call", 0) >= 1 and groups.get("app", 0) >= 1
    only = c.get("/incidents/statistics", headers=h["planner"],
                 params={"by": "category", "channel": "phone_call"}).json()
    assert only["channel"] == "phone_call"
    assert sum(g["incidents"] for g in only["groups"]) == groups["phone_call"]
    phone = c.get("/incidents", headers=h["admin"], params={"channel": "phone_call"}).json()
    assert phone and {i["channel"] for i in phone} == {"phone_call"}
    assert c.get("/incidents/statistics", headers=h["planner"],
                 params={"channel": "fax"}).status_code == 422


def test_organisation_token_reaches_nothing_else(bj):
    c, h = bj["client"], bj["h"]
    for path in ("/workers", "/plans", "/grids", "/incidents/statistics", "/routes",
                 "/maps/incidents", "/datasets"):
        assert c.get(path, headers=h["WY0"]).status_code == 403, path
    r = c.post("/incidents", headers=h["WY0"],
               json={"category": "noise", **_at(bj["outside"])})
    assert r.status_code == 403


# ---- Open311: channel and referral as extensions ---------------------------------------------

def test_open311_channel_extension_within_the_role(bj):
    c, h = bj["client"], bj["h"]
    at = _at(bj["outside"])
    # categories nobody reported there yet (a report would join an open one and its channel)
    fields = {"service_code": "neighbour_dispute", "lat": at["lat"], "long": at["lon"]}
    r = c.post("/open311/v2/requests.json", headers=h["operator"],
               json={**fields, "channel": "walk_in", "description": "到社区服务站反映"})
    assert r.status_code == 201, r.text
    walk = int(r.json()[0]["service_request_id"])
    r = c.post("/open311/v2/requests.json", headers=h["reporter"],
               json={**fields, "service_code": "building_safety"})
    plain = int(r.json()[0]["service_request_id"])
    channels = {i["id"]: i["channel"] for i in
                c.get("/incidents", headers=h["admin"], params={"limit": 500}).json()}
    assert channels[walk] == "walk_in" and channels[plain] == "open311"
    for who, channel in (("reporter", "phone_call"), ("operator", "fax"),
                         ("operator", "qr_poster")):
        r = c.post("/open311/v2/requests.json", headers=h[who],
                   json={**fields, "service_code": "noise", "channel": channel})
        assert r.status_code == 400 and channel in r.json()["message"]["en"], r.text


def test_open311_shows_the_referral_to_whom_may_see_it(bj):
    c, h = bj["client"], bj["h"]
    iid = _accepted(bj, "public_facilities", bj["b"], description="单元门禁损坏")
    assert _act(bj, "admin", iid, "refer").status_code == 200
    plain = c.get(f"/open311/v2/requests/{iid}.json", headers=h["admin"]).json()[0]
    assert "extended_attributes" not in plain
    assert plain["agency_responsible"] == "物业公司2" and plain["status"] == "open"
    mine = c.get("/open311/v2/requests.json", headers=h["WY2"],
                 params={"extensions": "true"}).json()
    assert iid in [int(x["service_request_id"]) for x in mine]
    record = next(x for x in mine if int(x["service_request_id"]) == iid)
    ext = record["extended_attributes"]
    assert ext["channel"] == "app" and ext["stage"] == "referred"
    assert ext["referral"]["organisation"] == "物业公司2"
    assert ext["referral"]["status"] == "referred" and ext["referral"]["accept_by"]
    # the other company and sanitation see nothing of it; the operator only its own
    for who in ("WY0", "HW"):
        ids = [int(x["service_request_id"]) for x in
               c.get("/open311/v2/requests.json", headers=h[who]).json()]
        assert iid not in ids
        assert c.get(f"/open311/v2/requests/{iid}.json", headers=h[who]).status_code == 403
    assert iid not in [int(x["service_request_id"]) for x in
                       c.get("/open311/v2/requests.json", headers=h["operator"]).json()]


# ---- maps ---------------------------------------------------------------------------------

def test_organisations_map_for_each_role(bj):
    c, h = bj["client"], bj["h"]
    iid = _accepted(bj, "public_facilities", bj["a"], description="路灯不亮")
    assert _act(bj, "admin", iid, "refer").status_code == 200
    r = c.get("/maps/organisations", headers=h["admin"], params={"open_only": "false"})
    assert r.status_code == 200, r.text[:300]
    assert all(name in r.text for name in ("物业公司0", "物业公司2", "环卫所", "西土城派出所"))
    assert "转办单位与转办事件" in r.text and "https://" not in r.text.split("<body>")[0]
    own = c.get("/maps/organisations", headers=h["WY0"], params={"lang": "en"})
    assert own.status_code == 200 and "Organisations and referred incidents" in own.text
    assert "物业公司0" in own.text
    assert not any(name in own.text for name in ("物业公司2", "环卫所", "西土城派出所"))
    assert c.get("/maps/organisations", headers=h["WY0"],
                 params={"organisation_id": bj["orgs"]["HW"]}).status_code == 403
    for role in ("worker", "operator", "reporter"):
        assert c.get("/maps/organisations", headers=h[role]).status_code == 403
    assert c.get("/maps/organisations", headers=h["admin"],
                 params={"organisation_id": 999999}).status_code == 404


def test_incidents_map_by_channel(bj):
    c, h = bj["client"], bj["h"]
    r = c.get("/maps/incidents", headers=h["admin"], params={"channel": "phone_call"})
    assert r.status_code == 200, r.text[:300]
    assert "电话（热线）" in r.text and "手机应用" not in r.text
    everything = c.get("/maps/incidents", headers=h["admin"]).text
    assert "电话（热线）" in everything and "手机应用" in everything and "转办待承办" in everything
    assert c.get("/maps/incidents", headers=h["admin"],
                 params={"channel": "fax"}).status_code == 422


# ---- QR posters and the public form ---------------------------------------------------------

def _form_url(bj, building) -> tuple[str, str]:
    from api.services.posters import poster_key

    bid = building[0]
    return bid, poster_key(bj["app"].state.settings, bid)


def test_posters_print_a_qr_code_of_the_form_for_whom_may_print(bj):
    from api.services.posters import qr_svg, report_url

    c, h = bj["client"], bj["h"]
    bid = bj["a"][0]
    r = c.get(f"/posters/buildings/{bid}", headers=h["planner"])
    assert r.status_code == 200 and "扫码反映问题" in r.text and "Scan to report" in r.text
    url = report_url("http://testserver/", bj["app"].state.settings, bid)
    assert qr_svg(url) in r.text  # the QR code holds the form's address with its key
    assert "https://" not in r.text and "<script" not in r.text
    for role in ("reporter", "operator", "WY0", "worker"):  # the worker has no grid here
        assert c.get(f"/posters/buildings/{bid}", headers=h[role]).status_code == 403
    assert c.get("/posters/buildings/nope", headers=h["admin"]).status_code == 404
    grid = bj["a"][1]
    page = c.get(f"/posters/grids/{grid}", headers=h["admin"]).text
    with bj["app"].state.db.read_session() as s:
        homes = s.scalar(select(func.count()).select_from(m.PlanBuildingRow).where(
            m.PlanBuildingRow.plan_id == bj["plan_id"], m.PlanBuildingRow.grid_code == grid,
            m.PlanBuildingRow.households > 0))
    assert homes > 1 and page.count("<section class='poster'>") == homes


def test_public_form_reports_at_the_building_by_qr_poster(bj):
    c, h = bj["client"], bj["h"]
    bid, key = _form_url(bj, bj["c"])
    r = c.get("/public/report", params={"b": bid, "k": key})
    assert r.status_code == 200 and bid in r.text and "<form method='post'" in r.text
    assert "micro_wish" not in r.text and "content-security-policy" in r.headers
    r = c.post("/public/report", data={"b": bid, "k": key, "category": "building_safety",
                                       "description": "三单元外墙瓷砖松动", "phone": "13800138000"})
    assert r.status_code == 201, r.text
    assert "已收到" in r.text and "Received" in r.text
    made = [i for i in c.get("/incidents", headers=h["admin"],
                             params={"channel": "qr_poster"}).json()]
    assert len(made) == 1 and made[0]["grid_code"] == bj["c"][1]
    point = shape({"type": "Point", "coordinates": [made[0]["lon"], made[0]["lat"]]})
    assert bj["c"][2].covers(point) and bid in made[0]["description"]


@pytest.mark.parametrize("change,status,text", [
    ({"k": "0" * 20}, 404, "not valid"),
    ({"b": "no-such-building"}, 404, "not valid"),
    ({"category": "micro_wish"}, 422, "choose"),
    ({"category": ""}, 422, "choose"),
    ({"description": "长" * 1001}, 422, "longer"),
    ({"phone": "call me"}, 422, "digits"),
])
def test_public_form_refuses_bad_input_and_writes_nothing(bj, change, status, text):
    bid, key = _form_url(bj, bj["b"])
    before = _counts(bj)
    data = {"b": bid, "k": key, "category": "environment", **change}
    r = bj["client"].post("/public/report", data=data)
    assert r.status_code == status and text in r.text and "<!DOCTYPE html>" in r.text
    assert _counts(bj) == before


def test_public_form_is_limited_per_building(bj):
    bid, key = _form_url(bj, bj["outside"])
    codes = [bj["client"].post("/public/report", data={
        "b": bid, "k": key, "category": "environment", "description": f"第 {i} 次"}).status_code
        for i in range(6)]
    assert codes == [201] * 5 + [429]


def test_referral_channels_and_posters_on_postgis(postgis_url, open_service, beijing_path):
    """The same on PostgreSQL + PostGIS: import, channels, referral steps, statistics,
    Open311 extensions and the public form."""
    with open_service("referral-postgis", stocked=False, start_jobs=False,
                      database_url=postgis_url) as sv:
        pg = _stock(sv, beijing_path)
        c, h = pg["client"], pg["h"]
        phone = _report(pg, "operator", "environment", pg["a"], reporter_name="王阿姨")
        assert phone["channel"] == "phone_call"
        assert _act(pg, "admin", phone["id"], "accept").status_code == 200
        r = _act(pg, "admin", phone["id"], "refer")
        assert r.json()["incident"]["organisation_id"] == pg["orgs"]["WY0"], r.text
        assert [i["id"] for i in c.get("/incidents", headers=h["WY0"]).json()] == [phone["id"]]
        assert c.get("/incidents", headers=h["HW"]).json() == []
        assert _act(pg, "WY0", phone["id"], "org_accept").status_code == 200
        assert _act(pg, "WY0", phone["id"], "org_handle", note="已清运").status_code == 200
        stats = {o["name"]: o for o in c.get("/organisations/statistics",
                                            headers=h["admin"]).json()["organisations"]}
        assert stats["物业公司0"]["handled_on_time"] == 1
        ext = c.get(f"/open311/v2/requests/{phone['id']}.json", headers=h["operator"],
                    params={"extensions": "true"}).json()[0]["extended_attributes"]
        assert ext["channel"] == "phone_call" and ext["referral"]["status"] == "handled"
        bid, key = _form_url(pg, pg["b"])
        r = c.post("/public/report", data={"b": bid, "k": key, "category": "parking"})
        assert r.status_code == 201, r.text
        groups = {g["channel"]: g["incidents"] for g in c.get(
            "/incidents/statistics", headers=h["planner"],
            params={"by": "channel"}).json()["groups"]}
        assert groups == {"phone_call": 1, "qr_poster": 1}
        assert c.get("/organisations", headers=h["admin"],
                     params={"geometry": "true"}).json()[0]["area"]["type"] == "MultiPolygon"
