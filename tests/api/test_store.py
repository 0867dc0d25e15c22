"""The store on SQLite and on PostGIS: migrations, geometry, bbox queries, plans written
whole or not at all, idempotency keys unique.

PostGIS tests use WANGGE_TEST_POSTGIS_URL (a server where we may create databases); each
test session gets a database of its own, dropped at the end. They skip when it is unset or
unreachable, and fail instead when WANGGE_REQUIRE_POSTGIS=1.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from api.auth import hash_secret, issue_token
from api.store import models as m
from api.store.db import Database, downgrade
from api.store.spatial import bbox_area_km2, bbox_filter


@pytest.fixture(params=["sqlite", "postgis"])
def db(request, tmp_path):
    """A migrated store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wangge.db'}"
    else:
        url = request.getfixturevalue("postgis_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


TABLES = {"tokens", "datasets", "jobs", "plans", "grids", "plan_buildings", "workers",
          "party_members", "assignments", "routes", "incidents", "idempotency_keys",
          "incident_steps", "tracks", "visit_classes", "scheduled_visits",
          "visits_done", "volunteer_teams", "volunteers", "wishes", "wish_steps"}


def test_migrations_create_every_table_and_go_back(db):
    names = set(inspect(db.engine).get_table_names())
    assert names >= TABLES | {"alembic_version"}
    db.upgrade()  # idempotent
    downgrade(db.engine)
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_sqlite_runs_in_wal_mode(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_postgis_geometry_column_and_gist_index(postgis_url):
    database = Database(postgis_url)
    database.upgrade()
    with database.engine.connect() as conn:
        kind = conn.execute(text(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'grids'")).one()
        assert tuple(kind) == ("GEOMETRY", 4326)
        method = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_grids_geom'")).scalar()
        assert "gist" in method.lower()
    database.dispose()


def test_geometry_round_trip_and_bbox_query(db):
    zone = shapely.Polygon([(118.780, 32.040), (118.782, 32.040), (118.782, 32.042),
                            (118.780, 32.042)])
    far = shapely.Polygon([(119.0, 33.0), (119.1, 33.0), (119.1, 33.1)])
    with db.writing() as s:
        for name, geom in (("near", zone), ("far", far), ("none", None)):
            member = m.PartyMemberRow(name=name)
            member.set_geometry(geom)
            s.add(member)
    with db.read_session() as s:
        near = s.scalar(select(m.PartyMemberRow).where(m.PartyMemberRow.name == "near"))
        assert near.geom.equals_exact(zone, 1e-12)
        assert (near.minx, near.miny, near.maxx, near.maxy) == zone.bounds
        box = (118.781, 32.041, 118.79, 32.05)
        hits = s.scalars(select(m.PartyMemberRow.name).where(
            bbox_filter(m.PartyMemberRow, box, db.dialect))).all()
        assert hits == ["near"]


def test_bbox_area_on_the_sphere():
    # one degree of latitude by one of longitude at the equator: about 111.2 km squared
    assert bbox_area_km2((0, 0, 1, 1)) == pytest.approx(111.19 ** 2, rel=0.01)
    assert bbox_area_km2((0, 60, 1, 61)) < bbox_area_km2((0, 0, 1, 1)) / 1.9


def test_tokens_are_stored_hashed(db):
    with db.writing() as s:
        token, secret = issue_token(s, "planner", "规划科")
    with db.read_session() as s:
        stored = s.get(m.TokenRow, token.id)
        assert stored.secret_sha256 == hash_secret(secret) != secret
        assert secret not in str(stored.__dict__)
    with db.writing() as s, pytest.raises(ValueError, match="worker"):
        issue_token(s, "worker")
    with db.writing() as s, pytest.raises(ValueError, match="unknown role"):
        issue_token(s, "mayor")


def test_times_come_back_as_the_same_aware_utc_moment(db):
    """SQLite keeps no offset: a Beijing evening (UTC the day before) read back naive was taken
    as Beijing time, and the visit calendar anchored on the wrong day after 16:00 UTC."""
    evening = datetime(2026, 12, 5, 0, 49, tzinfo=ZoneInfo("Asia/Shanghai"))
    with db.writing() as s:
        token, _ = issue_token(s, "planner", "规划科")
        token.created_at = evening
    with db.read_session() as s:
        stored = s.get(m.TokenRow, token.id).created_at
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == evening and stored.date().isoformat() == "2026-12-04"


def test_idempotency_key_is_unique_per_token(db):
    with db.writing() as s:
        token, _ = issue_token(s, "reporter")
    row = dict(token_id=token.id, key="k1", method="POST", path="/incidents",
               request_sha256="0" * 64, status_code=201, response={"id": 1})
    with db.writing() as s:
        s.add(m.IdempotencyKeyRow(**row))
    with pytest.raises(IntegrityError), db.writing() as s:
        s.add(m.IdempotencyKeyRow(**row))
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(m.IdempotencyKeyRow)) == 1


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory):
    """A partition plan of a synthetic district of 200 buildings."""
    from gis.study_area import load_study_area
    from partition.plan import make_plan
    from tests.synthetic import write_district_osm

    path = tmp_path_factory.mktemp("district") / "district.osm"
    write_district_osm(path, 200, seed=3)
    area = load_study_area(path, with_walk_graph=False)
    return make_plan(area, 300), area.attribution


def _dataset(s) -> int:
    d = m.DatasetRow(name="d", filename="d.osm", path="d.osm", size_bytes=1)
    s.add(d)
    s.flush()
    return d.id


def test_plan_saved_whole_and_read_back(db, small_plan):
    from api.store.plans import buildings_frame, diff_plans, grids_frame, save_plan

    plan, attribution = small_plan
    with db.writing() as s:
        row = save_plan(s, plan, dataset_id=_dataset(s), name="p", params={"seed": 0},
                        attribution=attribution, job_id=None)
    with db.read_session() as s:
        grids = grids_frame(s, row.id)
        buildings = buildings_frame(s, row.id)
        assert len(grids) == len(plan.grids) and len(buildings) == len(plan.buildings)
        assert grids["households"].sum() == plan.grids["households"].sum()
        # RFC 7946: outer rings counter-clockwise as stored
        assert all(shapely.Polygon(p.exterior).exterior.is_ccw
                   for g in grids.geometry for p in getattr(g, "geoms", [g]))
        # the same plan against itself: nothing moved
        same = diff_plans(s, row.id, row.id)
        assert same["buildings_moved"] == 0 and same["grids_kept"] == len(grids)


def test_failed_plan_write_leaves_nothing(db, small_plan):
    """A failure while writing (here a duplicate building) rolls back plan, grids and all."""
    from api.store.plans import save_plan

    plan, attribution = small_plan
    broken = type(plan)(grids=plan.grids, buildings=plan.buildings.iloc[
        [*range(len(plan.buildings)), 0]], crs=plan.crs, target=plan.target,
        summary=plan.summary)
    with pytest.raises(IntegrityError), db.writing() as s:
        save_plan(s, broken, dataset_id=_dataset(s), name="broken", params={},
                  attribution=attribution, job_id=None)
    with db.read_session() as s:
        for model in (m.PlanRow, m.GridRow, m.PlanBuildingRow, m.DatasetRow):
            assert s.scalar(select(func.count()).select_from(model)) == 0


# ---- a faster intake (issue 21, item 7) -------------------------------------------------------

def test_duplicate_check_uses_its_index(tmp_path):
    from datetime import UTC, datetime

    from sqlalchemy import event

    from api.store import incidents as incident_store

    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    database.upgrade()
    seen = []
    event.listen(database.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, _ctx, _many: seen.append((sql, params)))
    with database.read_session() as s:
        incident_store.duplicate_candidates(s, "noise", 118.78, 32.04, datetime.now(UTC), 30,
                                            24)
    sql, params = next((q, p) for q, p in seen if "FROM incidents" in q)
    with database.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    text_plan = " ".join(str(row[-1]) for row in plan)
    assert "ix_incidents_duplicate (category=? AND minx>? AND minx<?)" in text_plan, text_plan
    database.dispose()


def test_postgresql_runner_lease_is_one_holder(postgis_url, tmp_path):
    from api.jobs.runner import RunnerLease
    from api.settings import Settings

    settings = Settings(data_dir=tmp_path, database_url=postgis_url)
    a, b = Database(postgis_url), Database(postgis_url)
    try:
        first, second = RunnerLease(a, settings), RunnerLease(b, settings)
        assert first.acquire() and first.alive()
        assert not second.acquire()
        first.release()
        assert second.acquire()
    finally:
        second.release()
        a.dispose()
        b.dispose()


GATE_WRITER = """
import sys, time
from sqlalchemy import text
from api.store.db import Database
db = Database(sys.argv[1])
with db.writing() as s:
    s.execute(text("INSERT INTO tokens (name, role, secret_sha256, created_at) "
                   "VALUES ('holder', 'admin', 'x1', '2026-01-01')"))
    print("holding", flush=True)
    time.sleep(1.0)
db.dispose()
"""


def test_sqlite_writers_of_two_processes_queue_on_the_gate(tmp_path):
    import subprocess
    import sys
    import time
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'w.db'}"
    database = Database(url)
    database.upgrade()
    repo = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", GATE_WRITER, url], cwd=repo,
                              env={**os.environ, "PYTHONPATH": str(repo)},
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with database.writing() as s:  # waits on the other process's flock, not on BUSY
            s.execute(text("INSERT INTO tokens (name, role, secret_sha256, created_at) "
                           "VALUES ('second', 'admin', 'x2', '2026-01-01')"))
        waited = time.monotonic() - started
        assert holder.wait(10) == 0
        assert 0.5 < waited < 1.5, waited
        assert (tmp_path / "w.db-gate").exists()
    finally:
        holder.kill()
        holder.wait(10)
        database.dispose()


def test_a_buildings_class_in_several_rows_and_the_migration_back_merges_them(db):
    """Migration 0016: a building's households of one class in several rows (last visited
    on different days); back at 0015 (one row per building and class, unique again) they
    are one row: the households summed, the oldest last visit kept."""
    from datetime import date

    with db.writing() as s:
        plan = m.PlanRow(dataset_id=_dataset(s), name="p", target_households=300)
        s.add(plan)
        s.flush()
        plan_id = plan.id
        s.add_all(m.VisitClassRow(plan_id=plan_id, building_id=b, visit_class="ordinary",
                                  households=n, last_visit=last)
                  for b, n, last in [("way/1", 30, date(2026, 10, 1)),
                                     ("way/1", 40, date(2026, 8, 15)), ("way/2", 5, None)])
    downgrade(db.engine, "0015")
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT building_id, households, last_visit FROM "
                                 "visit_classes ORDER BY building_id")).all()
    assert [(b, n, str(last) if last else None) for b, n, last in rows] == [
        ("way/1", 70, "2026-08-15"), ("way/2", 5, None)]
    with db.engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(text("INSERT INTO visit_classes (plan_id, building_id, visit_class, "
                          "households, updated_at) VALUES (:p, 'way/2', 'ordinary', 1, "
                          "CURRENT_TIMESTAMP)"), {"p": plan_id})
    db.upgrade()
    with db.writing() as s:
        s.add(m.VisitClassRow(plan_id=plan_id, building_id="way/2", visit_class="ordinary",
                              households=1, last_visit=date(2026, 9, 1)))
    with db.read_session() as s:
        assert len(s.scalars(select(m.VisitClassRow)).all()) == 3


