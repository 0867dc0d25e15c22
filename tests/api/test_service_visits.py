"""Household visits in the service: the class import (sensitive; bad input refused whole),
who sees which classes and calendars, the calendar job's results, visits done feeding the
next calendar (a missed visit re-scheduled by its due date), today's route with what is done
kept first; on the synthetic district (SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

import api.routers.visits
import api.services.visits
from api.jobs.visits import run_visit_calendar
from api.services.visits import next_monday, record_visit_done
from api.store import models as m
from api.store.visits import visited_first
from dispatch.incidents.rules import BEIJING, beijing


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("visits-data", start_jobs=False) as sv:
        db = sv["app"].state.db
        with db.writing() as s:
            rows = s.execute(select(m.PlanBuildingRow.building_id, m.PlanBuildingRow.grid_code,
                                    m.PlanBuildingRow.households)
                             .where(m.PlanBuildingRow.plan_id == sv["plan_id"],
                                    m.PlanBuildingRow.residential.is_(True),
                                    m.PlanBuildingRow.households > 0)
                             .order_by(m.PlanBuildingRow.building_id)).all()
            for wid in (sv["h"]["worker_id"], sv["h"]["worker2_id"]):
                s.get(m.WorkerRow, wid).work_days = [1, 2, 3, 4, 5, 6, 7]
        sv["homes"] = rows
        yield sv


def homes_of(sv, worker):
    """Residential buildings of the grids held by ``worker`` (stock: the first half of the
    grids are worker's, the rest but the last worker2's)."""
    half = len(sv["codes"]) // 2
    mine = set(sv["codes"][:half]) if worker == "worker" else set(sv["codes"][half:-1])
    return [r for r in sv["homes"] if r.grid_code in mine]


def class_csv(sv) -> str:
    lines = ["building_id,visit_class,households,last_visit"]
    last = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    for worker in ("worker", "worker2"):
        for i, r in enumerate(homes_of(sv, worker)[:6]):
            lines.append(f"{r.building_id},重点人员,1,{last}")
            if r.households > 2 and i % 2 == 0:
                lines.append(f"{r.building_id},elderly_alone,2,")
    return "\n".join(lines) + "\n"


def upload(sv, role, text, name="classes.csv"):
    return sv["client"].post(f"/plans/{sv['plan_id']}/visit-classes/import",
                             headers=sv["h"][role],
                             files={"file": (name, text.encode("utf-8"), "text/csv")})


def test_class_import_is_admin_only_and_bad_files_write_nothing(sv):
    text = class_csv(sv)
    assert upload(sv, "planner", text).status_code == 403
    assert upload(sv, "worker", text).status_code == 403
    r = upload(sv, "admin", text)
    assert r.status_code == 200, r.text
    assert r.json()["households"]["key_person"] == 12
    before = sv["client"].get("/visit-classes", headers=sv["h"]["admin"]).json()["rows"]
    bad = text + "nowhere,migrant,3,\n"
    r = upload(sv, "admin", bad)
    assert r.status_code == 422
    body = r.json()
    assert "nowhere" in body["message"]["en"] and "不是本方案的住宅楼栋" in body["message"]["zh"]
    r = upload(sv, "admin", text.replace("重点人员,1", "重点人员,-4", 1))
    assert r.status_code == 422 and "row 2" in r.json()["message"]["en"]
    after = sv["client"].get("/visit-classes", headers=sv["h"]["admin"]).json()["rows"]
    assert after == before  # nothing half-written


def test_who_sees_which_classes(sv):
    upload(sv, "admin", class_csv(sv))
    c, h = sv["client"], sv["h"]
    admin = c.get("/visit-classes", headers=h["admin"]).json()
    assert len(admin["rows"]) == 18
    mine = c.get("/visit-classes", headers=h["worker"]).json()
    codes = {r.grid_code for r in homes_of(sv, "worker")}
    assert mine["rows"] and {r["grid_code"] for r in mine["rows"]} <= codes
    theirs = c.get("/visit-classes", headers=h["worker2"]).json()
    assert not {r["building_id"] for r in theirs["rows"]} & {r["building_id"]
                                                              for r in mine["rows"]}
    planner = c.get("/visit-classes", headers=h["planner"]).json()
    assert planner["rows"] is None
    assert sum(x["households"] for x in planner["counts"]
               if x["visit_class"] == "key_person") == 12
    assert "building_id" not in str(planner)
    assert c.get("/visit-classes", headers=h["reporter"]).status_code == 403
    # a grid leader (网格长) of the community sees its grids' rows
    db = sv["app"].state.db
    with db.writing() as s:
        grid = s.scalar(select(m.GridRow).where(m.GridRow.plan_id == sv["plan_id"],
                                                 m.GridRow.code == sv["codes"][0]))
        s.add(m.AssignmentRow(plan_id=sv["plan_id"], grid_id=grid.id,
                              worker_id=h["worker2_id"], role="leader"))
    try:
        led = c.get("/visit-classes", headers=h["worker2"]).json()
        assert {r["building_id"] for r in mine["rows"]} <= {r["building_id"]
                                                             for r in led["rows"]}
    finally:
        with db.writing() as s:
            for row in s.scalars(select(m.AssignmentRow).where(m.AssignmentRow.role == "leader")):
                s.delete(row)


def calendar(sv, start, weeks=3, band_pct=None):
    """The calendars from ``start``; without the daily band's search unless ``band_pct``
    (these instances' first days are far outside any band: the search takes its time)."""
    db, settings = sv["app"].state.db, sv["app"].state.settings
    return run_visit_calendar(db, settings, None, {"plan_id": sv["plan_id"],
                                                   "start": start.isoformat(), "weeks": weeks,
                                                   "budget_s": 0.3, "party": True,
                                                   "band_pct": band_pct})


def test_calendars_cover_every_due_visit_and_roles_see_their_part(sv):
    upload(sv, "admin", class_csv(sv))
    db = sv["app"].state.db
    with db.writing() as s:  # the stocked party member gets a zone of homes
        member = s.scalars(select(m.PartyMemberRow)).first()
        member.building_ids = [r.building_id for r in homes_of(sv, "worker")[:4]]
        member.households = 12
        member_id = member.id
    start = beijing(datetime.now(UTC)).date()
    result = calendar(sv, start, band_pct=15.0)
    people = {(c["person_kind"], c["person_id"]): c for c in result["calendars"]}
    w1 = people["worker", sv["h"]["worker_id"]]
    assert w1["due"] > 0 and w1["scheduled_pct"] == 100.0
    assert people["party", member_id]["weekly_shortfall"] == 0
    # the daily band: asked for workers (15%); outside it, what the input forces is proven
    assert w1["band_pct"] == 15.0 and people["party", member_id]["band_pct"] is None
    if w1["max_day_deviation_pct"] > 15.0:
        assert w1["forced_pct"] is not None
        assert w1["forced_pct"] <= w1["max_day_deviation_pct"]
        assert w1["band_forced"] == (w1["forced_pct"] >= 15.0)
        # proven by the relaxation (the band model not run) or by the band model; else the
        # band model ran and settled nothing
        assert w1["exact_band"] in ((None, "proven") if w1["band_forced"] else ("open",))
    else:
        assert w1["forced_pct"] is None and not w1["band_forced"]
        assert w1["exact_band"] in (None, "found")
    c, h = sv["client"], sv["h"]
    own = c.get("/visit-calendar", params={"worker_id": h["worker_id"]},
                headers=h["worker"]).json()
    assert own["visits"] and all(v["day"] <= v["due"] or v["early"] for v in own["visits"])
    key = [v for v in own["visits"] if v["visit_class"] == "key_person"]
    assert key and min(v["day"] for v in key) <= (start + timedelta(days=4)).isoformat()
    assert c.get("/visit-calendar", params={"worker_id": h["worker_id"]},
                 headers=h["worker2"]).status_code == 403
    planner = c.get("/visit-calendar", params={"worker_id": h["worker_id"]},
                    headers=h["planner"]).json()
    assert planner["visits"] is None and planner["days"]
    assert c.get("/visit-calendar", params={"worker_id": h["worker_id"]},
                 headers=h["reporter"]).status_code == 403
    party = c.get("/visit-calendar", params={"party_member_id": member_id},
                  headers=h["admin"]).json()
    assert sum(d["households"] for d in party["days"][:7]) >= 5
    assert c.get("/visit-calendar", params={"party_member_id": member_id},
                 headers=h["worker"]).status_code == 403


def workday_morning() -> datetime:
    """10:00 in Beijing of the latest Monday-to-Friday day up to today: "today" for a test
    of today's route, which is empty on a weekend or once the day is over."""
    day = beijing(datetime.now(UTC)).date()
    while day.isoweekday() > 5:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, tzinfo=BEIJING).astimezone(UTC)


