"""The grid and building features each process keeps for plans that are no longer drafts
(api.services.grids): the same bytes as made from the rows, the assigned workers always
current, the filters (a worker's own grids, bbox, a plan's grids, a page of buildings)
applied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from api.geojson import collection_bytes, features_json
from api.services import grids as grid_service
from api.store import models as m
from api.store.plans import building_records, grid_records


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("grid-cache-data", start_jobs=False) as sv:
        yield sv


def _from_rows(app, plan_id: int, where=None) -> bytes:
    """The FeatureCollection made from the rows, as before the cache."""
    with app.state.db.read_session() as s:
        plan = s.get(m.PlanRow, plan_id)
        members = {"attribution": plan.attribution} if plan.attribution else {}
        return collection_bytes(features_json(*grid_records(s, plan_id, where)), members)


def test_cached_grids_are_the_bytes_made_from_the_rows(sv):
    app, c, h, plan_id = sv["app"], sv["client"], sv["h"], sv["plan_id"]
    grid_service._FEATURES.clear()
    first = c.get("/grids", headers=h["admin"])
    assert first.status_code == 200
    assert first.content == _from_rows(app, plan_id)
    assert any(key[1] == plan_id for key in grid_service._FEATURES)  # kept
    assert c.get("/grids", headers=h["planner"]).content == first.content  # from the cache
    assert c.get(f"/plans/{plan_id}/grids", headers=h["admin"]).content == first.content
    mine = c.get("/grids", headers=h["worker"]).json()["features"]
    with app.state.db.read_session() as s:
        own = list(s.scalars(select(m.AssignmentRow.grid_id).where(
            m.AssignmentRow.plan_id == plan_id, m.AssignmentRow.worker_id == h["worker_id"])))
    assert c.get("/grids", headers=h["worker"]).content == _from_rows(
        app, plan_id, m.GridRow.id.in_(own))
    assert {f["properties"]["worker_id"] for f in mine} == {h["worker_id"]}
    box = first.json()["features"][0]["geometry"]["coordinates"][0][0]
    bbox = f"{box[0] - 1e-4},{box[1] - 1e-4},{box[0] + 1e-4},{box[1] + 1e-4}"
    near = c.get("/grids", headers=h["admin"], params={"bbox": bbox}).json()["features"]
    assert 1 <= len(near) < len(first.json()["features"])


def test_a_new_assignment_shows_at_once(sv):
    c, h, plan_id, codes = sv["client"], sv["h"], sv["plan_id"], sv["codes"]
    c.get("/grids", headers=h["admin"])  # cached
    r = c.put(f"/plans/{plan_id}/grids/{codes[-1]}/assignment", headers=h["admin"],
              json={"worker_id": h["worker2_id"], "role": "worker"})
    assert r.status_code == 200, r.text
    grids = {f["properties"]["code"]: f["properties"]
             for f in c.get("/grids", headers=h["admin"]).json()["features"]}
    assert grids[codes[-1]]["worker_id"] == h["worker2_id"]
    assert grids[codes[-1]]["worker"] == "李强"
    assert c.get("/grids", headers=h["admin"]).content == _from_rows(sv["app"], plan_id)


@contextmanager
def _as_draft(app, plan_id: int) -> Iterator[None]:
    """The active plan made a draft for the block, active again after it."""
    with app.state.db.writing() as s:
        s.get(m.PlanRow, plan_id).status = "draft"
    try:
        yield
    finally:
        with app.state.db.writing() as s:
            s.get(m.PlanRow, plan_id).status = "active"


def test_a_draft_plan_is_not_kept(sv):
    """A draft's grids may still be edited: made from the rows each time."""
    app, c, h, plan_id = sv["app"], sv["client"], sv["h"], sv["plan_id"]
    with _as_draft(app, plan_id):
        grid_service._FEATURES.clear()
        r = c.get(f"/plans/{plan_id}/grids", headers=h["admin"])
        assert r.status_code == 200 and r.content == _from_rows(app, plan_id)
        assert not grid_service._FEATURES


def _buildings_from_rows(app, plan_id: int, rows: list[int], ids: bool) -> list[str]:
    """The building Feature texts made from the rows, as before the cache."""
    with app.state.db.read_session() as s:
        props, geoms = building_records(s, plan_id, m.PlanBuildingRow.id.in_(rows))
    return features_json(props, geoms, [str(p["building_id"]) for p in props] if ids else None)


def test_cached_buildings_are_the_texts_made_from_the_rows(sv):
    app, c, h, plan_id = sv["app"], sv["client"], sv["h"], sv["plan_id"]
    grid_service._BUILDINGS.clear()
    with app.state.db.read_session() as s:
        rows = list(s.scalars(select(m.PlanBuildingRow.id).where(
            m.PlanBuildingRow.plan_id == plan_id).order_by(m.PlanBuildingRow.id)))
    page = c.get("/ogc/collections/buildings/items", headers=h["admin"],
                 params={"limit": 7, "offset": 3})
    assert page.status_code == 200
    texts = _buildings_from_rows(app, plan_id, rows[3:10], ids=True)
    assert page.json()["features"] == [json.loads(t) for t in texts]
    kept = [v for k, v in grid_service._BUILDINGS.items() if k[1] == plan_id and k[3]]
    assert [sorted(v) for v in kept] == [rows[3:10]]
    again = c.get("/ogc/collections/buildings/items", headers=h["planner"],
                  params={"limit": 7, "offset": 3})
    assert again.json()["features"] == page.json()["features"]  # from the cache
    with app.state.db.read_session() as s:
        # asked out of order, with a row that is not there
        mixed = grid_service.building_features(s, plan_id, [rows[12], rows[4], -1, rows[5]],
                                               ids=False)
    assert mixed == _buildings_from_rows(app, plan_id, [rows[4], rows[5], rows[12]], ids=False)
    listed = c.get(f"/plans/{plan_id}/buildings", headers=h["admin"],
                   params={"limit": 5, "offset": 2})
    assert listed.content == collection_bytes(
        _buildings_from_rows(app, plan_id, rows[2:7], ids=False),
        {"attribution": page.json()["attribution"]} if "attribution" in page.json() else {})


def test_a_draft_plans_buildings_are_not_kept(sv):
    app, c, h, plan_id = sv["app"], sv["client"], sv["h"], sv["plan_id"]
    with _as_draft(app, plan_id):
        grid_service._BUILDINGS.clear()
        r = c.get(f"/plans/{plan_id}/buildings", headers=h["admin"], params={"limit": 5})
        assert r.status_code == 200 and len(r.json()["features"]) == 5
        assert not grid_service._BUILDINGS