def test_visits_done_name_their_visit_group_and_the_migration_back_drops_it(db):
    """Migration 0017: a visit done names the calendar's visit group (``group_id``); the
    store moves the batch that trip belongs to (the second row's, trips numbered on from the
    first row's: 3 ordinary households a trip), not the batch visited longest ago. Back at
    0016 the column is gone and the visits stay; up again, they have no group."""
    from datetime import UTC, date

    from api.store.visits import add_done

    with db.writing() as s:
        plan = m.PlanRow(dataset_id=_dataset(s), name="p", target_households=300)
        s.add(plan)
        s.flush()
        plan_id = plan.id
        s.add_all(m.VisitClassRow(plan_id=plan_id, building_id="way/1", visit_class="ordinary",
                                  households=n, last_visit=last)
                  for n, last in [(6, date(2026, 8, 15)), (4, date(2026, 10, 1))])
        s.flush()
        # trips 0-1: the first row's 6 households; trip 2: the second row's
        add_done(s, plan_id=plan_id, building_id="way/1", grid_code=None,
                 done_at=datetime(2026, 12, 7, 2, tzinfo=UTC), source="worker",
                 visit_class="ordinary", group_id="way/1/ordinary/2")
    with db.read_session() as s:
        rows = s.scalars(select(m.VisitClassRow).order_by(m.VisitClassRow.id)).all()
        assert [r.last_visit for r in rows] == [date(2026, 8, 15), date(2026, 12, 7)]
        assert s.scalars(select(m.VisitDoneRow.group_id)).all() == ["way/1/ordinary/2"]
    downgrade(db.engine, "0016")
    with db.engine.connect() as conn:
        assert "group_id" not in {c["name"] for c in inspect(conn).get_columns("visits_done")}
        assert conn.execute(text("SELECT count(*) FROM visits_done")).scalar() == 1
    db.upgrade()
    with db.read_session() as s:
        assert s.scalars(select(m.VisitDoneRow.group_id)).all() == [None]
