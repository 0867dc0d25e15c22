"""maps/: the six views on a synthetic district and its real plan; the HTML's structure, labels,
languages and the absence of any link to another host."""

from __future__ import annotations

import functools
import itertools
import json
import re
import tempfile
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point

from gis.export import study_area_layers
from gis.study_area import load_study_area
from maps import (
    AssetsError,
    MapOptions,
    compare_map,
    coverage_map,
    deadline_status,
    grid_plan_map,
    incidents_map,
    moved_buildings,
    page_html,
    party_zones_map,
    route_map,
    save_standalone,
)
from maps.geometry import feature_collection
from maps.i18n import CATEGORIES, STAGES, metres
from maps.walking import walk_distance_m
from partition.plan import make_plan
from tests.synthetic import write_district_osm

NOW = pd.Timestamp("2026-11-21T10:00:00+08:00")
URL = re.compile(r"""https?://[^\s"'<>)]+""")


@functools.lru_cache(maxsize=1)
def sample() -> dict:
    """A synthetic district of 400 buildings, its plan, and the inputs of every view made from
    them: workers on all grids but the last, party zones over two thirds of the grids,
    incidents at buildings, a route through a worker's grids, and a re-balanced plan."""
    folder = Path(tempfile.mkdtemp(prefix="wangge-maps-"))
    osm = folder / "district.osm"
    write_district_osm(osm, 400, seed=3)
    area = load_study_area(osm)
    plan = make_plan(area, target=150)
    layers = study_area_layers(area)
    grids = plan.grids.to_crs("EPSG:4326")
    buildings = plan.buildings.to_crs("EPSG:4326")
    codes = sorted(grids["code"])
    staff = (len(codes) - 1) // 3  # three grids each; the last grid always without a worker
    workers = pd.DataFrame({
        "worker_id": [f"W{i:03d}" for i in range(staff)],
        "name": [f"网格员{i}" for i in range(staff)],
        "grids": [";".join(codes[3 * i:3 * i + 3]) for i in range(staff)],
    })
    return {"area": area, "plan": plan, "layers": layers, "grids": grids,
            "buildings": buildings, "workers": workers, "zones": _zones(grids, buildings),
            "incidents": _incidents(buildings), **_route(area, plan, codes[:3]),
            "new": make_plan(area, target=140, previous=(grids, buildings))}


