"""Fast intake (api.services.intake): reports written as a set per batch store and answer what
the report-by-report path (api.services.incidents.take_report, Open311's and the posters')
stores; keys, duplicates and refusals within one batch; the grid lookup in memory places
points as the Dispatcher does. On SQLite, and the batch on PostGIS."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import func, select

from api.auth import Principal
from api.errors import ApiError
from api.idempotency import model_hash, request_hash
from api.schemas import IncidentIn
from api.services.incidents import take_report
from api.services.intake import Answer, Report, write_reports
from api.store import incidents as store
from api.store import models as m
from dispatch.incidents.dispatcher import locate_grid
from dispatch.incidents.lifecycle import merge_report

# the columns a new incident's row gets from its report (not its id, point or times)
SAME = ("category", "description", "status", "plan_id", "grid_code", "worker_id",
        "reporter_token_id", "reporter_name", "reporter_phone", "escalated_to", "channel",
        "organisation_id", "accepted_at", "closed_at", "reopened")


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("intake-data", start_jobs=False) as sv:
        yield sv


def _principal(app, role: str) -> Principal:
    with app.state.db.read_session() as s:
        token = s.scalar(select(m.TokenRow).where(m.TokenRow.role == role))
        return Principal(token.id, token.role, token.name)


def _item(app, who: Principal, lon: float, lat: float, key: str | None,
          category: str = "noise", description: str = "") -> Report:
    body = IncidentIn(category=category, lon=lon, lat=lat, description=description)
    return Report(who, app.state.incident_rules, app.state.grid_locator, category, "app",
                  lon, lat, description, who.name, None, key, request_hash(body.model_dump()),
                  "/incidents")


def _ensure_state(sv) -> None:
    """The rules and the grid locator the first report puts in the app's state."""
    p = sv["points"][1]
    sv["client"].post("/incidents", headers=sv["h"]["reporter"],
                      json={"category": "parking", "lon": p.x, "lat": p.y - 0.0003})


def _row_and_steps(app, incident_id: int):
    with app.state.db.read_session() as s:
        row = s.get(m.IncidentRow, incident_id)
        steps = list(s.scalars(select(m.IncidentStepRow).where(
            m.IncidentStepRow.incident_id == incident_id).order_by(m.IncidentStepRow.seq)))
        s.expunge_all()
    return row, steps


