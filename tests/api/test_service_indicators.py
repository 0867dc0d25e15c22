"""Work indicators (issue #17): a seeded month of incidents whose figures are computed by
hand here, per grid, worker and community, by month, week and day; JSON, CSV and the Excel
workbook; who may see what (SQLite, and the same month on PostGIS)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from sqlalchemy import select

from api.store import incidents as store
from api.store import models as m
from dispatch.incidents.lifecycle import add_note, new_incident, reopen, transition
from dispatch.incidents.rules import BEIJING, load_rules

RULES = load_rules()
NOV = {"period": "month", "start": "2026-11-01", "end": "2026-11-30"}
FAR = datetime(2099, 1, 1, tzinfo=BEIJING)


def bj(day: int, hour: float, month: int = 11) -> datetime:
    """A Beijing time in November 2026 (or ``month``)."""
    return datetime(2026, month, day, tzinfo=BEIJING) + timedelta(hours=hour)


def _incident(s, plan_id, code, point, reported, accept_by, close_by, *, accepted=None,
              closed=None, stage=None, reopen_at=None, closed_again=None, escalate=None,
              ratings=()):
    """An incident taken through the lifecycle at the given times and stored as the service
    stores it (its row and its steps); ``ratings``: (rating, fixed) feedback rows."""
    inc = new_incident("new", "noise", point.x, point.y, reported, "居民", RULES)
    inc.accept_by, inc.close_by = accept_by, close_by
    if accepted is not None:
        transition(inc, "accepted", "admin", at=accepted)
    if stage == "rejected":
        transition(inc, "rejected", "admin", at=accepted + timedelta(minutes=5))
    if stage == "in_progress" or closed is not None:
        transition(inc, "dispatched", "admin", at=accepted + timedelta(seconds=1), assignee=1)
        transition(inc, "in_progress", "w", at=accepted + timedelta(seconds=2))
    if escalate is not None:
        add_note(inc, "escalate", "system", "超期", escalate)
        inc.escalated_to = "网格长"
    if closed is not None:
        for k, stage_ in enumerate(("handled", "verified", "closed")):
            transition(inc, stage_, "admin", at=closed - timedelta(seconds=2 - k))
    if reopen_at is not None:
        reopen(inc, "居民", "没修好", reopen_at)
        if closed_again is not None:
            for k, stage_ in enumerate(("in_progress", "handled", "verified", "closed")):
                transition(inc, stage_, "admin", at=closed_again - timedelta(seconds=3 - k))
    inc.grid_id = code
    row = m.IncidentRow(category="noise", description="", reporter_name="居民", plan_id=plan_id,
                        grid_code=code, created_at=reported.astimezone(UTC))
    row.set_geometry(shapely.Point(point.x, point.y))
    store.copy_state(row, inc)
    s.add(row)
    s.flush()
    inc.incident_id = str(row.id)
    store.save_domain(s, row, inc, None, stored=0)
    closing = max(st.seq for st in s.scalars(select(m.IncidentStepRow).where(
        m.IncidentStepRow.incident_id == row.id))) if ratings else 0
    for k, (rating, fixed) in enumerate(ratings):
        s.add(m.FeedbackRow(incident_id=row.id, closed_seq=closing + k, rating=rating,
                            fixed=fixed, comment="", channel="app", reopened=False))
    return row


def seed_november(app, plan_id: int, codes: list[str]) -> dict[str, str]:
    """Ten incidents in November 2026 (and one on 31 October) in three grids: A (worker 1),
    C (worker 2) and D (nobody's). Returns the grid codes by letter."""
    grid = {"A": codes[0], "C": codes[-2], "D": codes[-1]}
    with app.state.db.writing() as s:
        geoms = {g.code: g.geom.representative_point() for g in s.scalars(
            select(m.GridRow).where(m.GridRow.plan_id == plan_id))}

        def add(letter, reported, accept_h, close_h, **kw):
            return _incident(s, plan_id, grid[letter], geoms[grid[letter]], reported,
                             reported + timedelta(hours=accept_h),
                             close_h if isinstance(close_h, datetime)
                             else reported + timedelta(hours=close_h), **kw)

        # grid A
        a1 = bj(2, 7)  # 07:00 Beijing on Monday 2 Nov = 23:00 UTC on Sunday 1 Nov
        add("A", a1, 2, 72, accepted=a1 + timedelta(hours=1), closed=a1 + timedelta(hours=24),
            ratings=[("satisfied", True), ("basic", True)])
        a2 = bj(3, 9)
        add("A", a2, 2, 72, accepted=a2 + timedelta(hours=3), closed=a2 + timedelta(hours=96),
            ratings=[("unsatisfied", True)])
        a3 = bj(10, 8)
        add("A", a3, 2, 72, accepted=a3 + timedelta(hours=0.5), stage="in_progress")
        add("A", bj(20, 10), 2, 72)  # never accepted
        a5 = bj(25, 10)
        add("A", a5, 2, 72, accepted=a5 + timedelta(hours=1), closed=a5 + timedelta(hours=24),
            reopen_at=a5 + timedelta(hours=30), closed_again=a5 + timedelta(hours=48),
            ratings=[("unsatisfied", False), ("satisfied", True)])
        a6 = bj(12, 10)
        add("A", a6, 2, 72, accepted=a6 + timedelta(hours=0.5), stage="rejected")
        # grid C
        c1 = bj(5, 10)
        add("C", c1, 2, 72, accepted=c1 + timedelta(hours=0.25),
            closed=c1 + timedelta(hours=10), ratings=[("satisfied", True)])
        c2 = bj(6, 10)
        add("C", c2, 2, FAR, accepted=c2 + timedelta(hours=4), closed=c2 + timedelta(hours=8),
            escalate=c2 + timedelta(hours=5), reopen_at=c2 + timedelta(hours=20),
            ratings=[("unsatisfied", False)])
        add("C", bj(31, 23, month=10), 2, 72)  # 31 October: another month
        add("C", bj(30, 23.5), 2, 72)  # 23:30 on 30 November: still November in Beijing
        # grid D
        d1 = bj(15, 9)
        add("D", d1, 2, 72, accepted=d1 + timedelta(hours=2), closed=d1 + timedelta(hours=30))
        # household visits done: two in A by worker 1, one in C late on 30 November (Beijing),
        # one in C on 31 October
        worker = s.scalar(select(m.AssignmentRow.worker_id).join(
            m.GridRow, m.GridRow.id == m.AssignmentRow.grid_id).where(
            m.GridRow.plan_id == plan_id, m.GridRow.code == grid["A"]))
        for letter, at in (("A", bj(10, 9)), ("A", bj(11, 15)), ("C", bj(30, 23.8)),
                           ("C", bj(31, 12, month=10))):
            s.add(m.VisitDoneRow(plan_id=plan_id, building_id="b1", grid_code=grid[letter],
                                 done_at=at.astimezone(UTC), source="worker",
                                 worker_id=worker if letter == "A" else None))
    return grid


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("indicators-data", start_jobs=False) as sv:
        sv["grid"] = seed_november(sv["app"], sv["plan_id"], sv["codes"])
        yield sv


# Computed by hand from the seeded incidents above.
EXPECTED_A = {
    "received": 6, "accepted": 5, "accepted_on_time": 4, "accept_overdue": 1,
    "accept_on_time_rate": 4 / 6, "closed": 3, "closed_on_time": 2, "open_overdue": 2,
    "on_time_rate": 2 / 5,
    "accept_h_median": 1.0, "accept_h_p90": 2.2,  # [0.5, 0.5, 1, 1, 3]
    "close_h_median": 48.0, "close_h_p90": 86.4,  # [24, 48, 96]
    "reopened": 1, "closed_ever": 3, "reopened_share": 1 / 3, "escalated": 0,
    "ratings": 5, "satisfied": 2, "basic": 1, "unsatisfied": 2, "satisfaction_rate": 3 / 5}
EXPECTED_C = {
    "received": 3, "accepted": 2, "accepted_on_time": 1, "accept_overdue": 1,
    "accept_on_time_rate": 1 / 3, "closed": 1, "closed_on_time": 1, "open_overdue": 1,
    "on_time_rate": 1 / 2,
    "accept_h_median": 2.125, "accept_h_p90": 3.625,  # [0.25, 4]
    "close_h_median": 10.0, "close_h_p90": 10.0,
    "reopened": 1, "closed_ever": 2, "reopened_share": 1 / 2, "escalated": 1,
    "ratings": 2, "satisfied": 1, "basic": 0, "unsatisfied": 1, "satisfaction_rate": 1 / 2}
EXPECTED_D = {
    "received": 1, "accepted": 1, "accepted_on_time": 1, "accept_overdue": 0,
    "accept_on_time_rate": 1.0, "closed": 1, "closed_on_time": 1, "open_overdue": 0,
    "on_time_rate": 1.0, "accept_h_median": 2.0, "accept_h_p90": 2.0,
    "close_h_median": 30.0, "close_h_p90": 30.0, "reopened": 0, "closed_ever": 1,
    "reopened_share": 0.0, "escalated": 0, "ratings": 0, "satisfied": 0, "basic": 0,
    "unsatisfied": 0, "satisfaction_rate": None}


def check_row(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        if value is None or isinstance(value, int):
            assert row[key] == value, (key, row[key], value)
        else:
            assert row[key] == pytest.approx(value, abs=1e-6), (key, row[key], value)


def get(sv, role="admin", **params):
    return sv["client"].get("/indicators", headers=sv["h"][role], params=params)


def test_grid_indicators_of_a_month_match_the_hand_computed_figures(sv):
    r = get(sv, level="grid", **NOV)
    assert r.status_code == 200, r.text
    out = r.json()
    rows = {row["key"]: row for row in out["rows"]}
    grid = sv["grid"]
    assert set(rows) == {grid["A"], grid["C"], grid["D"]}
    assert {row["period"] for row in out["rows"]} == {"2026-11-01"}
    check_row(rows[grid["A"]], EXPECTED_A)
    check_row(rows[grid["C"]], EXPECTED_C)
    check_row(rows[grid["D"]], EXPECTED_D)
    visits = {k: rows[grid[k]]["visits_done"] for k in "ACD"}
    assert visits == {"A": 2, "C": 1, "D": 0}
    # every figure comes with its definition
    keys = {d["key"] for d in out["definitions"]}
    assert {"on_time_rate", "satisfaction_rate", "close_h_p90", "received"} <= keys
    on_time = next(d for d in out["definitions"] if d["key"] == "on_time_rate")
    assert "超期未结" in on_time["formula_zh"] and "overdue" in on_time["formula_en"]
    assert out["start"] == "2026-11-01" and out["end"] == "2026-11-30"


def _sum(*rows: dict) -> dict:
    counts = [k for k, v in EXPECTED_A.items() if isinstance(v, int)]
    return {k: sum(r[k] for r in rows) for k in counts}


def test_worker_and_community_levels_group_the_same_incidents(sv):
    grid = sv["grid"]
    rows = {row["key"]: row for row in get(sv, level="worker", **NOV).json()["rows"]}
    h = sv["h"]
    assert set(rows) == {str(h["worker_id"]), str(h["worker2_id"]), None}
    check_row(rows[str(h["worker_id"])], EXPECTED_A)
    check_row(rows[str(h["worker2_id"])], EXPECTED_C)
    check_row(rows[None], EXPECTED_D)
    assert rows[str(h["worker_id"])]["name"]  # the worker's name for the office
    with sv["app"].state.db.read_session() as s:
        community = {g.code: g.community for g in s.scalars(
            select(m.GridRow).where(m.GridRow.plan_id == sv["plan_id"]))}
    by_community: dict = {}
    for letter, expected in (("A", EXPECTED_A), ("C", EXPECTED_C), ("D", EXPECTED_D)):
        by_community.setdefault(community[grid[letter]], []).append(expected)
    rows = {row["key"]: row for row in get(sv, level="community", **NOV).json()["rows"]}
    assert set(rows) == set(by_community)
    for name, parts in by_community.items():
        check_row(rows[name], _sum(*parts))


def test_weeks_and_days_are_beijing_time(sv):
    grid = sv["grid"]
    rows = get(sv, level="grid", period="week", start="2026-10-26",
               end="2026-11-30").json()["rows"]
    weeks = {(r["key"], r["period"]): r["received"] for r in rows}
    # a1 (07:00 Monday 2 Nov in Beijing, Sunday in UTC) and a2 share the week of 2 November
    assert weeks[(grid["A"], "2026-11-02")] == 2
    assert weeks[(grid["C"], "2026-10-26")] == 1  # 31 October, a Saturday
    assert weeks[(grid["C"], "2026-11-30")] == 1  # 23:30 on Monday 30 November
    assert sum(weeks.values()) == 11
    days = {(r["key"], r["period"]): r for r in get(
        sv, level="grid", period="day", start="2026-11-01", end="2026-11-30").json()["rows"]}
    assert (grid["A"], "2026-11-01") not in days
    assert days[(grid["A"], "2026-11-02")]["close_h_median"] == pytest.approx(24.0)
    assert days[(grid["C"], "2026-11-30")]["accept_overdue"] == 1
    custom = get(sv, level="grid", period="custom", start="2026-11-02",
                 end="2026-11-05").json()["rows"]
    assert {(r["key"], r["received"]) for r in custom} == {(grid["A"], 2), (grid["C"], 1)}
    assert {r["period"] for r in custom} == {"2026-11-02"}


def test_csv_and_the_excel_workbook(sv):
    from openpyxl import load_workbook

    grid = sv["grid"]
    r = get(sv, level="grid", format="csv", **NOV)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    a = next(row for row in table if row["key"] == grid["A"])
    assert a["received"] == "6" and float(a["on_time_rate"]) == pytest.approx(0.4)
    assert next(row for row in table if row["key"] == grid["D"])["satisfaction_rate"] == ""
    r = get(sv, level="worker", format="xlsx", **NOV)
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    assert "indicators-worker-month-2026-11-01-2026-11-30.xlsx" in \
        r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content))
    figures, defs = book["指标 indicators"], book["定义 definitions"]
    header_zh = [c.value for c in figures[2]]
    header_en = [c.value for c in figures[3]]
    assert "按期办结率" in header_zh and "on-time rate" in header_en
    col = header_en.index("on-time rate")
    worker1 = next(row for row in figures.iter_rows(min_row=4, values_only=True)
                   if row[0] == str(sv["h"]["worker_id"]))
    assert worker1[col] == pytest.approx(0.4)
    assert any(row[0] == "satisfaction_rate" and "满意" in row[1]
               for row in defs.iter_rows(min_row=2, values_only=True))


