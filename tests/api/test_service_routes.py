"""Dispatched incidents in the workers' visit routes of today, and workers' hours deciding who
is dispatched to, in the service on the synthetic district of 200 buildings (SQLite, and a run
on PostGIS); migration 0003 over a store at 0002 with data.

The clock of the incidents and people services is set to 09:00 Beijing time today, so that
shifts, days off and the end of the day (routes end at midnight) do not depend on when the
tests run.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import inspect, text

import api.services.incidents as incidents_service
import api.services.intake as intake_service
import api.services.people as people_service
from api.store import models as m
from api.store.db import Database, upgrade
from api.store.routes import save_route
from dispatch.incidents.rules import BEIJING

NINE = datetime.now(BEIJING).replace(hour=9, minute=0, second=0, microsecond=0)
TODAY = NINE.date()


class NineOClock(datetime):
    """``datetime`` whose now() is 09:00 Beijing time today."""

    @classmethod
    def now(cls, tz=None):
        return NINE.astimezone(tz) if tz is not None else NINE.replace(tzinfo=None)


@pytest.fixture(autouse=True)
def nine_oclock(monkeypatch):
    # Reports are stamped by the intake: at the real time they would come after 09:00
    # accepts whenever the tests run after 09:00 Beijing time.
    for service in (incidents_service, intake_service):
        monkeypatch.setattr(service, "datetime", NineOClock)
    monkeypatch.setattr(people_service, "datetime", NineOClock)


def add_todays_patrol(info: dict) -> dict:
    """The stocked service's grid points, and worker 1's street patrol of today."""
    with info["app"].state.db.writing() as s:
        grids = s.execute(m.GridRow.__table__.select().where(
            m.GridRow.plan_id == info["plan_id"]).order_by(m.GridRow.code)).all()
        info["grid_points"] = [g.geom.representative_point() for g in grids]
        # today's street patrol of worker 1: it must stay beside the visits
        p0, p1 = info["points"]
        save_route(s, plan_id=info["plan_id"], worker_id=info["h"]["worker_id"], day=TODAY,
                   stops=[{"kind": "patrol", "ref": info["codes"][0], "lon": p0.x,
                           "lat": p0.y, "eta": 8 * 3600}],
                   path=shapely.LineString([p0, p1]), distance_m=300.0, duration_s=240.0)
    return info


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("routes-data", start_jobs=False) as sv:
        yield add_todays_patrol(sv)


def report(sv, point, category, dx=0.0, dy=0.0) -> int:
    r = sv["client"].post("/incidents", headers=sv["h"]["reporter"],
                          json={"category": category, "lon": point.x + dx,
                                "lat": point.y + dy})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def act(sv, iid, action, role="admin", **body):
    r = sv["client"].post(f"/incidents/{iid}/actions", headers=sv["h"][role],
                          json={"action": action, **body})
    assert r.status_code == 200, r.text
    return r.json()


def accepted(sv, point, category, **offset) -> int:
    iid = report(sv, point, category, **offset)
    act(sv, iid, "accept")
    return iid


def visits(sv, worker_id) -> dict | None:
    routes = sv["client"].get("/routes", headers=sv["h"]["admin"],
                              params={"worker_id": worker_id, "kind": "visits",
                                      "day": TODAY.isoformat()}).json()
    assert len(routes) <= 1
    return routes[0] if routes else None


def incident_refs(route) -> list[str]:
    return [s["ref"] for s in route["stops"] if s["kind"] == "incident"]


def check_times(route) -> None:
    """Stops numbered from 0 (the start) in visiting order, each reached after the one before
    was left, all after the start, the walk back included in the duration."""
    stops = route["stops"]
    assert [s["seq"] for s in stops] == list(range(len(stops)))
    assert stops[0]["kind"] == "start" and stops[0]["eta"] >= NINE.isoformat()
    start = datetime.fromisoformat(stops[0]["eta"])
    left = start
    for s in stops[1:]:
        eta, leave = datetime.fromisoformat(s["eta"]), datetime.fromisoformat(s["leave"])
        assert eta > left and leave - eta == timedelta(seconds=s["service_s"])
        left = leave
    assert start + timedelta(seconds=route["duration_s"]) > left


def path_of(sv, route) -> shapely.LineString:
    body = sv["client"].get(f"/routes/{route['id']}", headers=sv["h"]["admin"]).json()
    assert body["kind"] == "visits"
    return shape(body["features"][0]["geometry"])


def test_dispatched_incidents_join_the_workers_route_and_leave_it(sv):
    c, h = sv["client"], sv["h"]
    w1, w2 = h["worker_id"], h["worker2_id"]
    g = sv["grid_points"]
    # the first incident, dispatched by the Dispatcher to its grid's worker
    a = accepted(sv, g[1], "environment")
    body = act(sv, a, "dispatch")
    assert body["incident"]["worker_id"] == w1
    placed = body["route"]
    assert placed["seq"] == 1 and placed["error"] is None and placed["stops"] == 1
    assert datetime.fromisoformat(placed["eta"]) > NINE
    route = visits(sv, w1)
    assert route["id"] == placed["route_id"] and route["day"] == TODAY.isoformat()
    assert incident_refs(route) == [str(a)] and route["distance_m"] > 0
    check_times(route)
    stop = route["stops"][1]
    assert datetime.fromisoformat(stop["eta"]) == datetime.fromisoformat(placed["eta"])
    line = path_of(sv, route)
    assert line.distance(shapely.Point(stop["lon"], stop["lat"])) < 0.0008  # about 80 m
    one_stop_m = route["distance_m"]
    # a second one, by hand: both in the route, times in order, a longer walk
    b = accepted(sv, g[0], "neighbour_dispute", dx=0.0004)
    assert act(sv, b, "dispatch", worker_id=w1)["route"]["stops"] == 2
    route = visits(sv, w1)
    assert sorted(incident_refs(route)) == sorted([str(a), str(b)])
    assert route["distance_m"] > one_stop_m
    check_times(route)
    # an urgent one due in 50 minutes goes first although it came last
    u = accepted(sv, g[2], "public_order")
    with sv["app"].state.db.writing() as s:
        # stored in UTC as the service stores times (SQLite keeps no offset)
        s.get(m.IncidentRow, u).close_by = (NINE + timedelta(minutes=50)).astimezone(UTC)
    assert act(sv, u, "dispatch", worker_id=w1)["route"]["seq"] == 1
    route = visits(sv, w1)
    assert incident_refs(route)[0] == str(u) and len(incident_refs(route)) == 3
    check_times(route)
    # handled: its stop leaves the route, the others are re-numbered
    act(sv, u, "start", role="worker")
    assert str(u) in incident_refs(visits(sv, w1))  # being handled: still the worker's
    act(sv, u, "handle", role="worker", note="已处置")
    route = visits(sv, w1)
    assert sorted(incident_refs(route)) == sorted([str(a), str(b)])
    check_times(route)
    # returned: gone as well; the worker's own view of the route agrees
    act(sv, b, "return", role="worker", note="不归我管")
    mine = c.get("/routes", headers=h["worker"], params={"kind": "visits"}).json()
    assert [incident_refs(r) for r in mine] == [[str(a)]]
    # the worker goes off duty: the incident moves to the other worker's route
    try:
        r = c.post(f"/workers/{w1}/off-duty", headers=h["admin"])
        assert r.status_code == 200, r.text
        assert [x["incident_id"] for x in r.json()["redispatched"]] == [a]
        assert r.json()["redispatched"][0]["route"]["seq"] == 1
        assert visits(sv, w1) is None
        route = visits(sv, w2)
        assert incident_refs(route) == [str(a)]
        check_times(route)
    finally:
        c.patch(f"/workers/{w1}", headers=h["admin"], json={"on_duty": True})
    # closed (verified then closed after handling): w2's route is deleted
    act(sv, a, "start", role="worker2")
    act(sv, a, "handle", role="worker2")
    assert visits(sv, w2) is None
    act(sv, a, "verify")
    act(sv, a, "close")
    # the street patrol of the day stayed as it was throughout
    patrols = c.get("/routes", headers=h["admin"],
                    params={"worker_id": w1, "kind": "patrol",
                            "day": TODAY.isoformat()}).json()
    assert len(patrols) == 1 and patrols[0]["distance_m"] == 300.0


def test_route_survives_a_routing_failure_and_shows_on_the_map(sv):
    """A worker with neither a base nor a grid cannot be routed: the dispatch stands, the
    answer says why. The map of a worker with visits and a patrol draws both."""
    c, h = sv["client"], sv["h"]
    r = c.post("/workers", headers=h["admin"], json={"name": "赵六"})
    assert r.status_code == 201
    nobody = r.json()["id"]
    iid = accepted(sv, sv["grid_points"][1], "parking", dy=0.0003)
    body = act(sv, iid, "dispatch", worker_id=nobody)
    assert body["incident"]["worker_id"] == nobody and body["incident"]["status"] == \
        "dispatched"
    assert body["route"]["route_id"] is None and body["route"]["error"]["en"]
    assert visits(sv, nobody) is None
    # returned and dispatched to worker 2, it is routed there
    act(sv, iid, "return")
    act(sv, iid, "dispatch", worker_id=h["worker2_id"])
    assert incident_refs(visits(sv, h["worker2_id"])) == [str(iid)]
    # dispatched on to worker 1 straight away: it moves from one route to the other
    act(sv, iid, "dispatch", worker_id=h["worker_id"])
    assert incident_refs(visits(sv, h["worker_id"])) == [str(iid)]
    assert visits(sv, h["worker2_id"]) is None
    # a route lost (as on a new day, yesterday's incidents still open): the next dispatch
    # routes every incident the worker holds, not only the new one
    with sv["app"].state.db.writing() as s:
        s.delete(s.get(m.RouteRow, visits(sv, h["worker_id"])["id"]))
    other = accepted(sv, sv["grid_points"][0], "parking", dx=-0.0004)
    assert act(sv, other, "dispatch", worker_id=h["worker_id"])["route"]["stops"] == 2
    assert sorted(incident_refs(visits(sv, h["worker_id"]))) == sorted([str(iid), str(other)])
    page = c.get(f"/maps/routes/{h['worker_id']}", headers=h["worker"])
    if page.status_code == 503:
        pytest.skip(f"map assets not gathered: {page.json()['message']['en']}")
    assert page.status_code == 200
    assert "出发 start" in page.text and f"#{iid}" in page.text
    assert "巡查" in page.text  # the patrol layer beside the visits


def test_shift_hours_days_off_and_work_days_decide_who_is_dispatched(sv):
    c, h = sv["client"], sv["h"]
    w1, w2 = h["worker_id"], h["worker2_id"]
    point = sv["grid_points"][1]
    path = f"/workers/{w1}"

    # one category per case: a report near an open one of the same category would join it
    categories = iter(["stray_animals", "noise", "public_facilities", "environment",
                       "neighbour_dispute", "parking"])

    def dispatched_to() -> tuple[int, str]:
        iid = accepted(sv, point, next(categories), dx=0.0006)
        body = act(sv, iid, "dispatch")
        act(sv, iid, "return")  # keep the loads even between the cases
        return body["incident"]["worker_id"], body["reason"]

    assert dispatched_to()[0] == w1
    weekday = TODAY.isoweekday()
    cases = [({"shift_start": "13:00", "shift_end": "17:00"}, "shift starts later"),
             ({"shift_start": "06:00", "shift_end": "09:00"}, "shift ended"),
             ({"days_off": [TODAY.isoformat(), "2026-10-01"]}, "day off"),
             ({"work_days": [d for d in range(1, 8) if d != weekday]}, "not a work day")]
    clear = {"shift_start": None, "shift_end": None, "days_off": None, "work_days": None}
    for hours, why in cases:
        r = c.patch(path, headers=h["admin"], json=hours)
        assert r.status_code == 200, r.text
        assert r.json()["available_now"] is False, why
        try:
            worker, reason = dispatched_to()
        finally:
            c.patch(path, headers=h["admin"], json=clear)
        assert worker == w2 and "off duty" in reason, why
    r = c.patch(path, headers=h["admin"], json={"shift_start": "08:30", "shift_end": "17:30",
                                               "work_days": [weekday], "days_off": []})
    assert r.json()["available_now"] is True and r.json()["work_days"] == [weekday]
    assert r.json()["shift_start"] == "08:30" and r.json()["days_off"] == []
    try:
        assert dispatched_to()[0] == w1
    finally:
        c.patch(path, headers=h["admin"], json=clear)


def test_hours_are_checked_with_bilingual_messages(sv):
    c, h = sv["client"], sv["h"]
    path = f"/workers/{h['worker2_id']}"
    for body, code, words in (
            ({"shift_start": "18:00", "shift_end": "09:00"}, "bad_hours", "after"),
            ({"shift_start": "08:00"}, "bad_hours", "both"),
            ({"shift_start": "25:00", "shift_end": "26:00"}, "invalid_request", "shift_start"),
            ({"work_days": [0, 8]}, "invalid_request", "work_days"),
            ({"work_days": []}, "bad_hours", "off duty"),
            ({"days_off": ["tomorrow"]}, "invalid_request", "days_off")):
        r = c.patch(path, headers=h["admin"], json=body)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
        assert words in r.json()["message"]["en"] and r.json()["message"]["zh"], body
    # a half-given shift is judged with what is stored: setting the end alone is fine then
    assert c.patch(path, headers=h["admin"], json={"shift_start": "08:00",
                                                   "shift_end": "12:00"}).status_code == 200
    r = c.patch(path, headers=h["admin"], json={"shift_end": "18:00"})
    assert r.status_code == 200 and r.json()["shift_start"] == "08:00"
    r = c.post("/workers", headers=h["admin"], json={"name": "钱七", "shift_start": "09:00",
                                                     "shift_end": "08:00"})
    assert r.status_code == 422 and "下班" in r.json()["message"]["zh"]
    c.patch(path, headers=h["admin"], json={"shift_start": None, "shift_end": None})


def test_worker_csv_import_with_hours(sv):
    c, h = sv["client"], sv["h"]
    rows = ("name,employee_no,start,end,work_days,days_off\n"
            "孙八,W-H1,08:00,17:00,1;2;3;4;5,2026-10-01;2026-10-02\n"
            "周九,W-H2,,,,\n")
    r = c.post("/workers/import", headers=h["admin"],
               files={"file": ("w.csv", io.BytesIO(rows.encode()), "text/csv")})
    assert r.status_code == 200, r.text
    first, second = (c.get(f"/workers/{i}", headers=h["admin"]).json()
                     for i in r.json()["ids"])
    assert (first["shift_start"], first["shift_end"]) == ("08:00", "17:00")
    assert first["work_days"] == [1, 2, 3, 4, 5]
    assert first["days_off"] == ["2026-10-01", "2026-10-02"]
    assert second["shift_start"] is None and second["work_days"] is None
    bad = "name,employee_no,shift_start,shift_end\n吴十,W-H3,17:00,08:00\n"
    r = c.post("/workers/import", headers=h["admin"],
               files={"file": ("w.csv", io.BytesIO(bad.encode()), "text/csv")})
    assert r.status_code == 422 and r.json()["row"] == 2
    assert "CSV row 2" in r.json()["message"]["en"]


def test_routes_on_postgis(postgis_url, open_service):
    """The same on PostgreSQL + PostGIS: two dispatches in one route, one closed out."""
    with open_service("routes-postgis", start_jobs=False, database_url=postgis_url) as pg:
        add_todays_patrol(pg)
        client = pg["client"]
        w1 = pg["h"]["worker_id"]
        g = pg["grid_points"]
        a = accepted(pg, g[1], "environment")
        b = accepted(pg, g[0], "noise", dx=0.0004)
        assert act(pg, a, "dispatch")["incident"]["worker_id"] == w1
        assert act(pg, b, "dispatch", worker_id=w1)["route"]["stops"] == 2
        route = visits(pg, w1)
        assert sorted(incident_refs(route)) == sorted([str(a), str(b)])
        check_times(route)
        act(pg, a, "return")
        assert incident_refs(visits(pg, w1)) == [str(b)]
        assert len(client.get("/routes", headers=pg["h"]["admin"],
                              params={"worker_id": w1}).json()) == 3  # + 2 patrols
        # six dispatches to one worker at once: each waits for the route in turn, none
        # is lost (the worker's row is locked while the route changes)
        cats = ["environment", "noise", "parking", "stray_animals", "public_facilities",
                "neighbour_dispute"]
        many = [accepted(pg, g[i % 4], cat, dy=0.0005) for i, cat in enumerate(cats)]
        with ThreadPoolExecutor(len(many)) as pool:
            answers = list(pool.map(lambda i: client.post(
                f"/incidents/{i}/actions", headers=pg["h"]["admin"],
                json={"action": "dispatch", "worker_id": w1}), many))
        assert [a.status_code for a in answers] == [200] * len(many), \
            [a.text for a in answers]
        route = visits(pg, w1)
        assert sorted(incident_refs(route)) == sorted(str(i) for i in [b, *many])
        check_times(route)


@pytest.fixture(params=["sqlite", "postgis"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    yield request.getfixturevalue("postgis_url")


def test_migration_0003_keeps_routes_and_workers(store_url):
    """A store at 0002 with a worker and a route: after 0003 the route is a patrol, the
    worker has no hours (available round the clock), and a visit route fits beside it."""
    db = Database(store_url)
    try:
        upgrade(db.engine, "0002")
        now = datetime(2026, 11, 21, 8, tzinfo=UTC)
        with db.writing() as s:
            s.execute(text("INSERT INTO workers (name, on_duty, created_at, updated_at) "
                           "VALUES ('老员工', :t, :n, :n)"), {"t": True, "n": now})
            wid = s.execute(text("SELECT id FROM workers")).scalar_one()
            s.execute(text("INSERT INTO datasets (name, filename, path, size_bytes, options, "
                           "summary, created_at) VALUES ('d', 'd.osm', 'd.osm', 1, '{}', "
                           "'{}', :n)"), {"n": now})
            s.execute(text("INSERT INTO plans (dataset_id, name, status, target_households, "
                           "seed, locked, summary, created_at) SELECT id, 'p', 'active', 300, "
                           "0, '[]', '{}', :n FROM datasets"), {"n": now})
            pid = s.execute(text("SELECT id FROM plans")).scalar_one()
            s.execute(text("INSERT INTO routes (plan_id, worker_id, day, stops, distance_m, "
                           "duration_s, created_at) VALUES (:p, :w, :d, '[]', 1234.5, 900, "
                           ":n)"), {"p": pid, "w": wid, "d": date(2026, 11, 21), "n": now})
        db.upgrade()
        columns = {c["name"] for c in inspect(db.engine).get_columns("workers")}
        assert {"shift_start", "shift_end", "work_days", "days_off"} <= columns
        with db.writing() as s:
            route = s.query(m.RouteRow).one()
            assert (route.kind, route.distance_m) == ("patrol", 1234.5)
            worker = s.get(m.WorkerRow, wid)
            assert worker.shift_start is None and worker.days_off is None
            from api.services.worker_hours import available

            assert available(worker, now)
            save_route(s, plan_id=pid, worker_id=wid, day=date(2026, 11, 21), kind="visits",
                       stops=[{"kind": "incident", "ref": "1", "lon": 118.78, "lat": 32.04}],
                       path=None, distance_m=0, duration_s=0)
        with db.writing() as s:
            assert sorted(r.kind for r in s.query(m.RouteRow)) == ["patrol", "visits"]
        with pytest.raises(Exception, match=r"(?i)unique"), db.writing() as s:
            s.add(m.RouteRow(plan_id=pid, worker_id=wid, day=date(2026, 11, 21), kind="visits",
                          stops=[], distance_m=0, duration_s=0))
    finally:
        db.dispose()
