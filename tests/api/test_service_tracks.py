"""GPS tracks in the service on the synthetic district: a worker uploads the track of their
street patrol (simulated along the planned route with GPS noise), the figures, who may upload
and see tracks (personal data: the worker, admins, planners; reporters nothing), the route
map's walked and missed streets, patrol coverage per grid and worker, bad tracks with
bilingual messages, and the same on PostGIS."""

from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from api.jobs.dispatch import run_routes
from api.services.dispatcher import walk_network
from api.store import models as m
from api.store.routes import save_route
from api.store.tracks import patrol_coverage
from dispatch.tracks.simulate import Noise, simulate_track, to_gpx, to_wgs84_fixes
from gis.chinese_coords import wgs84_to_gcj02

DAY = date(2026, 12, 1)


def _stock_patrols(sv: dict) -> dict:
    """Street patrols of DAY for both workers, from the dispatch job's code."""
    app = sv["app"]
    run_routes(app.state.db, app.state.settings, None,
               {"plan_id": sv["plan_id"], "day": DAY.isoformat(), "exact_seconds": 0.05})
    with app.state.db.read_session() as s:
        routes = {r.worker_id: r for r in s.query(m.RouteRow).filter(
            m.RouteRow.day == DAY, m.RouteRow.kind == "patrol")}
        dataset = s.get(m.DatasetRow, s.get(m.PlanRow, sv["plan_id"]).dataset_id)
        s.expunge_all()
    sv["net"] = walk_network(app.state.settings, dataset)
    sv["routes"] = routes
    return sv


@pytest.fixture(scope="module")
def sv(open_service, request):
    try:  # the route map needs the gathered map scripts; the rest does not
        assets = request.getfixturevalue("map_assets")
    except pytest.skip.Exception:
        assets = None
    with open_service("tracks-data", start_jobs=False, map_assets_dir=assets) as sv:
        sv["assets"] = assets
        yield _stock_patrols(sv)


def route_nodes(net, route) -> list:
    """The walk network's nodes along a stored route's line (its vertices on nodes)."""
    line = gpd.GeoSeries([route.geom], crs="EPSG:4326").to_crs(net.crs).iloc[0]
    xy = np.asarray(line.coords)
    nodes, dist = net.snap(xy[:, 0], xy[:, 1])
    path = [n for n, d in zip(nodes, dist, strict=True) if d < 0.5]
    return [n for i, n in enumerate(path) if i == 0 or n != path[i - 1]]


def gpx_of(net, nodes, *, seed=1, sigma=8.0, interval=5.0, day=DAY, **kw) -> bytes:
    track = simulate_track(net, nodes, Noise(sigma_m=sigma, interval_s=interval), seed=seed,
                           **kw)
    return to_gpx(to_wgs84_fixes(track, net.crs, day=day.isoformat())).encode()


def upload(sv, route_id, data: bytes, who="worker", datum="wgs84", name="track.gpx"):
    return sv["client"].post(f"/routes/{route_id}/tracks", headers=sv["h"][who],
                             data={"datum": datum},
                             files={"file": (name, data, "application/gpx+xml")})


def test_worker_uploads_their_patrol_track(sv):
    h, net = sv["h"], sv["net"]
    route = sv["routes"][h["worker_id"]]
    r = upload(sv, route.id, gpx_of(net, route_nodes(net, route), interval=10.0,
                                       pause_every_m=2000))
    assert r.status_code == 201, r.text
    track = r.json()
    assert track["worker_id"] == h["worker_id"] and track["day"] == DAY.isoformat()
    assert track["coverage"] >= 0.9, track["figures"]["missed_streets"]
    assert track["planned_m"] > 0 and track["raw_points"] > 100
    assert set(track["dropped"]) >= {"outlier", "too_fast", "stop", "duplicate", "no_time"}
    figures = track["figures"]
    assert figures["start"].startswith("2026-12-01T09:00") and figures["end"] > figures["start"]
    grids = {g["code"]: g for g in figures["grids"]}
    assert grids and sum(g["minutes"] for g in grids.values()) > 10
    assert figures["match_seconds"] > 0
    # a second upload for the same route replaces the first
    again = upload(sv, route.id, gpx_of(net, route_nodes(net, route)[:30], seed=2))
    assert again.status_code == 201 and again.json()["id"] == track["id"]
    assert again.json()["coverage"] < track["coverage"]


