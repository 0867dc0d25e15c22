"""Incidents in the service: the lifecycle with roles, the append-only history, duplicate
merge, dispatch by the Dispatcher on the plan's streets, statistics and Open311 GeoReport v2,
on a synthetic district of 200 buildings (SQLite, and a run on PostGIS)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from api.store import models as m


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("incidents-data", start_jobs=False) as sv:
        yield sv


def report(sv, point, category="noise", role="reporter", **extra):
    r = sv["client"].post("/incidents", headers=sv["h"][role],
                          json={"category": category, "lon": point[0], "lat": point[1],
                                **extra})
    assert r.status_code == 201, r.text
    return r.json()


def act(sv, iid, role, action, **body):
    return sv["client"].post(f"/incidents/{iid}/actions", headers=sv["h"][role],
                             json={"action": action, **body})


def test_full_lifecycle_with_roles_and_history(sv):
    c, h = sv["client"], sv["h"]
    p0 = sv["points"][0]
    inc = report(sv, (p0.x, p0.y), "environment", description="垃圾堆放")
    iid = inc["id"]
    assert inc["status"] == "reported" and inc["grid_code"] == sv["codes"][0]
    assert inc["accept_by"] < inc["close_by"] and not inc["overdue"]
    # a reporter may only report; a worker may not accept
    assert act(sv, iid, "reporter", "accept").status_code == 403
    assert act(sv, iid, "worker", "accept").status_code == 403
    assert c.get(f"/incidents/{iid}", headers=h["reporter"]).status_code == 403
    # an illegal step is refused with a clear message
    r = act(sv, iid, "admin", "close")
    assert r.status_code == 409 and "结案" in r.json()["message"]["zh"]
    assert "closed" in r.json()["message"]["en"]
    assert act(sv, iid, "planner", "accept", note="立案").status_code == 403  # planners read
    assert act(sv, iid, "admin", "accept", note="立案").status_code == 200
    r = act(sv, iid, "admin", "dispatch", worker_id=h["worker_id"])
    assert r.status_code == 200 and r.json()["incident"]["worker_id"] == h["worker_id"]
    # only the worker it was dispatched to sees and moves it
    assert c.get(f"/incidents/{iid}", headers=h["worker2"]).status_code == 403
    assert act(sv, iid, "worker2", "start").status_code == 403
    assert act(sv, iid, "worker", "start").status_code == 200
    assert act(sv, iid, "worker", "handle", note="已清理").status_code == 200
    assert act(sv, iid, "worker", "verify").status_code == 403
    assert act(sv, iid, "admin", "verify").status_code == 200
    r = act(sv, iid, "admin", "close")
    assert r.status_code == 200 and r.json()["incident"]["status"] == "closed"
    steps = c.get(f"/incidents/{iid}/history", headers=h["worker"]).json()
    assert [s["action"] for s in steps] == ["report", "accepted", "dispatched", "in_progress",
                                            "handled", "verified", "closed"]
    assert [s["seq"] for s in steps] == list(range(1, 8))
    assert steps[4]["note"] == "已清理" and steps[2]["assignee"] == str(h["worker_id"])
    assert all(a["at"] <= b["at"] for a, b in itertools.pairwise(steps))
    assert act(sv, iid, "admin", "return").status_code == 409  # closed is final
    assert c.get(f"/incidents/{iid}/history", headers=h["worker2"]).status_code == 403


def test_history_is_append_only(sv):
    """A later step adds rows; the earlier ones stay as they were."""
    app, p1 = sv["app"], sv["points"][1]
    iid = report(sv, (p1.x + 0.001, p1.y), "stray_animals")["id"]
    with app.state.db.read_session() as s:
        before = [(r.id, r.seq, r.at, r.note) for r in s.scalars(
            select(m.IncidentStepRow).where(m.IncidentStepRow.incident_id == iid))]
    assert act(sv, iid, "admin", "reject", note="重复").status_code == 200
    with app.state.db.read_session() as s:
        after = [(r.id, r.seq, r.at, r.note) for r in s.scalars(
            select(m.IncidentStepRow).where(m.IncidentStepRow.incident_id == iid)
            .order_by(m.IncidentStepRow.seq))]
    assert after[:len(before)] == before and len(after) == len(before) + 1


def test_duplicate_reports_merge_and_keep_reporters(sv):
    p1 = sv["points"][1]
    first = report(sv, (p1.x, p1.y), "parking", description="占用消防通道")
    near = report(sv, (p1.x + 0.0001, p1.y), "停车管理", reporter_name="张三",
                  description="又停了")  # ~9 m away, category by its Chinese name
    assert near["merged"] and near["id"] == first["id"] and near["reporters"] == 2
    other = report(sv, (p1.x + 0.0001, p1.y), "noise")  # another category: its own
    far = report(sv, (p1.x + 0.001, p1.y), "parking")  # ~95 m: its own
    assert not other["merged"] and not far["merged"]
    assert len({first["id"], other["id"], far["id"]}) == 3
    steps = sv["client"].get(f"/incidents/{first['id']}/history",
                             headers=sv["h"]["admin"]).json()
    assert steps[-1]["action"] == "merge" and steps[-1]["who"] == "张三"
    r = sv["client"].post("/incidents", headers=sv["h"]["reporter"],
                          json={"category": "ufo", "lon": p1.x, "lat": p1.y})
    assert r.status_code == 422 and "ufo" in r.json()["message"]["en"]


def test_dispatch_by_walking_time_load_and_roster(sv):
    h, app = sv["h"], sv["app"]
    p0 = sv["points"][0]
    iid = report(sv, (p0.x + 0.0003, p0.y), "public_facilities")["id"]
    r = act(sv, iid, "admin", "dispatch")
    assert r.status_code == 409  # not accepted yet
    assert act(sv, iid, "admin", "accept").status_code == 200
    r = act(sv, iid, "admin", "dispatch")
    assert r.status_code == 200, r.text
    body = r.json()
    # the grid's own worker, on duty and free, gets it; the ranking is by walking time
    assert body["incident"]["worker_id"] == h["worker_id"], body
    assert "grid's worker" in body["reason"]
    walks = [row["walk_m"] for row in body["ranking"]]
    assert len(walks) == 2 and walks[0] < walks[1] and walks[0] > 0
    # the grid's worker off duty: the other one is chosen and the reason says why
    iid2 = report(sv, (p0.x, p0.y), "building_safety")["id"]
    assert act(sv, iid2, "admin", "accept").status_code == 200
    with app.state.db.writing() as s:
        s.get(m.WorkerRow, h["worker_id"]).on_duty = False
    try:
        body = act(sv, iid2, "admin", "dispatch").json()
    finally:
        with app.state.db.writing() as s:
            s.get(m.WorkerRow, h["worker_id"]).on_duty = True
    assert body["incident"]["worker_id"] == h["worker2_id"], body
    assert "off duty" in body["reason"]
    assert act(sv, iid2, "worker", "dispatch").status_code == 403


def test_micro_wish_is_claimed_not_dispatched(sv):
    p0 = sv["points"][0]
    iid = report(sv, (p0.x - 0.0005, p0.y), "micro_wish", description="想要一把轮椅")["id"]
    assert act(sv, iid, "admin", "accept").status_code == 200
    r = act(sv, iid, "admin", "dispatch", worker_id=sv["h"]["worker_id"])
    assert r.status_code == 409 and "claim" in r.json()["message"]["en"]
    assert act(sv, iid, "admin", "claim").status_code == 409  # who claims it?
    r = act(sv, iid, "admin", "claim", claimant="党员 陈红")
    assert r.status_code == 200 and r.json()["incident"]["status"] == "dispatched"
    assert r.json()["incident"]["worker_id"] is None


def test_worker_lists_only_their_incidents_and_statistics(sv):
    c, h = sv["client"], sv["h"]
    mine = c.get("/incidents", headers=h["worker"]).json()
    assert mine and {i["worker_id"] for i in mine} == {h["worker_id"]}
    assert c.get("/incidents", params={"worker_id": h["worker2_id"]},
                 headers=h["worker"]).status_code == 403
    for by, key in (("category", "environment"), ("worker", str(h["worker_id"])),
                    ("grid", sv["codes"][0])):
        r = c.get("/incidents/statistics", params={"by": by}, headers=h["planner"])
        assert r.status_code == 200, r.text
        groups = {g[by]: g for g in r.json()["groups"]}
        assert key in groups, (by, groups)
    env = {g["category"]: g for g in c.get("/incidents/statistics", headers=h["admin"])
           .json()["groups"]}["environment"]
    assert env["incidents"] >= 1 and env["median_close_h"] is not None
    assert env["median_close_h"] >= env["median_accept_h"] >= 0
    for role in ("worker", "reporter"):
        assert c.get("/incidents/statistics", headers=h[role]).status_code == 403
    assert c.get("/incidents/statistics", params={"by": "x"},
                 headers=h["admin"]).status_code == 422


def test_open311_services_post_list_and_one(sv):
    c, h, app = sv["client"], sv["h"], sv["app"]
    services = c.get("/open311/v2/services.json").json()
    assert {"noise", "micro_wish"} <= {s["service_code"] for s in services}
    en = c.get("/open311/v2/services.json", params={"lang": "en"}).json()
    assert any(s["service_name"] == "noise" for s in en)
    p1 = sv["points"][1]
    key = h["reporter"]["Authorization"].removeprefix("Bearer ")
    form = {"api_key": key, "service_code": "noise", "lat": str(p1.y - 0.0006),
            "long": str(p1.x), "description": "夜间施工", "last_name": "李", "first_name": "雷"}
    r = c.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    again = c.post("/open311/v2/requests.json", headers=h["reporter"],
                   json={**{k: v for k, v in form.items() if k != "api_key"},
                         "description": "还在吵"}).json()[0]
    assert again["service_request_id"] == rid and again["service_notice"]
    r = c.post("/open311/v2/requests.json", data={**form, "service_code": "ufo"})
    assert r.status_code == 400 and "ufo" in r.json()["message"]["en"]
    r = c.post("/open311/v2/requests.json", data={**form, "lat": ""})
    assert r.status_code == 400 and "lat" in r.json()["message"]["en"]
    assert c.post("/open311/v2/requests.json", data={**form, "api_key": "wg_bad"}
                  ).status_code == 401
    assert c.post("/open311/v2/requests.json",
                  data={k: v for k, v in form.items() if k != "api_key"}).status_code == 401
    one = c.get(f"/open311/v2/requests/{rid}.json", headers=h["planner"]).json()
    assert len(one) == 1 and one[0]["status"] == "open" and one[0]["service_code"] == "noise"
    assert one[0]["lat"] == pytest.approx(p1.y - 0.0006)
    listed = c.get("/open311/v2/requests.json", headers=h["admin"],
                   params={"service_code": "noise", "status": "open"}).json()
    assert rid in [x["service_request_id"] for x in listed]
    assert all(x["service_code"] == "noise" and x["status"] == "open" for x in listed)
    closed = c.get("/open311/v2/requests.json", headers=h["admin"],
                   params={"status": "closed"}).json()
    assert closed and all(x["status"] == "closed" for x in closed)
    none = c.get("/open311/v2/requests.json", headers=h["admin"],
                 params={"end_date": "2001-01-01T00:00:00Z"}).json()
    assert none == []
    assert c.get("/open311/v2/requests.json", headers=h["admin"],
                 params={"status": "maybe"}).status_code == 400
    assert c.get("/open311/v2/requests.json", headers=h["admin"],
                 params={"start_date": "yesterday"}).status_code == 400
    # roles: a worker gets only what is theirs, a reporter may not read
    assert c.get(f"/open311/v2/requests/{rid}.json", headers=h["worker"]).status_code == 403
    assert c.get("/open311/v2/requests.json", headers=h["reporter"]).status_code == 403
    assert c.get("/open311/v2/requests.json").status_code == 401
    assert c.get("/open311/v2/requests/999999.json", headers=h["admin"]).status_code == 404
    with app.state.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(m.IncidentRow)
                        .where(m.IncidentRow.description == "夜间施工")) == 1


def test_off_duty_redispatches_and_overdue_escalates_to_the_grid_leader(sv):
    from datetime import UTC, datetime, timedelta

    c, h, app = sv["client"], sv["h"], sv["app"]
    p0 = sv["points"][0]
    iid = report(sv, (p0.x - 0.0002, p0.y + 0.0002), "neighbour_dispute")["id"]
    assert act(sv, iid, "admin", "accept").status_code == 200
    assert act(sv, iid, "admin", "dispatch", worker_id=h["worker_id"]).status_code == 200
    path = f"/workers/{h['worker_id']}/off-duty"
    for role in ("planner", "worker", "reporter"):
        assert c.post(path, headers=h[role]).status_code == 403
    assert c.post("/workers/999999/off-duty", headers=h["admin"]).status_code == 404
    try:
        r = c.post(path, headers=h["admin"])
        assert r.status_code == 200, r.text
        moved = {x["incident_id"]: x for x in r.json()["redispatched"]}
        assert moved[iid]["to_worker"] == h["worker2_id"] and "off duty" in moved[iid]["reason"]
        got = c.get(f"/incidents/{iid}", headers=h["worker2"]).json()
        assert got["worker_id"] == h["worker2_id"] and got["status"] == "dispatched"
        assert c.get(f"/incidents/{iid}", headers=h["worker"]).status_code == 403
    finally:
        c.patch(f"/workers/{h['worker_id']}", headers=h["admin"], json={"on_duty": True})
    # the grid's community gets a leader; an incident past its deadline goes to them, once
    r = c.put(f"/plans/{sv['plan_id']}/grids/{sv['codes'][0]}/assignment", headers=h["admin"],
              json={"worker_id": h["worker2_id"], "role": "leader"})
    assert r.status_code == 200, r.text
    late = report(sv, (p0.x, p0.y - 0.0002), "environment")["id"]
    with app.state.db.writing() as s:
        s.get(m.IncidentRow, late).accept_by = datetime.now(UTC) - timedelta(hours=3)
    assert c.get(f"/incidents/{late}", headers=h["admin"]).json()["overdue"]
    assert c.post("/incidents/escalate", headers=h["worker"]).status_code == 403
    first = c.post("/incidents/escalate", headers=h["admin"]).json()["escalated"]
    mine = [x for x in first if x["incident_id"] == late]
    assert mine and mine[0]["leader_worker_id"] == h["worker2_id"]
    assert mine[0]["overdue_h"] == pytest.approx(3, abs=0.1)
    again = c.post("/incidents/escalate", headers=h["admin"]).json()["escalated"]
    assert late not in [x["incident_id"] for x in again]
    got = c.get(f"/incidents/{late}", headers=h["admin"]).json()
    assert got["escalated_to"] == str(h["worker2_id"])
    steps = c.get(f"/incidents/{late}/history", headers=h["admin"]).json()
    assert steps[-1]["action"] == "escalate" and "网格长" in steps[-1]["note"]


def test_lifecycle_dispatch_and_merge_on_postgis(postgis_url, open_service):
    """The same store code on PostgreSQL + PostGIS: merge, automatic dispatch, history,
    statistics and Open311."""
    with open_service("incidents-postgis", start_jobs=False, database_url=postgis_url) as pg:
        client = pg["client"]
        p0 = pg["points"][0]
        first = report(pg, (p0.x, p0.y), "noise")
        assert report(pg, (p0.x + 0.0001, p0.y), "noise")["id"] == first["id"]
        assert act(pg, first["id"], "admin", "accept").status_code == 200
        r = act(pg, first["id"], "admin", "dispatch")
        assert r.status_code == 200 and r.json()["incident"]["worker_id"] == \
            pg["h"]["worker_id"], r.text
        steps = client.get(f"/incidents/{first['id']}/history",
                           headers=pg["h"]["worker"]).json()
        assert [s["action"] for s in steps] == ["report", "merge", "accepted",
                                                "dispatched"]
        stats = client.get("/incidents/statistics", params={"by": "worker"},
                           headers=pg["h"]["admin"]).json()["groups"]
        assert {g["worker"]: g["open"] for g in stats}[str(pg["h"]["worker_id"])] == 1
        one = client.get(f"/open311/v2/requests/{first['id']}.json",
                         headers=pg["h"]["worker"]).json()
        assert one[0]["agency_responsible"] == str(pg["h"]["worker_id"])
