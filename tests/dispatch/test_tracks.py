"""GPS tracks against planned routes (dispatch.tracks) on the real Nanjing extract: reading
GPX/GeoJSON/GCJ-02, cleaning, map matching simulated noisy tracks, compliance figures, and
the bilingual errors for bad tracks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from leuvenmapmatching.util import dist_euclidean
from shapely.geometry import box

from dispatch.routing.network import WalkNetwork
from dispatch.routing.patrol import grid_streets, patrol_route
from dispatch.tracks.cleaning import clean_track
from dispatch.tracks.compliance import PlannedStop, planned_streets, reached_stops
from dispatch.tracks.evaluate import check_on_network, evaluate_track
from dispatch.tracks.matching import (
    MatchMap,
    edge_key,
    match_track,
    point_to_segment,
    segment_to_segment,
)
from dispatch.tracks.reading import read_track
from dispatch.tracks.simulate import (
    Noise,
    simulate_track,
    skip_parts,
    to_gpx,
    to_wgs84_fixes,
    walked_truth,
)
from gis.chinese_coords import wgs84_to_gcj02
from gis.errors import InputError


@pytest.fixture(scope="module")
def net(nanjing_area) -> WalkNetwork:
    return WalkNetwork.from_graph(nanjing_area.streets)


@pytest.fixture(scope="module")
def mmap(net) -> MatchMap:
    return MatchMap.from_network(net)


@pytest.fixture(scope="module")
def patrol(net):
    """A real street patrol over the streets of an 800 m square in central Nanjing."""
    xs, ys = zip(*(net.xy(n) for n in net.nodes), strict=True)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    square = box(cx - 400, cy - 400, cx + 400, cy + 400)
    route = patrol_route(net, grid_streets(net, square), (cx, cy), exact_seconds=0.2)
    return route, square


def _length(net, edges) -> float:
    return sum(net.graph.edges[e]["length"] for e in edges)


def test_fast_distances_equal_the_library():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b, c, d = (tuple(rng.uniform(-50, 50, 2)) for _ in range(4))
        ours, theirs = point_to_segment(a, b, c), dist_euclidean.distance_point_to_segment(
            a, b, c)
        assert ours[0] == pytest.approx(theirs[0]) and ours[2] == pytest.approx(theirs[1 + 1])
        ours2 = segment_to_segment(a, b, c, d)
        theirs2 = dist_euclidean.distance_segment_to_segment(a, b, c, d)
        assert ours2[0] == pytest.approx(theirs2[0], abs=1e-9)
        assert ours2[3:] == pytest.approx(theirs2[3:], abs=1e-9)


def test_simulated_patrol_matches_95_percent_of_street_length(net, mmap, patrol):
    """σ 10 m every 5 s, gaps and outliers, part of the patrol skipped: the planned streets'
    length is classified walked / missed correctly for at least 95%."""
    route, _ = patrol
    rng = np.random.default_rng(3)
    walk = skip_parts(net, route.nodes, 0.2, rng)
    truth = walked_truth(walk)
    track = simulate_track(net, walk, Noise(sigma_m=10, interval_s=5), seed=3)
    clean = clean_track(track)
    assert clean.dropped["outlier"] >= 0.5 * track["outlier"].sum()
    result = match_track(mmap, clean.matching[["x", "y"]].to_numpy(),
                         clean.matching["piece"].to_numpy())
    walked = result.walked_edges(net)
    planned = {edge_key(u, v) for u, v in route.required}
    assert planned - truth, "the simulated worker skipped some planned streets"
    right = _length(net, {e for e in planned if (e in truth) == (e in walked)})
    assert right / _length(net, planned) >= 0.95
    precision = _length(net, walked & truth) / _length(net, walked)
    recall = _length(net, walked & truth) / _length(net, truth)
    assert precision >= 0.9 and recall >= 0.9


def test_cleaning_drops_outliers_rides_and_stops(net):
    t = np.arange(0, 600, 5.0)
    x = 1.2 * t  # walking east at 4.3 km/h
    y = np.zeros_like(t)
    y[20] = 250.0  # one multipath outlier
    x[60:] += 3000.0  # a ride: 3 km in 5 s, then walking again
    x[90:110] = x[90]  # a stop of 100 s, then walking on
    x[110:] = x[90] + 1.2 * (t[110:] - t[109])
    frame = pd.DataFrame({"t": np.concatenate([t, [t[5]]]), "x": np.concatenate([x, [x[5]]]),
                          "y": np.concatenate([y, [y[5]]])})
    clean = clean_track(frame)
    assert clean.dropped["duplicate"] == 1
    assert clean.dropped["outlier"] == 1
    assert clean.jumps == 1 and clean.points["piece"].nunique() == 2
    assert len(clean.stops) == 1 and clean.stops[0].seconds >= 95
    assert clean.dropped["stop"] >= 15


def test_cleaning_counts_a_sustained_ride_as_too_fast():
    t = np.arange(0, 300, 5.0)
    x = np.where(t < 100, 1.2 * t, 120 + (t - 100) * 10.0)  # a bus at 36 km/h from 100 s
    x = np.where(t >= 200, x[t < 200][-1] + 1.2 * (t - 200), x)
    clean = clean_track(pd.DataFrame({"t": t, "x": x, "y": 0 * t}))
    assert clean.dropped["too_fast"] >= 15
    assert clean.jumps == 1


def test_read_gpx_geojson_and_gcj02(net, patrol, tmp_path):
    route, _ = patrol
    track = simulate_track(net, route.nodes[:30], Noise(sigma_m=5, interval_s=10), seed=1)
    fixes = to_wgs84_fixes(track, net.crs)
    gpx = read_track(to_gpx(fixes).encode(), filename="a.gpx")
    assert len(gpx) == len(fixes)
    assert gpx.geometry.x.to_numpy() == pytest.approx(fixes["lon"].to_numpy(), abs=1e-6)
    assert gpx["time"].iloc[0] == fixes["time"].iloc[0]
    # the same track as a Gaode/WeChat app writes it: GCJ-02 coordinates, local times
    glon, glat = wgs84_to_gcj02(fixes["lon"].to_numpy(), fixes["lat"].to_numpy())
    local = fixes["time"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%dT%H:%M:%S")
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"coordTimes": list(local)},
        "geometry": {"type": "LineString",
                     "coordinates": [[a, b] for a, b in zip(glon, glat, strict=True)]}}]}
    gcj = read_track(json.dumps(doc).encode(), filename="gaode.geojson", datum="GCJ-02")
    metres = gcj.to_crs(net.crs).distance(gpx.to_crs(net.crs))
    assert metres.max() < 0.01
    assert (gcj["time"] == gpx["time"]).all()
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"time": int(ts.timestamp()), "accuracy": 8},
         "geometry": {"type": "Point", "coordinates": [lo, la]}}
        for ts, lo, la in zip(fixes["time"], fixes["lon"], fixes["lat"], strict=True)]}))
    points = read_track(path)
    assert len(points) == len(fixes) and (points["accuracy_m"] == 8).all()


def test_bad_tracks_get_clear_messages(net, patrol):
    route, _ = patrol
    track = simulate_track(net, route.nodes[:30], Noise(sigma_m=5, interval_s=10), seed=1)
    fixes = to_wgs84_fixes(track, net.crs)
    with pytest.raises(InputError) as empty:
        read_track(b'<?xml version="1.0"?><gpx version="1.1" '
                   b'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg/></trk></gpx>',
                   filename="empty.gpx")
    assert "没有任何点" in empty.value.zh and "no point" in empty.value.en
    with pytest.raises(InputError) as untimed:
        read_track(to_gpx(fixes.assign(time=None)).encode(), filename="plan.gpx")
    assert "时间戳" in untimed.value.zh and "time stamp" in untimed.value.en
    with pytest.raises(InputError) as abroad:
        read_track(to_gpx(fixes.assign(lon=fixes["lon"] - 120)).encode(), datum="gcj02")
    assert "境外" in abroad.value.zh and "outside China" in abroad.value.en
    # GCJ-02 coordinates uploaded as WGS84: off the streets, on them as GCJ-02
    glon, glat = wgs84_to_gcj02(fixes["lon"].to_numpy(), fixes["lat"].to_numpy())
    shifted = read_track(to_gpx(fixes.assign(lon=glon, lat=glat)).encode())
    with pytest.raises(InputError) as datum:
        check_on_network(net, shifted)
    assert "datum=gcj02" in datum.value.en and "坐标系有误" in datum.value.zh
    far = read_track(to_gpx(fixes.assign(lon=fixes["lon"] + 0.2)).encode())
    with pytest.raises(InputError) as outside:
        check_on_network(net, far)
    assert "outside the area" in outside.value.en and "不在本区域" in outside.value.zh


def test_evaluate_visits_reports_stops_reached(net, mmap, patrol):
    """A visit route: the worker stays 3 minutes at one stop and walks past another."""
    route, _ = patrol
    path = route.nodes[:40]
    line = net.path_geometry(path)
    track = simulate_track(net, path, Noise(sigma_m=8, interval_s=5, gaps=0), seed=4,
                           pause_every_m=1e9)
    # stops at 1/4 and 3/4 of the walk, where the simulated worker pauses 3 minutes
    t_quarter = np.interp(0.25 * line.length, np.hypot(
        np.diff(track["true_x"], prepend=track["true_x"].iloc[0]),
        np.diff(track["true_y"], prepend=track["true_y"].iloc[0])).cumsum(), track["t"])
    rows = track[track["t"] <= t_quarter]
    pause = pd.DataFrame({"t": rows["t"].iloc[-1] + np.arange(5, 185, 5.0),
                          "x": rows["x"].iloc[-1], "y": rows["y"].iloc[-1]})
    later = track[track["t"] > t_quarter].assign(t=lambda f: f["t"] + 185)
    walk = pd.concat([rows[["t", "x", "y"]], pause, later[["t", "x", "y"]]],
                     ignore_index=True)
    fixes = to_wgs84_fixes(walk, net.crs)
    from dispatch.tracks.reading import read_track as read

    stop_at = line.interpolate(0.25 * line.length)
    passed = line.interpolate(0.6 * line.length)
    stops = [PlannedStop("1", "门牌 1", stop_at.x, stop_at.y),
             PlannedStop("2", "门牌 2", passed.x, passed.y)]
    result = evaluate_track(net, mmap, read(to_gpx(fixes).encode()), planned_path=line,
                            stops=stops)
    visits = {v["ref"]: v for v in result.figures["stops"]}
    assert visits["1"]["reached"] and visits["1"]["stay_s"] >= 120
    assert not visits["2"]["reached"] and visits["2"]["closest_m"] < 30
    assert result.figures["coverage"] >= 0.9
    assert result.figures["planned_m"] == pytest.approx(
        _length(net, planned_streets(net, line)), abs=1)
    assert result.figures["raw_points"] == len(fixes)


def test_reached_stops_needs_two_minutes_within_30_m():
    from dispatch.tracks.cleaning import CleanTrack

    t = np.arange(0, 400, 10.0)  # 90 s 20 m from a, then 190 s 10 m from b
    points = pd.DataFrame({"t": t, "x": np.where(t < 100, 20.0, 100.0), "y": 0.0,
                           "piece": 0, "stop": False})
    clean = CleanTrack(points, points, {}, 0, 0)
    brief, near, far = reached_stops(clean, [PlannedStop("a", "a", 0, 0, eta_s=0.0),
                                             PlannedStop("b", "b", 100, 10, eta_s=60.0),
                                             PlannedStop("c", "c", 100, 40)])
    assert not brief["reached"] and brief["stay_s"] == 90 and brief["arrival"] is None
    assert near["reached"] and near["stay_s"] == 290 and near["late_s"] == 40
    assert not far["reached"] and far["closest_m"] == pytest.approx(40)