def test_half_a_patrol_names_the_missed_streets(sv):
    h, net = sv["h"], sv["net"]
    route = sv["routes"][h["worker2_id"]]
    nodes = route_nodes(net, route)
    r = upload(sv, route.id, gpx_of(net, nodes[: len(nodes) // 2], seed=3, interval=10.0),
               who="worker2")
    assert r.status_code == 201, r.text
    figures = r.json()["figures"]
    assert 0.2 < r.json()["coverage"] < 0.85
    assert figures["missed_streets"] and all(s["length_m"] > 0 and s["name"]
                                             for s in figures["missed_streets"])
    assert figures["walked_planned_m"] < figures["planned_m"]


def test_tracks_are_personal_data(sv):
    c, h, net = sv["client"], sv["h"], sv["net"]
    mine, theirs = sv["routes"][h["worker_id"]], sv["routes"][h["worker2_id"]]
    data = gpx_of(net, route_nodes(net, mine)[:20])
    assert upload(sv, mine.id, data, who="worker2").status_code == 403
    assert upload(sv, mine.id, data, who="reporter").status_code == 403
    assert upload(sv, mine.id, data, who="planner").status_code == 403
    assert c.post(f"/routes/{mine.id}/tracks", files={"file": ("t.gpx", data)}
                  ).status_code == 401
    tracks = {t["worker_id"]: t for t in c.get("/tracks", headers=h["admin"]).json()}
    assert set(tracks) == {h["worker_id"], h["worker2_id"]}
    own = c.get("/tracks", headers=h["worker"]).json()
    assert [t["worker_id"] for t in own] == [h["worker_id"]]
    assert c.get(f"/tracks?worker_id={h['worker2_id']}", headers=h["worker"]
                 ).status_code == 403
    assert c.get("/tracks", headers=h["reporter"]).status_code == 403
    other = tracks[h["worker2_id"]]["id"]
    assert c.get(f"/tracks/{other}", headers=h["worker"]).status_code == 403
    assert c.get(f"/tracks/{other}", headers=h["reporter"]).status_code == 403
    for role in ("admin", "planner", "worker2"):
        body = c.get(f"/tracks/{other}", headers=h[role]).json()
        kinds = {f["properties"]["kind"] for f in body["features"]}
        assert kinds >= {"track", "street"}, role
    assert c.get(f"/tracks/coverage?start={DAY}&end={DAY}", headers=h["reporter"]
                 ).status_code == 403
    assert c.get(f"/tracks/coverage?start={DAY}&end={DAY}&worker_id={h['worker2_id']}",
                 headers=h["worker"]).status_code == 403
    assert theirs.worker_id == h["worker2_id"]


def test_patrol_coverage_per_grid_and_worker(sv):
    c, h = sv["client"], sv["h"]
    rows = c.get(f"/tracks/coverage?start={DAY}&end={DAY}", headers=h["planner"]).json()
    workers = {r["worker_id"] for r in rows}
    assert workers == {h["worker_id"], h["worker2_id"]}
    assert all(r["days_tracked"] <= 1 and 0 <= (r["coverage"] or 0) <= 1 for r in rows)
    own = c.get(f"/tracks/coverage?start={DAY}&end={DAY}", headers=h["worker"]).json()
    assert {r["worker_id"] for r in own} == {h["worker_id"]}
    with sv["app"].state.db.read_session() as s:
        assert patrol_coverage(s, DAY, DAY) == rows
        assert patrol_coverage(s, date(2026, 12, 2), date(2026, 12, 9)) == []
    r = c.get(f"/tracks/coverage?start={DAY}&end=2026-11-01", headers=h["planner"])
    assert r.status_code == 422 and r.json()["message"]["zh"]


def test_route_map_draws_walked_and_missed_streets(sv):
    c, h = sv["client"], sv["h"]
    if sv["assets"] is None:
        pytest.skip("map assets unavailable")
    page = c.get(f"/maps/routes/{h['worker2_id']}?day={DAY}&lang=en", headers=h["worker2"])
    assert page.status_code == 200, page.text
    assert "Streets walked" in page.text and "Streets missed" in page.text
    assert "Patrol coverage" in page.text
    zh = c.get(f"/maps/routes/{h['worker2_id']}?day={DAY}", headers=h["admin"]).text
    assert "漏巡街道" in zh


def test_visit_route_stops_reached(sv):
    """A visit route of two incidents: the worker stays 3 minutes at the first, never goes to
    the second."""
    h, net, app = sv["h"], sv["net"], sv["app"]
    patrol = sv["routes"][h["worker_id"]]
    nodes = route_nodes(net, patrol)[:25]
    line = net.path_geometry(nodes)
    at = line.interpolate(0.5 * line.length)
    away = Point(at.x + 400, at.y + 400)
    stops_xy = gpd.GeoSeries([Point(line.coords[0]), at, away], crs=net.crs).to_crs(4326)
    path = gpd.GeoSeries([line], crs=net.crs).to_crs(4326).iloc[0]
    with app.state.db.writing() as s:
        visits = save_route(s, plan_id=sv["plan_id"], worker_id=h["worker_id"], day=DAY,
                            kind="visits", path=path, distance_m=line.length,
                            duration_s=line.length / 1.25, stops=[
                                {"seq": 0, "kind": "start", "ref": "base", "lon": stops_xy[0].x,
                                 "lat": stops_xy[0].y, "eta": "2026-12-01T09:00:00+08:00"},
                                {"seq": 1, "kind": "incident", "ref": "101", "name": "井盖",
                                 "lon": stops_xy[1].x, "lat": stops_xy[1].y,
                                 "eta": "2026-12-01T09:05:00+08:00"},
                                {"seq": 2, "kind": "incident", "ref": "102", "name": "噪声",
                                 "lon": stops_xy[2].x, "lat": stops_xy[2].y,
                                 "eta": "2026-12-01T09:20:00+08:00"}])
        route_id = visits.id
    track = simulate_track(net, nodes, Noise(sigma_m=6, interval_s=5, gaps=0), seed=5,
                           pause_every_m=1e9)
    dist = np.hypot(track["true_x"] - at.x, track["true_y"] - at.y)
    k = int(np.argmin(dist))
    pause = pd.DataFrame({"t": track["t"].iloc[k] + np.arange(5, 185, 5.0),
                          "x": track["x"].iloc[k], "y": track["y"].iloc[k]})
    walk = pd.concat([track.iloc[:k + 1][["t", "x", "y"]], pause,
                      track.iloc[k + 1:][["t", "x", "y"]].assign(t=lambda f: f["t"] + 185)])
    data = to_gpx(to_wgs84_fixes(walk, net.crs, day=DAY.isoformat())).encode()
    r = upload(sv, route_id, data)
    assert r.status_code == 201, r.text
    stops = {s["ref"]: s for s in r.json()["figures"]["stops"]}
    assert stops["101"]["reached"] and stops["101"]["arrival"].startswith("2026-12-01T")
    assert not stops["102"]["reached"] and stops["102"]["closest_m"] > 300
    assert r.json()["figures"]["stops_reached"] == 1
    body = sv["client"].get(f"/tracks/{r.json()['id']}", headers=sv["h"]["planner"]).json()
    reached = {f["properties"]["ref"]: f["properties"]["reached"] for f in body["features"]
               if f["properties"]["kind"] == "stop"}
    assert reached == {"101": True, "102": False}


def test_bad_tracks_get_bilingual_messages(sv):
    h, net = sv["h"], sv["net"]
    route = sv["routes"][h["worker_id"]]
    nodes = route_nodes(net, route)[:20]
    fixes = to_wgs84_fixes(simulate_track(net, nodes, Noise(sigma_m=5, interval_s=5), seed=1),
                           net.crs, day=DAY.isoformat())

    def refused(data: bytes, datum="wgs84", name="t.gpx") -> dict:
        r = upload(sv, route.id, data, datum=datum, name=name)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["message"]["zh"] and body["message"]["en"]
        return body

    empty = refused(b'<?xml version="1.0"?><gpx version="1.1" '
                    b'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg/></trk></gpx>')
    assert "no point" in empty["message"]["en"]
    assert refused(b"", name="empty.gpx")["message"]["zh"]
    untimed = refused(to_gpx(fixes.assign(time=None)).encode())
    assert "time stamp" in untimed["message"]["en"] and "时间戳" in untimed["message"]["zh"]
    glon, glat = wgs84_to_gcj02(fixes["lon"].to_numpy(), fixes["lat"].to_numpy())
    wrong = refused(to_gpx(fixes.assign(lon=glon, lat=glat)).encode())
    assert "datum=gcj02" in wrong["message"]["en"]
    far = refused(to_gpx(fixes.assign(lon=fixes["lon"] + 0.3)).encode())
    assert "outside the area" in far["message"]["en"]
    bad_datum = upload(sv, route.id, to_gpx(fixes).encode(), datum="mars")
    assert bad_datum.status_code == 422
    day = refused(to_gpx(fixes.assign(time=fixes["time"] + pd.Timedelta(days=3))).encode())
    assert day["code"] == "track_day" and "2026-12-04" in day["message"]["en"]
    # the GCJ-02 track uploaded with its datum is read right
    r = upload(sv, route.id, to_gpx(fixes.assign(lon=glon, lat=glat)).encode(), datum="gcj02")
    assert r.status_code == 201, r.text
    assert r.json()["datum"] == "gcj02"


def test_tracks_on_postgis(postgis_url, open_service):
    with open_service("tracks-postgis", start_jobs=False, database_url=postgis_url) as pg:
        _stock_patrols(pg)
        h, net = pg["h"], pg["net"]
        route = pg["routes"][h["worker_id"]]
        r = upload(pg, route.id, gpx_of(net, route_nodes(net, route)[:60], interval=10.0))
        assert r.status_code == 201, r.text
        assert 0.1 < r.json()["coverage"] < 1 and r.json()["figures"]["missed_streets"]
        body = pg["client"].get(f"/tracks/{r.json()['id']}", headers=h["planner"]).json()
        assert body["features"][0]["geometry"]["type"] in ("LineString", "MultiLineString")
        rows = pg["client"].get(f"/tracks/coverage?start={DAY}&end={DAY}",
                                headers=h["admin"]).json()
        assert {r["worker_id"] for r in rows} == {h["worker_id"]}


def test_cli_track_import(sv, tmp_path, capsys):
    from api.cli import main

    h, net = sv["h"], sv["net"]
    route = sv["routes"][h["worker2_id"]]
    path = tmp_path / "worker2.gpx"
    path.write_bytes(gpx_of(net, route_nodes(net, route)[:40], seed=9, interval=10.0))
    folder = str(sv["settings"].data_dir)
    code = main(["track", "import", str(path), "--worker", str(h["worker2_id"]), "--day",
                 DAY.isoformat(), "--data-dir", folder])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "coverage" in out.out and "漏巡 missed" in out.out
    empty = tmp_path / "empty.gpx"
    empty.write_text('<?xml version="1.0"?><gpx version="1.1" '
                     'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg/></trk></gpx>')
    assert main(["track", "import", str(empty), "--route", str(route.id),
                 "--data-dir", folder]) == 2
    err = capsys.readouterr().err
    assert "没有任何点" in err and "no point" in err
    assert main(["track", "import", str(path), "--worker", "999", "--day", DAY.isoformat(),
                 "--data-dir", folder]) == 2


def _point_track(time: object) -> bytes:
    fixes = [{"type": "Feature", "properties": {"time": t},
              "geometry": {"type": "Point", "coordinates": [118.78, 32.04 + i * 1e-4]}}
             for i, t in enumerate((time, "2026-12-04T08:01:00Z"))]
    return json.dumps({"type": "FeatureCollection", "features": fixes}).encode()


MALFORMED_TRACKS = {
    "a Unix time beyond any date": _point_track(1e20),
    "a Unix time of 2**70": _point_track(2**70),
    "the year 9999": _point_track("9999-12-31T23:59:59+00:00"),
    "the year 1": _point_track("0001-01-01T00:00:00"),
    "features not objects": b'{"type":"FeatureCollection","features":[1,2]}',
    "a geometry that is a list": b'{"type":"FeatureCollection","features":[{"geometry":[1]}]}',
    "properties that are a list": b'{"type":"FeatureCollection","features":[{"properties":[1],'
                                  b'"geometry":{"type":"Point","coordinates":[118.78,32.04]}}]}',
    "coordinates that are text": b'{"type":"FeatureCollection","features":[{"properties":'
                                 b'{"time":"2026-12-04T08:00:00Z"},"geometry":{"type":"Point",'
                                 b'"coordinates":["a","b"]}}]}',
    "features an object": b'{"type":"FeatureCollection","features":{"a":1}}',
    "features null": b'{"features":null}',
}


@pytest.mark.parametrize("case", MALFORMED_TRACKS)
def test_malformed_tracks_are_4xx(sv, case):
    """Malformed GeoJSON tracks and times no device records: a bilingual 422 naming the file,
    not a 500 (issue 21, item 6)."""
    route = sv["routes"][sv["h"]["worker_id"]]
    r = upload(sv, route.id, MALFORMED_TRACKS[case], name="t.geojson")
    assert r.status_code == 422, (case, r.status_code, r.text[:300])
    body = r.json()
    assert body["code"] == "bad_input" and "t.geojson" in body["message"]["en"], body
    assert "处理办法" in body["message"]["zh"]