def test_a_report_stores_and_answers_what_take_report_does(sv):
    """POST /incidents (the batch) and take_report (report by report) make the same row and
    first step; the answer is the incident as GET shows it, with the one-time code, and is
    what the key's row stores."""
    app, c, h = sv["app"], sv["client"], sv["h"]
    p = sv["points"][0]
    r = c.post("/incidents", headers={**h["reporter"], "Idempotency-Key": "same-1"},
               json={"category": "environment", "lon": p.x, "lat": p.y + 0.0004,
                     "description": "垃圾 bags", "reporter_phone": "13800000000"})
    assert r.status_code == 201, r.text
    fast = r.json()
    assert fast["feedback_code"] and not fast["merged"]
    shown = c.get(f"/incidents/{fast['id']}", headers=h["admin"]).json()
    assert {**fast, "feedback_code": None} == shown
    who = _principal(app, "reporter")
    with app.state.db.writing() as s:
        slow, merged = take_report(s, who, app.state.incident_rules, app.state.grid_locator,
                                   category="environment", lon=p.x - 0.0004, lat=p.y,
                                   description="垃圾 bags", reporter=who.name,
                                   phone="13800000000")
        slow_id = slow.id
    assert not merged
    a, a_steps = _row_and_steps(app, fast["id"])
    b, b_steps = _row_and_steps(app, slow_id)
    assert {k: getattr(a, k) for k in SAME} == {k: getattr(b, k) for k in SAME}
    for row in (a, b):
        assert (row.minx, row.miny, row.maxx, row.maxy) == (row.geom.x, row.geom.y) * 2
        assert row.accept_by > row.created_at and row.close_by > row.accept_by
    for deadline in ("accept_by", "close_by"):  # the same rules from the time reported
        assert abs((getattr(a, deadline) - a.created_at)
                   - (getattr(b, deadline) - b.created_at)) < timedelta(seconds=1)
    assert [{k: v for k, v in r.items() if k != "at"} for r in a.reporters] == \
        [{k: v for k, v in r.items() if k != "at"} for r in b.reporters]
    assert [(x.seq, x.stage, x.action, x.who, x.note, x.assignee, x.token_id)
            for x in a_steps] == [(x.seq, x.stage, x.action, x.who, x.note, x.assignee,
                                   x.token_id) for x in b_steps]
    with app.state.db.read_session() as s:
        key = s.scalar(select(m.IdempotencyKeyRow).where(m.IdempotencyKeyRow.key == "same-1"))
        codes = s.scalar(select(func.count()).select_from(m.FeedbackCodeRow)
                         .where(m.FeedbackCodeRow.incident_id == fast["id"]))
    assert key.response == fast and key.status_code == 201 and codes == 1
    near = c.post("/incidents", headers=h["reporter"],
                  json={"category": "environment", "lon": p.x, "lat": p.y + 0.00041})
    merged = near.json()
    assert merged["merged"] and merged["id"] == fast["id"] and merged["reporters"] == 2
    assert {**merged, "feedback_code": None, "merged": False} == \
        c.get(f"/incidents/{fast['id']}", headers=h["admin"]).json()
    again = c.post("/incidents", headers={**h["reporter"], "Idempotency-Key": "same-1"},
                   json={"category": "environment", "lon": p.x, "lat": p.y + 0.0004,
                         "description": "垃圾 bags", "reporter_phone": "13800000000"})
    assert again.json() == fast and again.headers["idempotent-replayed"] == "true"


def _batch(sv, app) -> tuple[list, int]:
    """One batch of reports (see _check_batch); returns the answers and the id of an
    incident stored before the batch, which two of them join."""
    _ensure_state(sv)
    who, admin = _principal(app, "reporter"), _principal(app, "admin")
    p = sv["points"][1]
    lon, lat = p.x + 0.0002, p.y + 0.0002
    earlier = sv["client"].post("/incidents", headers=sv["h"]["admin"], json={
        "category": "parking", "lon": lon, "lat": lat - 0.0001}).json()["id"]
    items = [_item(app, who, lon, lat, "b-1", "stray_animals", "first"),
             _item(app, who, lon, lat, "b-1", "stray_animals", "first"),  # a retry
             _item(app, who, lon, lat, "b-1", "stray_animals", "other body"),
             _item(app, who, 0.0, -89.0, "b-far", "stray_animals"),  # outside every grid
             _item(app, who, lon + 0.00003, lat, "b-2", "stray_animals", "near"),  # 3 m
             _item(app, who, lon, lat, "b-3", "noise", "another category"),
             _item(app, who, lon, lat - 0.0001, "b-4", "parking", "joins the earlier"),
             _item(app, admin, lon, lat - 0.0001, "b-5", "parking", "joins it too")]
    with app.state.db.writing() as s:
        out = write_reports(s, items)
    return out, earlier