def test_visits_done_feed_the_next_calendar_and_todays_route(sv, monkeypatch):
    fixed = workday_morning()

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed.astimezone(tz) if tz else fixed.replace(tzinfo=None)

    for module in (api.routers.visits, api.services.visits):
        monkeypatch.setattr(module, "datetime", Frozen)
    upload(sv, "admin", class_csv(sv))
    c, h = sv["client"], sv["h"]
    start = beijing(fixed).date()
    calendar(sv, start)
    route = c.get("/visit-calendar/route", params={"worker_id": h["worker_id"]},
                  headers=h["worker"])
    assert route.status_code == 200, route.text
    stops = route.json()["stops"]
    assert stops and not any(s["done"] for s in stops)
    # the worker visits the second stop first; a building of another worker's grid is refused
    first = stops[1]["ref"] if len(stops) > 1 else stops[0]["ref"]
    r = c.post("/visits/done", headers=h["worker"], json={"building_id": first})
    assert r.status_code == 201, r.text
    other = homes_of(sv, "worker2")[0].building_id
    assert c.post("/visits/done", headers=h["worker"],
                  json={"building_id": other}).status_code == 403
    assert c.post("/visits/done", headers=h["planner"],
                  json={"building_id": first}).status_code == 403
    # a visit added mid-day: the route is re-planned, the done stop stays first
    extra = homes_of(sv, "worker")[-1].building_id
    r = c.post("/visit-calendar/route/add", headers=h["worker"],
               json={"worker_id": h["worker_id"], "building_id": extra, "households": 2})
    assert r.status_code == 200, r.text
    new = r.json()["stops"]
    assert new[0]["ref"] == first and new[0]["done"]
    assert extra in [s["ref"] for s in new]
    assert c.post("/visit-calendar/route/add", headers=h["worker2"],
                  json={"worker_id": h["worker_id"], "building_id": extra}).status_code == 403
    # the done visit moved the building's last visit to today
    classes = c.get("/visit-classes", headers=h["admin"]).json()["rows"]
    today = start.isoformat()
    assert all(x["last_visit"] == today for x in classes if x["building_id"] == first)
    # the party zone map shades buildings by the days since their last visit
    page = c.get("/maps/party-zones", headers=h["admin"])
    assert page.status_code == 200, page.text[:300]
    assert "距上次走访" in page.text and "#1a9850" in page.text  # visited today: green
    assert "#757575" in page.text  # homes never visited: grey


