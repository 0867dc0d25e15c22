"""OGC API pages of incidents in a bbox (api.services.ogc): the incidents whose point lies in
the box, each feature what its stored row says (read as columns, the geometries decoded
together; on SQLite the index range of points inside the box only), on SQLite and PostGIS."""

from __future__ import annotations

import random

import pytest
import shapely
import shapely.geometry
from sqlalchemy import select

from api.store import models as m

CATEGORIES = ["environment", "parking", "noise", "public_order"]


def _report_all(sv) -> None:
    c, h = sv["client"], sv["h"]
    grids = c.get("/grids", headers=h["admin"]).json()["features"]
    area = shapely.union_all([shapely.geometry.shape(g["geometry"]) for g in grids])
    minx, miny, maxx, maxy = area.bounds
    rnd = random.Random(3)
    made = 0
    while made < 60:
        x, y = rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)
        if not area.contains(shapely.Point(x, y)):
            continue
        r = c.post("/incidents", headers=h["reporter"],
                   json={"category": CATEGORIES[made % 4], "lon": x, "lat": y,
                         "description": f"第 {made} 号 report"})
        assert r.status_code == 201, r.text
        made += 1


def _expected(app, box) -> list[dict]:
    """The features of the incidents in ``box``, from the ORM rows."""
    with app.state.db.read_session() as s:
        rows = list(s.scalars(select(m.IncidentRow).order_by(m.IncidentRow.id)))
        return [{"type": "Feature", "id": str(r.id),
                 "geometry": shapely.geometry.mapping(r.geom) | {"coordinates": list(
                     r.geom.coords[0])},
                 "properties": {"id": r.id, "category": r.category,
                                "description": r.description, "status": r.status,
                                "grid_code": r.grid_code, "worker_id": r.worker_id,
                                "created_at": r.created_at.isoformat()}}
                for r in rows
                if box[0] <= r.geom.x <= box[2] and box[1] <= r.geom.y <= box[3]]


def _check_pages(sv) -> None:
    app, c, h = sv["app"], sv["client"], sv["h"]
    _report_all(sv)
    everything = _expected(app, (-180, -90, 180, 90))
    assert len(everything) >= 30  # some reports were merged into others near them
    xs = sorted(f["geometry"]["coordinates"][0] for f in everything)
    ys = sorted(f["geometry"]["coordinates"][1] for f in everything)
    rnd = random.Random(5)
    boxes = [(xs[0], ys[0], xs[-1], ys[-1])]  # incidents on the edges count
    for _ in range(8):
        x0, x1 = sorted(rnd.sample(xs, 2))
        y0, y1 = sorted(rnd.sample(ys, 2))
        boxes.append((x0, y0, x1, y1))
    for box in boxes:
        want = _expected(app, box)
        page = c.get("/ogc/collections/incidents/items", headers=h["planner"],
                     params={"bbox": ",".join(map(repr, box)), "limit": 500}).json()
        assert page["numberMatched"] == len(want), box
        got = page["features"]
        for f in got:  # the text and the float read back may differ in the last digits
            f["geometry"]["coordinates"] = [round(v, 6) for v in f["geometry"]["coordinates"]]
        for f in want:
            f["geometry"]["coordinates"] = [round(v, 6) for v in f["geometry"]["coordinates"]]
        assert got == want, box


def test_incident_pages_in_a_box(open_service):
    with open_service("ogc-incident-pages", start_jobs=False) as sv:
        _check_pages(sv)


@pytest.mark.usefixtures("postgis_url")
def test_incident_pages_in_a_box_on_postgis(open_service, postgis_url):
    with open_service("ogc-incident-pages-pg", start_jobs=False,
                      database_url=postgis_url) as sv:
        _check_pages(sv)
