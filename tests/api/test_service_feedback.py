"""Residents' feedback on closed incidents (issue #17 part 1): the one-time code given at
reporting (POST /incidents and Open311), ratings with it and without a token, 'not fixed'
within 7 days reopening the incident with its history, a worker recording a rating on a
resident's behalf (their own grids only, channel recorded), and the roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from api.schemas import FeedbackIn
from api.services import feedback
from api.store import models as m
from dispatch.incidents.rules import load_rules


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("feedback-data", start_jobs=False) as sv:
        yield sv


def report(sv, point, role="reporter", category="environment", **extra):
    r = sv["client"].post("/incidents", headers=sv["h"][role],
                          json={"category": category, "lon": point[0], "lat": point[1],
                                **extra})
    assert r.status_code == 201, r.text
    return r.json()


def act(sv, iid, role, action, **body):
    r = sv["client"].post(f"/incidents/{iid}/actions", headers=sv["h"][role],
                          json={"action": action, **body})
    assert r.status_code == 200, (action, r.text)
    return r.json()


def close(sv, iid, *, first=True):
    if first:
        act(sv, iid, "admin", "accept")
        act(sv, iid, "admin", "dispatch", worker_id=sv["h"]["worker_id"])
    act(sv, iid, "worker", "start")
    act(sv, iid, "worker", "handle", note="已处理")
    act(sv, iid, "admin", "verify")
    return act(sv, iid, "admin", "close")


def rate(sv, iid, headers=None, **body):
    return sv["client"].post(f"/incidents/{iid}/feedback", headers=headers or {}, json=body)


def test_a_code_rates_each_closing_once_and_not_fixed_reopens(sv):
    c, h = sv["client"], sv["h"]
    p0 = sv["points"][0]
    first = report(sv, (p0.x, p0.y))
    code = first["feedback_code"]
    assert code and len(code) == 10 and code.isalnum()
    iid = first["id"]
    # a second report of the same thing is merged, with its own code
    second = report(sv, (p0.x + 0.0001, p0.y))
    assert second["id"] == iid and second["merged"] and second["feedback_code"] != code
    # the code is shown once: not in the incident, and only its hash is stored
    assert c.get(f"/incidents/{iid}", headers=h["admin"]).json().get("feedback_code") is None
    with sv["app"].state.db.read_session() as s:
        stored = [r.code_sha256 for r in s.scalars(select(m.FeedbackCodeRow).where(
            m.FeedbackCodeRow.incident_id == iid))]
    assert len(stored) == 2 and code not in stored and all(len(x) == 64 for x in stored)
    # not before closing
    r = rate(sv, iid, code=code, rating="satisfied")
    assert r.status_code == 409 and r.json()["code"] == "not_closed"
    close(sv, iid)
    # a wrong code, or another incident's, is refused alike
    other = report(sv, (sv["points"][1].x, sv["points"][1].y), category="noise")
    for bad in ("ABCDEFGHJK", other["feedback_code"]):
        r = rate(sv, iid, code=bad, rating="satisfied")
        assert r.status_code == 403 and r.json()["code"] == "bad_feedback_code"
    # satisfied-ish, fixed: recorded, nothing reopened; the same code once per closing
    r = rate(sv, iid, code=code.lower(), rating="basic", comment="还行")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["reopened"] is False and out["status"] == "closed" and out["channel"] == "app"
    assert out["on_behalf_of_resident"] is False and "基本满意" in out["note_zh"]
    r = rate(sv, iid, code=code, rating="satisfied")
    assert r.status_code == 409 and r.json()["code"] == "already_rated"
    # the other reporter: not fixed, within 7 days -> reopened with its history
    r = rate(sv, iid, code=second["feedback_code"], rating="unsatisfied", fixed=False,
             comment="垃圾又堆上了")
    assert r.status_code == 201 and r.json()["reopened"] is True
    assert r.json()["status"] == "returned"
    steps = c.get(f"/incidents/{iid}/history", headers=h["admin"]).json()
    assert [s["action"] for s in steps][-2:] == ["closed", "reopen"]
    assert "垃圾又堆上了" in steps[-1]["note"] and steps[-1]["assignee"] == str(h["worker_id"])
    with sv["app"].state.db.read_session() as s:
        row = s.get(m.IncidentRow, iid)
        assert row.reopened == 1 and row.closed_at is None and row.accepted_at is not None
    # no rating while it is open again; the worker resumes it and it is closed again
    assert rate(sv, iid, code=code, rating="satisfied").status_code == 409
    close(sv, iid, first=False)
    # a new closing: the first code may rate again
    r = rate(sv, iid, code=code, rating="satisfied")
    assert r.status_code == 201 and r.json()["reopened"] is False
    with sv["app"].state.db.read_session() as s:
        ratings = [(f.rating, f.fixed, f.reopened) for f in s.scalars(
            select(m.FeedbackRow).where(m.FeedbackRow.incident_id == iid)
            .order_by(m.FeedbackRow.id))]
        assert s.get(m.IncidentRow, iid).closed_at is not None
    assert ratings == [("basic", True, False), ("unsatisfied", False, True),
                       ("satisfied", True, False)]


def test_a_worker_records_a_rating_on_a_residents_behalf(sv):
    h = sv["h"]
    p0 = sv["points"][0]  # in a grid of worker 1
    inc = report(sv, (p0.x - 0.0003, p0.y), role="worker", category="stray_animals",
                 channel="door_visit")
    iid = inc["id"]
    close(sv, iid)
    # without code and without token: 401; a reporter or planner token: 403
    r = rate(sv, iid, rating="satisfied")
    assert r.status_code == 401 and "评价码" in r.json()["message"]["zh"]
    assert rate(sv, iid, h["reporter"], rating="satisfied").status_code == 403
    assert rate(sv, iid, h["planner"], rating="satisfied").status_code == 403
    # another grid's worker may not; a bad channel is named
    r = rate(sv, iid, h["worker2"], rating="satisfied")
    assert r.status_code == 403 and "本人网格" in r.json()["message"]["zh"]
    r = rate(sv, iid, h["worker"], rating="satisfied", channel="pigeon")
    assert r.status_code == 422 and "pigeon" in r.json()["message"]["en"]
    r = rate(sv, iid, h["worker"], rating="satisfied", channel="door_visit", comment="老人口述")
    assert r.status_code == 201, r.text
    assert r.json()["on_behalf_of_resident"] and r.json()["channel"] == "door_visit"
    r = rate(sv, iid, h["admin"], rating="unsatisfied")
    assert r.status_code == 201 and r.json()["channel"] == "on_behalf"
    with sv["app"].state.db.read_session() as s:
        rows = list(s.scalars(select(m.FeedbackRow).where(m.FeedbackRow.incident_id == iid)
                              .order_by(m.FeedbackRow.id)))
    assert [(f.channel, f.worker_id, f.code_id) for f in rows] == [
        ("door_visit", h["worker_id"], None), ("on_behalf", None, None)]
    # a missing incident
    assert rate(sv, 999999, h["admin"], rating="basic").status_code == 404


def test_not_fixed_after_seven_days_is_recorded_without_reopening(sv):
    p1 = sv["points"][1]
    inc = report(sv, (p1.x + 0.0004, p1.y), category="public_facilities")
    iid = inc["id"]
    closed_at = None
    close(sv, iid)
    rules = load_rules()
    with sv["app"].state.db.write_session() as s:
        closed_at = s.get(m.IncidentRow, iid).closed_at
        from api.store.incidents import aware
        late = aware(closed_at) + timedelta(days=7, minutes=1)
        out = feedback.give(s, rules, None, iid,
                            FeedbackIn(rating="unsatisfied", fixed=False,
                                       code=inc["feedback_code"]), now=late)
    assert out.reopened is False and out.status == "closed" and "7 days" in out.note_en
    assert "7 天" in out.note_zh


def test_open311_gives_the_code_and_takes_the_rating(sv):
    c, h = sv["client"], sv["h"]
    key = h["reporter"]["Authorization"].split()[1]
    p1 = sv["points"][1]
    r = c.post("/open311/v2/requests.json",
               data={"api_key": key, "service_code": "noise", "lat": str(p1.y + 0.0007),
                     "long": str(p1.x)})
    assert r.status_code == 201, r.text
    created = r.json()[0]
    code, iid = created["feedback_code"], int(created["service_request_id"])
    assert code and set(created) == {"service_request_id", "service_notice", "account_id",
                                     "feedback_code"}
    close(sv, iid)
    url = f"/open311/v2/requests/{iid}/feedback.json"
    r = c.post(url, data={"feedback_code": code, "rating": "great"})
    assert r.status_code == 400 and r.json()["field"] == "rating"
    assert c.post(url, data={"rating": "basic"}).status_code == 400
    r = c.post(url, data={"feedback_code": code, "rating": "unsatisfied", "fixed": "false"})
    assert r.status_code == 201, r.text
    assert r.json()["reopened"] and r.json()["channel"] == "open311"
    # the standard record is unchanged: open again, no extension field
    record = c.get(f"/open311/v2/requests/{iid}.json", headers=h["admin"]).json()[0]
    assert record["status"] == "open" and "feedback_code" not in record


def test_the_ratings_reach_the_indicators(sv):
    """This month's ratings per grid, as recorded by the tests above."""
    r = sv["client"].get("/indicators", headers=sv["h"]["admin"], params={"level": "grid"})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    with sv["app"].state.db.read_session() as s:
        given = list(s.scalars(select(m.FeedbackRow)))
    assert sum(row["ratings"] for row in rows) == len(given) >= 7
    assert sum(row["satisfied"] for row in rows) == sum(f.rating == "satisfied" for f in given)
    assert sum(row["reopened"] for row in rows) == 2


def test_feedback_and_reopening_on_postgis(postgis_url, open_service):
    with open_service("feedback-postgis", start_jobs=False, database_url=postgis_url) as pg:
        p0 = pg["points"][0]
        inc = report(pg, (p0.x, p0.y))
        close(pg, inc["id"])
        r = rate(pg, inc["id"], code=inc["feedback_code"], rating="unsatisfied", fixed=False)
        assert r.status_code == 201 and r.json()["reopened"], r.text
        assert rate(pg, inc["id"], code=inc["feedback_code"],
                    rating="basic").json()["code"] == "not_closed"
        rows = pg["client"].get("/indicators", headers=pg["h"]["admin"],
                                params={"level": "worker"}).json()["rows"]
        mine = next(row for row in rows if row["key"] == str(pg["h"]["worker_id"]))
        assert (mine["ratings"], mine["unsatisfied"], mine["reopened"]) == (1, 1, 1)
        assert mine["satisfaction_rate"] == 0.0
