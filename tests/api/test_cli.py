"""The wangge command line: import and demo."""

from __future__ import annotations

import json
import shutil
import subprocess

import pyogrio
import pytest
import shapely

from api.cli import main


def test_import_nanjing_prints_the_report(nanjing_path, capsys):
    assert main(["import", str(nanjing_path)]) == 0
    out = capsys.readouterr().out
    for expected in ("建筑 buildings: 1271 (住宅 residential", "户数 households:",
                     "已知 given 0, 估算 estimated", "人口 population:",
                     "456 nodes 节点, 1316 edges 边, 81.56 km", "障碍线 barrier lines:",
                     "社区 communities: 1", "修复 repairs: 2",
                     "4 relations with members outside the file dropped",
                     "© OpenStreetMap contributors, ODbL 1.0"):
        assert expected in out


def test_import_json_and_geopackage(nanjing_path, tmp_path, capsys):
    gpkg = tmp_path / "nanjing.gpkg"
    assert main(["import", str(nanjing_path), "--json", "--out", str(gpkg)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["buildings"] == summary["residential"] + summary["other"] == 1271
    assert summary["households"] == summary["households_given"] + summary["households_estimated"]
    assert summary["street_nodes"] == 456 and summary["street_edges"] == 1316
    layers = dict(pyogrio.list_layers(gpkg))
    # green: parks and woods for the basemap of maps drawn from the file (gis.basemap)
    assert set(layers) == {"buildings", "streets", "barriers", "communities", "green",
                           "attribution"}
    buildings = pyogrio.read_dataframe(gpkg, layer="buildings")
    assert len(buildings) == 1271 and buildings.crs.to_epsg() == 4326
    assert buildings["households"].sum() == summary["households"]
    attribution = pyogrio.read_dataframe(gpkg, layer="attribution", read_geometry=False)
    assert attribution["attribution"][0] == "© OpenStreetMap contributors, ODbL 1.0"


def test_demo_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-serve"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "ODbL" in printed
    for name in ("study_area.gpkg", "buildings.geojson", "streets.geojson", "barriers.geojson",
                 "communities.geojson", "summary.json", "plan.gpkg", "grids.geojson"):
        assert (out / name).stat().st_size > 0
    geo = json.loads((out / "buildings.geojson").read_text(encoding="utf-8"))
    assert geo["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert len(geo["features"]) > 2000
    # RFC 7946: counter-clockwise outer rings.
    rings = [f["geometry"]["coordinates"][0] for f in geo["features"]
             if f["geometry"]["type"] == "Polygon"]
    assert all(shapely.LinearRing(r).is_ccw for r in rings)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["households"] > 0 and summary["street_nodes"] > 0
    assert summary["plan"]["grids"] > 40 and summary["plan"]["non_contiguous"] == 0


def test_served_demo_plans_the_district_once(tmp_path, monkeypatch):
    """`wangge demo` planned the district for its files, then again for the store; the files
    now come from the store's plan, and a second run plans nothing."""
    import uvicorn

    import partition.plan

    calls = []
    make_plan = partition.plan.make_plan
    monkeypatch.setattr(partition.plan, "make_plan",
                        lambda *a, **k: calls.append(1) or make_plan(*a, **k))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    out = tmp_path / "demo"
    for _ in range(2):
        assert main(["demo", "--out", str(out)]) == 0
    assert len(calls) == 1
    grids = pyogrio.read_dataframe(out / "plan.gpkg", layer="grids")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert len(grids) == summary["plan"]["grids"] > 40


@pytest.mark.skipif(shutil.which("wangge") is None, reason="console script not installed")
def test_console_script_is_installed():
    result = subprocess.run(["wangge", "--help"], capture_output=True, text=True, check=True)
    assert "import" in result.stdout and "demo" in result.stdout


def test_partition_command_and_rebalance(tmp_path, capsys):
    from tests.synthetic import write_district_osm

    district = tmp_path / "district.osm"
    write_district_osm(district, 300, seed=7)
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(district), "--out", str(plan), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["grids"] > 5 and summary["non_contiguous"] == 0
    assert summary["barrier_violations"] == 0 and summary["community_violations"] == 0
    assert {"grids", "buildings", "plan_summary"} <= set(dict(pyogrio.list_layers(plan)))
    grids = pyogrio.read_dataframe(plan, layer="grids")
    lock = grids["grid_id"].iloc[0]
    again, moves = tmp_path / "again.gpkg", tmp_path / "moves.csv"
    assert main(["partition", str(district), "--previous", str(plan), "--lock", lock,
                 "--moves", str(moves), "--out", str(again)]) == 0
    out = capsys.readouterr().out
    assert "0 households moved" in out and "grids kept" in out
    assert moves.read_text(encoding="utf-8-sig").startswith("building_id,from_grid,to_grid")
    assert main(["partition", str(district), "--lock", lock, "--out", str(again)]) == 2
    assert main(["partition", str(district), "--previous", str(plan), "--lock", "nope",
                 "--out", str(again)]) == 2
    assert "locked grids not in the previous plan: nope" in capsys.readouterr().err


def test_partition_names_the_groups_whose_work_ran_out(tmp_path, capsys):
    """A budget too small for the area: the summary names each stopped group by its
    community and grid codes (as written in the plan), and says how to give more."""
    from tests.synthetic.irregular import write_irregular_district

    d = write_irregular_district(tmp_path / "c.osm", 600, buildings=1000, style="curved")
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(d.path), "--time-limit", "0.5", "--workers", "1",
                 "--out", str(plan)]) == 0
    out = capsys.readouterr().out
    codes = set(pyogrio.read_dataframe(plan, layer="grids")["grid_id"].astype(str))
    stopped = [line for line in out.splitlines() if line.startswith("  社区 community ")]
    assert stopped and "ran out in" in out and "--time-limit SECONDS" in out
    for line in stopped:
        listed = line.split("(")[1].split(")")[0].split(" …")[0].split(", ")
        assert set(listed) <= codes


def test_partition_where_every_community_fails_reports_them_all(tmp_path, capsys,
                                                                monkeypatch):
    """Every community's division failing (here: made to fail) is reported in Chinese and
    English with exit status 3 and a plan file without grids, not a raw traceback (the grid
    numbering raised TypeError on no labels)."""
    from partition import divide
    from tests.synthetic import write_district_osm

    def fails(*args, **kwargs):
        raise RuntimeError("made to fail")

    monkeypatch.setattr(divide, "_improve", fails)
    district = tmp_path / "district.osm"
    write_district_osm(district, 300, seed=7)
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(district), "--out", str(plan), "--workers", "1"]) == 3
    captured = capsys.readouterr()
    assert "划分失败" in captured.err and "could not be divided" in captured.err
    assert "nan" not in captured.out
    assert len(pyogrio.read_dataframe(plan, layer="grids")) == 0