def _check_batch(app, out: list, earlier: int) -> None:
    """The answers of _batch's reports, and what is stored: each incident's steps with the
    token of whoever made them, one key row per key written, one feedback code per report
    written, nothing of the refused ones."""
    first, retry, reused, far, near, other, joins, joins_too = out
    assert isinstance(first, Answer) and first.status == 201 and not first.replayed
    assert retry == Answer(201, first.body, replayed=True)
    assert isinstance(reused, ApiError) and reused.code == "idempotency_key_reused"
    assert isinstance(far, ApiError) and far.code == "outside_area"
    assert near.body["id"] == first.body["id"] and near.body["merged"]
    assert near.body["reporters"] == 2
    assert other.body["id"] != first.body["id"] and not other.body["merged"]
    with app.state.db.read_session() as s:
        steps = list(s.scalars(select(m.IncidentStepRow.action).where(
            m.IncidentStepRow.incident_id == first.body["id"]).order_by(m.IncidentStepRow.seq)))
        keys = dict(s.execute(select(m.IdempotencyKeyRow.key, m.IdempotencyKeyRow.response)
                              .where(m.IdempotencyKeyRow.key.like("b-%"))).all())
        codes = s.scalar(select(func.count()).select_from(m.FeedbackCodeRow).where(
            m.FeedbackCodeRow.incident_id.in_([first.body["id"], other.body["id"]])))
        far_rows = s.scalar(select(func.count()).select_from(m.IncidentRow)
                            .where(m.IncidentRow.miny < -80))
        joined = s.execute(select(m.IncidentStepRow.seq, m.IncidentStepRow.action,
                                  m.IncidentStepRow.token_id, m.TokenRow.role)
                           .join(m.TokenRow, m.TokenRow.id == m.IncidentStepRow.token_id)
                           .where(m.IncidentStepRow.incident_id == earlier)
                           .order_by(m.IncidentStepRow.seq)).all()
        reporters = s.get(m.IncidentRow, earlier).reporters
    assert steps == ["report", "merge"]
    assert keys == {"b-1": first.body, "b-2": near.body, "b-3": other.body,
                    "b-4": joins.body, "b-5": joins_too.body}
    assert codes == 3 and far_rows == 0
    assert joins.body["id"] == joins_too.body["id"] == earlier
    assert (joins.body["reporters"], joins_too.body["reporters"]) == (2, 3)
    assert [(seq, action, role) for seq, action, _, role in joined] == [
        (1, "report", "admin"), (2, "merge", "reporter"), (3, "merge", "admin")]
    assert len(reporters) == 3


def test_one_batch_replays_merges_and_refuses_each_report_alone(sv):
    """In one transaction: a retried key is answered from the first, a key reused with
    another body and a point outside every community are refused (nothing written for
    them), a report 3 m from one earlier in the batch joins it, two join a stored one."""
    out, earlier = _batch(sv, sv["app"])
    _check_batch(sv["app"], out, earlier)


def test_concurrent_reports_share_transactions(sv):
    """Reports sent at once are written in fewer transactions than there are reports, and
    each is stored once with the answer given."""
    app, c, h = sv["app"], sv["client"], sv["h"]
    with app.state.db.read_session() as s:
        grids = app.state.grid_locator.active(s)
    rnd = random.Random(3)
    minx, miny, maxx, maxy = grids.bounds
    points = []
    while len(points) < 60:
        x, y = rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)
        if grids.code_at(x, y) is not None:
            points.append((x, y))
    before = app.state.db.batch.transactions
    start = threading.Barrier(12)

    def send(i: int) -> tuple[str, dict]:
        if i < 12:
            start.wait(10)
        key = f"conc-{i}"
        r = c.post("/incidents", headers={**h["reporter"], "Idempotency-Key": key},
                   json={"category": "noise", "lon": points[i][0], "lat": points[i][1]})
        assert r.status_code == 201, r.text
        return key, r.json()

    with ThreadPoolExecutor(12) as pool:
        answers = dict(pool.map(send, range(60)))
    assert app.state.db.batch.transactions - before < 60
    with app.state.db.read_session() as s:
        stored = dict(s.execute(select(m.IdempotencyKeyRow.key, m.IdempotencyKeyRow.response)
                                .where(m.IdempotencyKeyRow.key.like("conc-%"))).all())
    assert stored == answers