def test_roles(sv):
    grid, h = sv["grid"], sv["h"]
    assert get(sv, "planner", level="community", **NOV).status_code == 200
    assert get(sv, "reporter", level="grid", **NOV).status_code == 403
    assert sv["client"].get("/indicators", params=NOV).status_code == 401
    # a worker: their own grids and their own row only
    rows = get(sv, "worker", level="grid", **NOV).json()["rows"]
    assert [r["key"] for r in rows] == [grid["A"]]
    rows = get(sv, "worker", level="worker", **NOV).json()["rows"]
    assert [r["key"] for r in rows] == [str(h["worker_id"])]
    check_row(rows[0], EXPECTED_A)
    r = get(sv, "worker", level="community", **NOV)
    assert r.status_code == 403 and "网格员" in r.json()["message"]["zh"]
    assert sv["client"].get("/indicators/definitions", headers=h["reporter"]).status_code == 403
    assert sv["client"].get("/indicators/definitions", headers=h["worker"]).status_code == 200


def test_levels_not_configured_and_bad_periods(sv):
    r = get(sv, level="street", **NOV)
    assert r.status_code == 422 and r.json()["code"] == "level_not_configured"
    assert "街道" in r.json()["message"]["zh"] and "street" in r.json()["message"]["en"]
    r = get(sv, level="grid", period="day", start="2026-01-01", end="2026-12-31")
    assert r.status_code == 422 and "92" in r.json()["message"]["en"]
    assert get(sv, level="grid", period="month", start="2026-11-30",
               end="2026-11-01").status_code == 422
    assert get(sv, level="grid", period="month", start="2026-11-01").status_code == 422
    assert get(sv, level="grid", period="year").status_code == 422


