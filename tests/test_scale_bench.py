"""The city-scale benchmark's own pieces: the synthetic city generator (tiles copied side by
side, renamed, streamed into one GeoPackage) and the cluster simulation (list scheduling)."""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest
import shapely


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    from bench.scale_city import generate_city

    cache = tmp_path_factory.mktemp("scale")
    # 3 copies of 2 distinct 300-building tiles: copy 2 repeats tile 0
    meta = generate_city(900, 5, n_tiles=2, tile_buildings=300, cache=cache, progress=None)
    return cache, meta


def test_city_holds_renamed_translated_copies_of_the_tiles(small_city):
    _, meta = small_city
    path = meta["path"]
    assert meta["copies"] == 3 and meta["distinct_tiles"] == 2
    b = pyogrio.read_dataframe(path, layer="buildings")
    c = pyogrio.read_dataframe(path, layer="communities")
    s = pyogrio.read_dataframe(path, layer="streets")
    assert len(b) == 900 == meta["buildings"]
    assert b.crs.to_epsg() == 4326 and c.crs.to_epsg() == 4326
    assert b["building_id"].is_unique and s["osm_id"].is_unique
    assert {"households", "building", "building:levels"} <= set(b.columns)
    assert int(b["households"].sum()) == meta["households"] > 0
    assert {"highway", "railway", "waterway", "name", "bridge", "tunnel", "layer"} <= set(s.columns)
    # codes: 12 digits, unique, "9" + copy + the district's street and community digits
    assert c["code"].is_unique and c["code"].str.fullmatch(r"\d{12}").all()
    copy_of = c["code"].str[1:6].astype(int)
    assert sorted(copy_of.unique()) == [0, 1, 2]
    assert len(c) == meta["communities"]
    # copies do not overlap, and copy 2 is copy 0 moved (same local codes, same shapes' areas)
    hulls = [shapely.union_all(c.geometry[copy_of == k].values).envelope for k in range(3)]
    assert not any(hulls[i].intersects(hulls[j]) for i in range(3) for j in range(i + 1, 3))
    c["local"] = c["code"].str[6:]
    local0 = c[copy_of == 0].set_index("local")
    local2 = c[copy_of == 2].set_index("local")
    assert list(local0.index) == list(local2.index)
    utm = "EPSG:32650"
    areas0 = local0.to_crs(utm).area.round(0)
    areas2 = local2.to_crs(utm).area.round(0)
    assert (abs(areas0 - areas2) <= 1 + 1e-6 * areas0).all()


def test_city_is_cached_by_size_and_seed(small_city):
    from bench.scale_city import generate_city

    cache, meta = small_city
    again = generate_city(900, 5, n_tiles=2, tile_buildings=300, cache=cache, progress=None)
    assert again["cached"] and again["path"] == meta["path"]
    assert json.loads(Path(meta["path"] + ".json").read_text())["buildings"] == 900


def test_list_scheduling_puts_largest_first_on_least_loaded_core():
    from bench.scale_bench import list_schedule, quantile

    tasks = [{"community": str(i), "buildings": b, "seconds": s}
             for i, (b, s) in enumerate([(100, 10.0), (90, 7.0), (80, 6.0), (10, 4.0), (5, 3.0)])]
    # 2 cores, by buildings: A=10, B=7; 6 onto B (13); 4 onto A (14); 3 onto B (16)
    assert list_schedule(tasks, 2) == 16.0
    assert list_schedule(tasks, 1) == 30.0
    assert list_schedule(tasks, 8) == 10.0
    assert quantile([1, 2, 3, 4], 0.5) == 2.5 and quantile([5.0], 0.95) == 5.0


def _grids_file(path, rows):
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"grid_id": [r[0] for r in rows], "code": [r[0] for r in rows],
         "community": [r[1] for r in rows], "households": [r[2] for r in rows]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(rows))], crs="EPSG:4326")
    frame.to_file(path, layer="grids", driver="GPKG")
    return path


def test_plan_checks_catch_lost_households_duplicate_codes_and_report_unequal_copies(tmp_path):
    from bench.scale_bench import check_plan

    # two copies (00000, 00001) of one tile with one community (001001), distinct_tiles = 1
    a, b = "900000001001", "900001001001"
    store = {"communities": 2, "households": 400,
             "by_community": {a: {"buildings": 5, "households": 200},
                              b: {"buildings": 5, "households": 200}}}
    plan = {"summary": {"grids": 4}, "failures": []}
    tasks = [{"community": a, "grids": 2}, {"community": b, "grids": 2}]
    good = [(a + "001", a, 100), (a + "002", a, 100), (b + "001", b, 120), (b + "002", b, 80)]
    assert check_plan(_grids_file(tmp_path / "ok.gpkg", good), store, plan, tasks, 1)["ok"]

    lost = [*good[:3], (b + "002", b, 70)]
    assert not check_plan(_grids_file(tmp_path / "lost.gpkg", lost), store, plan, tasks, 1)["ok"]

    dup = [*good[:3], (b + "001", b, 80)]
    checks = check_plan(_grids_file(tmp_path / "dup.gpkg", dup), store, plan, tasks, 1)
    assert not checks["codes_unique"] and not checks["ok"]

    unequal = [*good[:2], (b + "001", b, 200)]
    checks = check_plan(_grids_file(tmp_path / "unequal.gpkg", unequal), store,
                        {"summary": {"grids": 3}, "failures": []},
                        [{"community": a, "grids": 2}, {"community": b, "grids": 1}], 1)
    assert checks["tile_communities_differing"] == 1 and checks["ok"]
    assert check_plan(tmp_path / "ok.gpkg", store, plan, tasks, 1)[
        "tile_communities_differing"] == 0

    # a failed community explains its missing grids and households
    failed = {"summary": {"grids": 2}, "failures": [{"community": b, "error": "x"}]}
    checks = check_plan(_grids_file(tmp_path / "failed.gpkg", good[:2]), store, failed,
                        [{"community": a, "grids": 2}], 1)
    assert checks["ok"] and checks["households_failed_communities"] == 200