def test_a_missed_visit_is_rescheduled_by_its_due_date(sv):
    upload(sv, "admin", class_csv(sv))
    c, h = sv["client"], sv["h"]
    start = next_monday(datetime.now(UTC)) + timedelta(days=7)
    calendar(sv, start)
    first = c.get("/visit-calendar", params={"worker_id": h["worker_id"]},
                  headers=h["admin"]).json()["visits"]
    week1 = [v for v in first if v["day"] < (start + timedelta(days=3)).isoformat()]
    assert week1
    done = week1[0]
    record_visit_done_at = datetime.fromisoformat(done["day"]).replace(hour=10)
    db = sv["app"].state.db
    with db.writing() as s:  # the first is done (found in the worker's GPS track), the rest missed
        record_visit_done(s, building_id=done["building_id"], done_at=record_visit_done_at,
                          source="track", worker_id=h["worker_id"],
                          visit_class=done["visit_class"])
    later = start + timedelta(days=3)
    calendar(sv, later)
    second = c.get("/visit-calendar", params={"worker_id": h["worker_id"],
                                              "first": later.isoformat()},
                   headers=h["admin"]).json()["visits"]
    missed_key = [v for v in week1[1:] if v["visit_class"] == "key_person"]
    assert missed_key
    for missed in missed_key:
        again = [v for v in second if v["building_id"] == missed["building_id"]
                 and v["visit_class"] == missed["visit_class"]]
        assert again, missed
        due = max(missed["due"], later.isoformat())
        assert min(v["day"] for v in again) <= due, (missed, again)
    with db.writing() as s, pytest.raises(ValueError, match="source"):
        record_visit_done(s, building_id=done["building_id"], done_at=record_visit_done_at,
                          source="gps")


