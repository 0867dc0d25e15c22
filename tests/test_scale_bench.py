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