def test_the_same_month_on_postgis(postgis_url, open_service):
    """The same statements on PostgreSQL + PostGIS: percentile_cont, Beijing weeks, joins."""
    with open_service("indicators-postgis", start_jobs=False, database_url=postgis_url) as pg:
        pg["grid"] = seed_november(pg["app"], pg["plan_id"], pg["codes"])
        grid, h = pg["grid"], pg["h"]
        rows = {row["key"]: row for row in get(pg, level="grid", **NOV).json()["rows"]}
        check_row(rows[grid["A"]], EXPECTED_A)
        check_row(rows[grid["C"]], EXPECTED_C)
        check_row(rows[grid["D"]], EXPECTED_D)
        rows = {row["key"]: row for row in get(pg, level="worker", **NOV).json()["rows"]}
        check_row(rows[str(h["worker_id"])], EXPECTED_A)
        weeks = {(r["key"], r["period"]): r["received"] for r in get(
            pg, level="grid", period="week", start="2026-10-26", end="2026-11-30"
        ).json()["rows"]}
        assert weeks[(grid["A"], "2026-11-02")] == 2 and weeks[(grid["C"], "2026-10-26")] == 1
        assert weeks[(grid["C"], "2026-11-30")] == 1
        rows = get(pg, "worker", level="grid", **NOV).json()["rows"]
        assert [r["key"] for r in rows] == [grid["A"]]