def test_a_weekly_re_plan_follows_the_stored_calendar_and_the_worked_days(sv):
    """A calendar computed a week after another starts from the stored one and measures its
    band with the days worked since it began (dispatch.schedule: ``previous``,
    ``past_loads``); a first calendar has neither."""
    upload(sv, "admin", class_csv(sv))
    first_start = next_monday(datetime.now(UTC)) + timedelta(days=70)  # nothing stored near
    wid = sv["h"]["worker_id"]

    def worker_summary(result):
        return next(c for c in result["calendars"]
                    if c["person_kind"] == "worker" and c["person_id"] == wid)

    first = worker_summary(calendar(sv, first_start))
    assert first["past_days"] == 0
    week_later = first_start + timedelta(days=7)
    again = worker_summary(calendar(sv, week_later))
    # every day of the week worked (the fixture's workers work all seven days)
    assert again["past_days"] == 7
    assert again["scheduled_pct"] == 100.0
    visits = sv["client"].get("/visit-calendar", params={"worker_id": wid,
                                                         "first": first_start.isoformat()},
                              headers=sv["h"]["admin"]).json()["visits"]
    assert any(v["day"] < week_later.isoformat() for v in visits)  # the worked week stays


def test_a_buildings_households_split_by_last_visit_are_stored_shown_and_planned_apart(sv):
    """Two rows of ordinary households of one building (last visited 10 and 200 days ago):
    both stored and shown to whom may see the building's classes (planners: their sum), the
    trips of the batch visited 200 days ago due in the calendar and none of the other's; a
    visit done there moves the older batch's last visit only."""
    c, h = sv["client"], sv["h"]
    big = max(homes_of(sv, "worker"), key=lambda r: r.households)
    assert big.households >= 9
    n = big.households // 3
    today = beijing(datetime.now(UTC)).date()
    recent, old = today - timedelta(days=10), today - timedelta(days=200)
    text = (f"building_id,visit_class,households,last_visit\n"
            f"{big.building_id},ordinary,{n},{recent.isoformat()}\n"
            f"{big.building_id},一般户,{n},{old.isoformat()}\n")
    r = upload(sv, "admin", text)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 2 and r.json()["households"] == {"ordinary": 2 * n}
    rows = c.get("/visit-classes", headers=h["admin"]).json()["rows"]
    assert sorted((x["households"], x["last_visit"]) for x in rows) == [
        (n, old.isoformat()), (n, recent.isoformat())]
    assert len(c.get("/visit-classes", headers=h["worker"]).json()["rows"]) == 2
    assert c.get("/visit-classes", headers=h["worker2"]).json()["rows"] == []
    planner = c.get("/visit-classes", headers=h["planner"]).json()
    assert planner["rows"] is None and planner["counts"] == [
        {"grid_code": big.grid_code, "visit_class": "ordinary", "households": 2 * n}]
    # the same building, class and day twice: refused, nothing written
    twice = text + f"{big.building_id},ordinary,1,{old.isoformat()}\n"
    r = upload(sv, "admin", twice)
    assert r.status_code == 422 and "row 4" in r.json()["message"]["en"]
    assert len(c.get("/visit-classes", headers=h["admin"]).json()["rows"]) == 2
    calendar(sv, today)
    with sv["app"].state.db.writing() as s:
        planned = [(v.group_id, v.households) for v in s.scalars(select(m.ScheduledVisitRow)
            .where(m.ScheduledVisitRow.person_id == h["worker_id"],
                   m.ScheduledVisitRow.person_kind == "worker",
                   m.ScheduledVisitRow.building_id == big.building_id,
                   m.ScheduledVisitRow.visit_class == "ordinary",
                   m.ScheduledVisitRow.early.is_(False)))]
    trips = -(-n // 3)  # 3 ordinary households a trip: the recent batch's first, by the file
    chunk = {int(g.rsplit("/", 1)[1]): k for g, k in planned}
    assert set(range(trips, 2 * trips)) <= set(chunk)  # the old batch: due, planned
    assert not set(range(trips)) & set(chunk)  # the recent one: not due
    assert sum(chunk[k] for k in range(trips, 2 * trips)) == n
    with sv["app"].state.db.writing() as s:
        record_visit_done(s, building_id=big.building_id, done_at=datetime.now(UTC),
                          source="admin", visit_class="ordinary", plan_id=sv["plan_id"])
    rows = c.get("/visit-classes", headers=h["admin"]).json()["rows"]
    assert sorted(x["last_visit"] for x in rows) == [recent.isoformat(), today.isoformat()]


def test_a_visit_done_counts_for_the_batch_visited_longest_ago_once():
    """api.store.visits.visited_first: the unknown batch first, then the oldest; a second
    record of the same day (worker and track) moves nothing; a back-dated record moves the
    oldest batch that is older than it."""
    day = date(2026, 12, 7)
    assert visited_first([date(2026, 10, 1), date(2026, 8, 15), None], day) == 2
    assert visited_first([date(2026, 10, 1), date(2026, 8, 15)], day) == 1
    assert visited_first([date(2026, 10, 1), day], day) is None
    assert visited_first([date(2026, 10, 1), date(2026, 8, 15)], date(2026, 9, 1)) == 1
    assert visited_first([date(2026, 12, 9)], day) is None
    assert visited_first([], day) is None


def test_a_visit_done_naming_its_visit_group_moves_that_batch(sv):
    """Two batches of a building's ordinary households (last visited 10 and 200 days ago,
    the recent one first in the file: trips 0.. are its): a visit recorded with the group
    of the recent batch's first trip moves that batch, not the older one (which the old form,
    no group, moves); a trip of the households no row names moves no stored row, and the
    next calendar's class table gives them the visit. Only the building's grid worker and
    admins may record it; a group of another building or class is refused in zh/en; the
    form without a group works as before."""
    c, h = sv["client"], sv["h"]
    big = max(homes_of(sv, "worker"), key=lambda r: r.households)
    n = big.households // 3
    today = beijing(datetime.now(UTC)).date()
    recent, old = today - timedelta(days=10), today - timedelta(days=200)
    r = upload(sv, "admin", f"building_id,visit_class,households,last_visit\n"
                            f"{big.building_id},ordinary,{n},{recent.isoformat()}\n"
                            f"{big.building_id},ordinary,{n},{old.isoformat()}\n")
    assert r.status_code == 200, r.text

    def lasts():
        return [x["last_visit"] for x in sorted(
            c.get("/visit-classes", headers=h["admin"]).json()["rows"],
            key=lambda x: x["last_visit"], reverse=True)]

    group = f"{big.building_id}/ordinary/0"
    for role in ("worker2", "planner"):  # not the building's worker: refused, nothing moves
        assert c.post("/visits/done", headers=h[role],
                      json={"building_id": big.building_id, "group_id": group}
                      ).status_code == 403
    for bad, zh in ((f"{homes_of(sv, 'worker')[0].building_id}/ordinary/0", "不是楼栋"),
                    (f"{big.building_id}/ordinary", "不是楼栋"),
                    (f"{big.building_id}/elderly_alone/0", "类别不是")):
        r = c.post("/visits/done", headers=h["worker"],
                   json={"building_id": big.building_id, "group_id": bad,
                         "visit_class": "ordinary" if "elderly" in bad else None})
        assert r.status_code == 422, (bad, r.text)
        assert zh in r.json()["message"]["zh"] and "visit group" in r.json()["message"]["en"]
    assert lasts() == [recent.isoformat(), old.isoformat()]
    r = c.post("/visits/done", headers=h["worker"],
               json={"building_id": big.building_id, "group_id": group})
    assert r.status_code == 201, r.text
    assert r.json()["group_id"] == group and r.json()["visit_class"] == "ordinary"
    assert lasts() == [today.isoformat(), old.isoformat()]  # the recent batch, named
    # the same from a matched track: nothing more moves (the batch already has the day)
    with sv["app"].state.db.writing() as s:
        record_visit_done(s, building_id=big.building_id, done_at=datetime.now(UTC),
                          source="track", group_id=group, plan_id=sv["plan_id"])
    assert lasts() == [today.isoformat(), old.isoformat()]
    # a trip of the households no row names: no stored row moves; the class table (what
    # the next calendar plans from) gives them the visit
    trips = -(-n // 3)
    rest = f"{big.building_id}/ordinary/{2 * trips}"
    r = c.post("/visits/done", headers=h["admin"],
               json={"building_id": big.building_id, "group_id": rest})
    assert r.status_code == 201, r.text
    assert lasts() == [today.isoformat(), old.isoformat()]
    with sv["app"].state.db.read_session() as s:
        table = api.services.visits._class_table(
            s, sv["plan_id"], api.services.visits._places(s, sv["plan_id"]))
    mine = table[(table["building_id"] == big.building_id)
                 & (table["visit_class"] == "ordinary")]
    assert list(mine["households"]) == [n, n, big.households - 2 * n]
    assert list(mine["last_visit"]) == [today, old, today]
    # the old form (a day before: the same day twice counts once): the batch visited
    # longest ago
    before = datetime.now(UTC) - timedelta(days=1)
    r = c.post("/visits/done", headers=h["worker"],
               json={"building_id": big.building_id, "done_at": before.isoformat()})
    assert r.status_code == 201 and r.json()["group_id"] is None
    assert lasts() == [today.isoformat(), beijing(before).date().isoformat()]