def test_partition_of_vector_buildings_with_osm_streets(nanjing_path, tmp_path, capsys):
    """Buildings from a GeoPackage carrying households, streets and barriers from OSM."""
    from gis.study_area import load_study_area

    area = load_study_area(nanjing_path)
    homes = area.layer_wgs84("buildings")
    homes = homes[homes["residential"]][["building_id", "building", "households", "geometry"]]
    homes["households"] = (homes["households"] // 2).clip(lower=1)  # "given" by the user
    source = tmp_path / "homes.gpkg"
    homes.to_file(source, driver="GPKG")
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(source), "--streets", str(nanjing_path), "--out", str(plan),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["households"] == int(homes["households"].sum())
    assert summary["barrier_violations"] == 0 and summary["non_contiguous"] == 0
    buildings = pyogrio.read_dataframe(plan, layer="buildings")
    assert set(buildings["households_source"]) == {"given"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_plan_workers_and_maps(tmp_path):
    """README command 1: `wangge demo` fills a store on first run and serves it."""
    import re
    import time

    import httpx

    port = _free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        server = subprocess.Popen([shutil.which("wangge"), "demo", "--out", str(tmp_path / "d"),
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/docs", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        else:
            pytest.fail(f"the demo service did not start: {log.read_text()}")
        token = re.search(r"wg_[\w-]+", log.read_text()).group(0)
        auth = {"Authorization": f"Bearer {token}"}
        grids = httpx.get(f"{base}/grids", headers=auth, timeout=30).json()
        assert len(grids["features"]) >= 40
        workers = httpx.get(f"{base}/workers", headers=auth, timeout=30).json()
        assert len(workers) >= 10
        page = httpx.get(f"{base}/maps/grids", auth=("admin", token), timeout=60)
        assert page.status_code == 200 and "leaflet" in page.text
        api_401 = httpx.get(f"{base}/grids", timeout=10)
        assert api_401.status_code == 401
        assert api_401.headers["www-authenticate"] == "Bearer"
        # A browser is asked for a password (the token) on the map pages.
        page_401 = httpx.get(f"{base}/maps/grids", timeout=10)
        assert page_401.status_code == 401
        assert page_401.headers["www-authenticate"].startswith("Basic")
    finally:
        server.terminate()
        server.wait(timeout=30)