def test_street_and_district_levels_and_a_street_office_token(sv):
    """With the administrative levels recorded: grid A's community in street 001, the other
    grids' in street 002 (or all in 001 when they share A's community)."""
    from api.auth import issue_token

    grid, app = sv["grid"], sv["app"]
    with app.state.db.writing() as s:
        community = {g.code: g.community for g in s.scalars(
            select(m.GridRow).where(m.GridRow.plan_id == sv["plan_id"]))}
        district = m.DistrictRow(code="320106", name="鼓楼区")
        s.add(district)
        s.flush()
        streets = [m.StreetRow(district_id=district.id, code=c, full_code=f"320106{c}",
                               name=f"街道{c}") for c in ("001", "002")]
        s.add_all(streets)
        s.flush()
        first = community[grid["A"]]
        for code in sorted({c for c in community.values() if c}):
            s.add(m.CommunityRow(code=code, name=f"社区{code[-3:]}",
                                 street_id=streets[0 if code == first else 1].id))
        _, secret = issue_token(s, "admin", "街道001", street_id=streets[0].id)
    by_street: dict = {}
    for letter, expected in (("A", EXPECTED_A), ("C", EXPECTED_C), ("D", EXPECTED_D)):
        street = "320106001" if community[grid[letter]] == first else "320106002"
        by_street.setdefault(street, []).append(expected)
    rows = {r["key"]: r for r in get(sv, level="street", **NOV).json()["rows"]}
    assert set(rows) == set(by_street)
    for street, parts in by_street.items():
        check_row(rows[street], _sum(*parts))
        assert rows[street]["name"] == f"街道{street[-3:]}"
    rows = get(sv, level="district", **NOV).json()["rows"]
    assert [r["key"] for r in rows] == ["320106"] and rows[0]["name"] == "鼓楼区"
    check_row(rows[0], _sum(EXPECTED_A, EXPECTED_C, EXPECTED_D))
    # the street office of 001 sees only its street's incidents
    office = {"Authorization": f"Bearer {secret}"}
    r = sv["client"].get("/indicators", headers=office, params={"level": "grid", **NOV})
    seen = {row["key"] for row in r.json()["rows"]}
    assert grid["A"] in seen and all(community[k] == first for k in seen)