def _zones(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Party zones: the first two thirds of the grids, each its own zone."""
    chosen = grids.sort_values("code").iloc[: 2 * len(grids) // 3]
    return gpd.GeoDataFrame({
        "member_id": [f"P{i:03d}" for i in range(len(chosen))],
        "name": [f"党员{i}" for i in range(len(chosen))],
        "grid_id": chosen["grid_id"].to_numpy(),
        "households": chosen["households"].to_numpy(),
    }, geometry=chosen.geometry.to_numpy(), crs=grids.crs)


def _incidents(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """90 incidents at buildings: every category and stage, deadlines around NOW."""
    rng = np.random.default_rng(7)
    chosen = buildings.sample(90, random_state=7)
    deadlines = [NOW + pd.Timedelta(hours=float(h)) for h in rng.uniform(-72, 120, 90)]
    return gpd.GeoDataFrame({
        "incident_id": [f"E{i:04d}" for i in range(90)],
        "category": [list(CATEGORIES)[i % len(CATEGORIES)] for i in range(90)],
        "stage": [list(STAGES)[i % len(STAGES)] for i in range(90)],
        "deadline": [d.isoformat() for d in deadlines],
        "overdue": [d < NOW for d in deadlines],
    }, geometry=chosen.geometry.representative_point().to_numpy(), crs=buildings.crs)


def _route(area, plan, codes: list[str]) -> dict:
    """Stops at five buildings of the grids ``codes`` in order, the shortest walk between them
    on the walk graph, and the grids' outline as the patrol path."""
    graph = area.streets
    nodes = list(graph.nodes)
    xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in nodes])
    mine = plan.buildings[plan.buildings["grid_id"].isin(codes)]
    points = mine.geometry.representative_point().iloc[:: max(1, len(mine) // 5)].iloc[:5]
    stop_nodes = [nodes[int(np.argmin(((xy - [p.x, p.y]) ** 2).sum(1)))] for p in points]
    legs = []
    for a, b in itertools.pairwise(stop_nodes):
        walk = nx.shortest_path(graph.to_undirected(), a, b, weight="length")
        if len(walk) > 1:
            legs.append(LineString([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in walk]))
    stops = gpd.GeoDataFrame({
        "seq": range(len(points)), "name": [f"{i}号楼" for i in range(len(points))],
        "arrival": [f"{8 + i}:{15 * i % 60:02d}" for i in range(len(points))],
    }, geometry=[Point(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in stop_nodes],
        crs=area.buildings.crs)
    outline = plan.grids[plan.grids["code"].isin(codes)].geometry.union_all().boundary
    patrol = gpd.GeoSeries([outline], crs=area.buildings.crs)
    path = gpd.GeoSeries(legs, crs=area.buildings.crs)
    length = float(sum(leg.length for leg in legs))
    return {"stops": stops, "path": path, "patrol": patrol, "route_m": length,
            "route_codes": codes}


def build_view(view: str, lang: str = "zh"):
    """The folium map of ``view`` on the sample data."""
    s = sample()
    options = MapOptions(lang=lang)
    layers = s["layers"]
    if view == "grids":
        return grid_plan_map(s["grids"], s["buildings"], workers=s["workers"],
                             communities=layers["communities"], barriers=layers["barriers"],
                             streets=layers["streets"], options=options)
    if view == "party-zones":
        return party_zones_map(s["zones"], grids=s["grids"], buildings=s["buildings"],
                               options=options)
    if view == "incidents":
        return incidents_map(s["incidents"], grids=s["grids"], now=NOW, options=options)
    if view == "route":
        grids = s["grids"][s["grids"]["code"].isin(s["route_codes"])]
        return route_map(s["stops"], s["path"], patrol=s["patrol"], distance_m=s["route_m"],
                         duration_s=s["route_m"] / 1.2 + 4 * 300, worker_name="网格员0",
                         grids=grids, streets=layers["streets"], options=options)
    if view == "coverage":
        centres = layers["communities"].to_crs(s["area"].buildings.crs).representative_point()
        service = gpd.GeoDataFrame({"name": [f"服务站{i}" for i in range(len(centres))]},
                                   geometry=centres.to_numpy(), crs=s["area"].buildings.crs)
        return coverage_map(s["grids"], s["buildings"], workers=s["workers"], zones=s["zones"],
                            service_points=service, streets=layers["streets"],
                            walk_limit_m=300, incidents=s["incidents"], now=NOW,
                            options=options)
    if view == "compare":
        new = s["new"]
        return compare_map(s["grids"], new.grids, s["buildings"], new.buildings,
                           options=options)
    raise KeyError(view)


VIEWS = ("grids", "party-zones", "incidents", "route", "coverage", "compare")


def external_urls(html: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every http(s) URL in ``html`` whose host is not in ``allowed``."""
    return [u for u in URL.findall(html) if u.split("/")[2] not in allowed]


@pytest.mark.parametrize("view", VIEWS)
def test_view_page_is_local_and_complete(view):
    html = page_html(build_view(view))
    assert external_urls(html) == []
    links = [x for x in re.findall(r'(?:src|href)="([^"]*)"', html) if x != "data:,"]
    assert links and all(link.startswith("/static/maps/") for link in links), links
    for needed in ("leaflet/leaflet.js", "leaflet/leaflet.css", "wangge/wangge-maps.js",
                   "leaflet.fullscreen/Control.FullScreen.js"):
        assert needed in html
    assert "bootstrap" not in html and "jquery" not in html.lower()
    assert "L.control.scale()" in html
    assert "L.control.layers(" in html
    assert "L.control.fullscreen(" in html
    assert "© OpenStreetMap contributors, ODbL 1.0" in html
    assert '<html lang="zh-CN">' in html


def test_grid_plan_labels_and_colours():
    s = sample()
    html = page_html(build_view("grids"))
    assert "网格划分方案" in html and "户数偏差" in html and "网格员0" in html
    for code in s["grids"]["code"].head(5):
        assert code in html
    # every deviation class used by the plan appears as a fill colour
    assert "_fill" in html and "#e0f3db" in html


def test_english_labels():
    html = page_html(build_view("incidents", lang="en"))
    assert '<html lang="en">' in html
    assert "Open incidents" in html and "Filter by category" in html and "overdue" in html
    assert "待办事件" not in html
    with pytest.raises(ValueError, match="zh or en"):
        grid_plan_map(sample()["grids"], options=MapOptions(lang="fr"))


def test_incidents_open_only_and_deadline_status():
    s = sample()
    incidents = s["incidents"]
    html = page_html(build_view("incidents"))
    open_ids = incidents.loc[~incidents["stage"].isin(["closed", "rejected"]), "incident_id"]
    closed_ids = incidents.loc[incidents["stage"].isin(["closed", "rejected"]), "incident_id"]
    assert all(f'"{i}"' in html for i in open_ids)
    assert not any(f'"{i}"' in html for i in closed_ids)
    status = deadline_status(incidents, NOW)
    deadlines = pd.to_datetime(incidents["deadline"], utc=True)
    assert (status[deadlines < NOW] == "overdue").all()
    soon = (deadlines >= NOW) & (deadlines - NOW <= pd.Timedelta(hours=24))
    assert (status[soon] == "due_soon").all()
    naive = pd.DataFrame({"deadline": ["2026-11-21 09:00"], "overdue": [False]})
    # 09:00 Beijing time is before 10:00 Beijing time
    assert deadline_status(naive, NOW).iloc[0] == "overdue"
    bad = incidents.assign(stage="lost")
    with pytest.raises(ValueError, match="lost"):
        incidents_map(bad)
    with pytest.raises(ValueError, match="ISO 8601"):
        incidents_map(incidents.assign(deadline="tomorrow"))
    # the service's incidents may come without deadlines: all "no deadline", still drawn
    bare = incidents.drop(columns=["deadline", "overdue"])
    assert (deadline_status(bare, NOW) == "none").all()
    assert "无时限 " + str((~incidents["stage"].isin(["closed", "rejected"])).sum()) \
        in page_html(incidents_map(bare, now=NOW))


def test_route_summary_and_arrows():
    s = sample()
    html = page_html(build_view("route"))
    assert "L.control.locate(" in html and "wg-arrow" in html and "wg-stop" in html
    km = s["route_m"] / 1000
    assert (f"{km:.1f} 公里" if km >= 1 else f"{s['route_m']:.0f} 米") in html
    assert html.count("wg-stop wg-start") == 1


def test_coverage_counts_gaps():
    s = sample()
    html = page_html(build_view("coverage"))
    # the last grids have no worker: their homes are listed as gaps
    staffed = set(";".join(s["workers"]["grids"]).split(";"))
    unstaffed = s["buildings"][~s["buildings"]["grid_id"].isin(staffed)
                               & (s["buildings"]["households"] > 0)]
    assert len(unstaffed) > 0
    assert f"{len(unstaffed)} 栋建筑，{int(unstaffed['households'].sum())} 户" in html
    assert "无党员联系的住户" in html and "超期事件热点" in html and "服务站0" in html


def test_walk_distance_follows_streets():
    # an L-shaped street: the walk around the corner is longer than the straight line
    streets = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]),
                                         LineString([(100, 0), (100, 100)]),
                                         LineString([(500, 500), (600, 500)])],
                               crs="EPSG:32650")
    sources = gpd.GeoDataFrame(geometry=[Point(0, 0)], crs="EPSG:32650")
    targets = gpd.GeoDataFrame(geometry=[Point(100, 100), Point(600, 505)], crs="EPSG:32650")
    walk = walk_distance_m(streets, sources, targets)
    assert walk[0] == pytest.approx(200, abs=0.01)
    assert np.isinf(walk[1])


def test_compare_moves():
    s = sample()
    new = s["new"]
    moved = moved_buildings(s["grids"], s["buildings"], new.grids, new.buildings)
    assert len(moved) > 0
    assert (moved["old_grid"] != moved["new_grid"]).all()
    html = page_html(build_view("compare"))
    assert f"{len(moved)} 栋建筑" in html
    assert moved["building_id"].iloc[0] in html


def test_light_geometry_is_rounded_and_ccw():
    s = sample()
    text = feature_collection(s["grids"], ["code"], tolerance_m=0.5)
    data = json.loads(text)
    coords = data["features"][0]["geometry"]["coordinates"]
    ring = np.array(coords[0][0] if data["features"][0]["geometry"]["type"] == "MultiPolygon"
                    else coords[0])
    assert np.allclose(ring, np.round(ring, 6))
    assert shapely.Polygon(ring).exterior.is_ccw


def test_gaode_tiles_shift_layers_to_gcj02():
    s = sample()
    plain = json.loads(feature_collection(s["grids"].head(1), ["code"]))
    shifted = json.loads(feature_collection(s["grids"].head(1), ["code"], datum="gcj02"))
    a = np.array(plain["features"][0]["geometry"]["coordinates"][0][0][0])
    b = np.array(shifted["features"][0]["geometry"]["coordinates"][0][0][0])
    assert 0.001 < np.abs(a - b).max() < 0.01  # a few hundred metres in Nanjing
    html = page_html(grid_plan_map(s["grids"], options=MapOptions(tiles="gaode")))
    assert "autonavi.com" in html  # the configured basemap, and nothing else, is remote
    assert {u.split("/")[2] for u in external_urls(html)} == {"webrd0{s}.is.autonavi.com"}
    with pytest.raises(ValueError, match="Tianditu"):
        grid_plan_map(s["grids"], options=MapOptions(tiles="tianditu"))


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="deviation_pct"):
        grid_plan_map(sample()["grids"].drop(columns=["deviation_pct"]))


def test_standalone_file_has_its_assets_beside_it(tmp_path, map_assets):
    out = save_standalone(build_view("incidents"), tmp_path / "incidents.html")
    html = out.read_text(encoding="utf-8")
    assert external_urls(html) == []
    links = [x for x in re.findall(r'(?:src|href)="([^"]*)"', html) if x != "data:,"]
    assert links and all(link.startswith("incidents_files/") for link in links)
    for link in links:
        assert (tmp_path / link).is_file(), link
    assert (tmp_path / "incidents_files/leaflet/images/layers.png").is_file()


def _wangge_map(argv: list[str]) -> int:
    """Run ``wangge map``/``wangge assets`` as api.cli does (it adds register's commands)."""
    import argparse

    from api.cli.maps import register

    parser = argparse.ArgumentParser(prog="wangge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_each_view(tmp_path, map_assets):
    from gis.export import write_gpkg
    from partition.plan_io import write_plan

    s = sample()
    plan = write_plan(s["plan"], tmp_path / "plan.gpkg")
    new = write_plan(s["new"], tmp_path / "new.gpkg")
    area = write_gpkg(s["layers"], tmp_path / "area.gpkg", None)
    s["workers"].to_csv(tmp_path / "workers.csv", index=False, encoding="gb18030")
    s["zones"].to_file(tmp_path / "zones.geojson")
    s["incidents"].to_file(tmp_path / "incidents.geojson")
    stops = s["stops"].to_crs("EPSG:4326").assign(kind="stop")
    legs = gpd.GeoDataFrame({"kind": "path", "seq": range(len(s["path"]))},
                            geometry=s["path"].to_crs("EPSG:4326").to_numpy(), crs="EPSG:4326")
    route = json.loads(pd.concat([stops, legs]).to_json())
    route.update(worker_id="W000", worker_name="网格员0", distance_m=s["route_m"],
                 duration_s=2400)
    (tmp_path / "route.geojson").write_text(json.dumps(route, ensure_ascii=False))
    runs = {
        "grids": ["--plan", plan, "--area", area, "--workers", tmp_path / "workers.csv"],
        "party-zones": ["--zones", tmp_path / "zones.geojson", "--plan", plan],
        "incidents": ["--incidents", tmp_path / "incidents.geojson", "--lang", "en"],
        "route": ["--route", tmp_path / "route.geojson", "--area", area],
        "coverage": ["--plan", plan, "--workers", tmp_path / "workers.csv", "--zones",
                     tmp_path / "zones.geojson", "--incidents", tmp_path / "incidents.geojson"],
        "compare": ["--plan", new, "--old-plan", plan],
    }
    for view, extra in runs.items():
        out = tmp_path / f"{view}.html"
        assert _wangge_map(["map", view, "--out", str(out), *map(str, extra)]) == 0, view
        html = out.read_text(encoding="utf-8")
        assert external_urls(html) == [], view
        assert (tmp_path / f"{view}_files" / "leaflet" / "leaflet.js").is_file()
    assert "网格员0" in (tmp_path / "grids.html").read_text(encoding="utf-8")
    assert "Open incidents" in (tmp_path / "incidents.html").read_text(encoding="utf-8")
    route_html = (tmp_path / "route.html").read_text(encoding="utf-8")
    assert f"{metres(s['route_m'], 'zh')} · 约 40 分钟" in route_html
    # --area's streets are the offline basemap; a map without --area has none
    assert "wangge.basemap(" in route_html
    assert "wangge.basemap(" not in (tmp_path / "compare.html").read_text(encoding="utf-8")


def test_cli_errors_are_bilingual(tmp_path, capsys):
    out = str(tmp_path / "x.html")
    assert _wangge_map(["map", "compare", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "需要" in err and "needs" in err and "--old-plan" in err
    assert _wangge_map(["map", "grids", "--out", out, "--tiles", "nowhere"]) == 2
    assert "未知底图" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_names_are_data_not_template_or_markup():
    s = sample()
    names = list(s["workers"]["name"])
    workers = s["workers"].assign(name=["{{ 7*7 }}</script><b>x", *names[1:]])
    html = page_html(grid_plan_map(s["grids"], workers=workers))
    assert "{{ 7*7 }}" in html  # not evaluated by Jinja
    assert "</script><b>x" not in html  # escaped inside the script


def test_assets_without_npm_say_so_in_both_languages(tmp_path, monkeypatch):
    from maps.assets import install_assets

    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on the path
    with pytest.raises(AssetsError) as caught:
        install_assets(tmp_path / "data")
    message = str(caught.value)
    assert "找不到 npm" in message and "npm not found" in message
    # what PyPI brings is gathered all the same
    assert (tmp_path / "data/map-assets/leaflet/leaflet.js").is_file()