def test_the_model_hash_is_the_request_hash():
    """Keys stored before keep matching: the digest of the model's own dump is the one of
    request_hash over its fields."""
    for body in (IncidentIn(category="噪音", lon=118.7, lat=32.05),
                 IncidentIn(category="noise", lon=-0.1, lat=1e-7, description="a\u00e9\u4e2d\n",
                            reporter_name="王", reporter_phone="+86 138", channel="app")):
        assert model_hash(body) == request_hash(body.model_dump())


def test_state_columns_are_the_state_values(sv):
    """A merge writes every column of the row's state (store.UPDATE_STATE)."""
    app = sv["app"]
    incident, _ = merge_report([], "1", "noise", 118.78, 32.04, datetime.now(UTC), "x",
                               app.state.incident_rules)
    assert set(store.STATE_COLUMNS) == set(store.state_values(incident))


def test_grid_lookup_places_points_as_the_dispatcher(sv):
    """The prepared R-tree of api.services.grid_index and dispatch's locate_grid agree,
    inside, outside and on the grids' shared edges and corners (the first grid saved)."""
    app = sv["app"]
    with app.state.db.read_session() as s:
        plan = app.state.grid_locator.active(s)
    frame = gpd.GeoDataFrame({"grid_id": plan.codes}, geometry=list(plan.polygons),
                             crs="EPSG:4326")
    rnd = random.Random(0)
    minx, miny, maxx, maxy = plan.bounds
    points = [(rnd.uniform(minx - 0.001, maxx + 0.001), rnd.uniform(miny - 0.001, maxy + 0.001))
              for _ in range(2000)]
    for polygon in plan.polygons[:20]:  # vertices: on edges shared with neighbours
        points += [tuple(xy) for xy in shapely.get_coordinates(polygon)[:10]]
    for x, y in points:
        expected = locate_grid(frame, x, y)
        assert plan.code_at(x, y) == (None if expected is None else str(expected)), (x, y)


def test_one_batch_on_postgis(postgis_url, open_service):
    """The same batch on PostgreSQL + PostGIS (Core inserts with RETURNING, locked
    candidates)."""
    with open_service("intake-postgis", start_jobs=False, database_url=postgis_url) as pg:
        out, earlier = _batch(pg, pg["app"])
        _check_batch(pg["app"], out, earlier)


def _write_into(db, item: Report, result: list) -> None:
    result.append(db.write(lambda s: write_reports(s, [item])[0]))


def test_a_key_written_by_another_process_meanwhile_on_postgis(postgis_url, open_service):
    """Two service processes write at once on PostgreSQL: a retry whose first attempt is
    being written by the other's transaction waits for it and gets its answer (not a second
    record, nor a failed batch); when that transaction rolls back instead, the retry writes."""
    with open_service("intake-race", start_jobs=False, database_url=postgis_url) as pg:
        app = pg["app"]
        _ensure_state(pg)
        who = _principal(app, "reporter")
        p = pg["points"][0]
        db = app.state.db
        for ending, key in (("commit", "race-1"), ("rollback", "race-2")):
            item = _item(app, who, p.x, p.y - 0.0005, key, "building_safety")
            first = db.write_session()
            (mine,) = write_reports(first, [item])  # written, not committed
            result: list = []
            second = threading.Thread(target=_write_into, args=(db, item, result))
            second.start()
            second.join(1.0)
            assert second.is_alive()  # waiting for the first transaction
            getattr(first, ending)()
            first.close()
            second.join(10)
            (theirs,) = result
            if ending == "commit":
                assert theirs == Answer(201, mine.body, replayed=True)
            else:
                assert theirs.status == 201 and not theirs.replayed
            with db.read_session() as s:
                assert s.scalar(select(func.count()).select_from(m.IncidentRow).where(
                    m.IncidentRow.category == "building_safety",
                    m.IncidentRow.status != "closed")) == 1
            with db.writing() as s:  # the next round starts without an open incident
                s.execute(m.IncidentRow.__table__.update().where(
                    m.IncidentRow.category == "building_safety").values(status="closed"))
