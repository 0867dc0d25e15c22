"""Dividing a large slab building by unit (单元) when the user asks for it."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
import shapely.affinity

from gis.study_area import load_study_area
from partition.plan import make_plan, rule_violations
from partition.units import unit_strips

UTM50N = "EPSG:32650"


def _estate(tmp_path):
    """A 120 m slab of 6 units and 900 households beside ten 60-household buildings."""
    x, y = 660000.0, 3546000.0
    geoms = [shapely.box(x, y, x + 120, y + 12)]
    geoms += [shapely.box(x + 12 * i, y + 40, x + 12 * i + 10, y + 52) for i in range(10)]
    frame = gpd.GeoDataFrame({"id": [f"b{i}" for i in range(11)], "building": "residential",
                              "households": [900] + [60] * 10, "units": [6] + [1] * 10},
                             geometry=geoms, crs=UTM50N)
    path = tmp_path / "estate.gpkg"
    frame.to_file(path, driver="GPKG")
    return load_study_area(path)


def test_unit_strips_tile_the_footprint():
    slab = shapely.box(0, 0, 120, 12)
    pieces = unit_strips(shapely.affinity.rotate(slab, 30), 6)
    assert len(pieces) == 6
    assert sum(p.area for p in pieces) == pytest.approx(slab.area, rel=1e-3)
    assert all(abs(p.area - slab.area / 6) < 1 for p in pieces)


def test_slab_is_a_building_grid_unless_split_by_unit(tmp_path):
    area = _estate(tmp_path)
    whole = make_plan(area, 300)
    slab_grid = whole.buildings.loc[whole.buildings["building_id"] == "b0", "grid_id"].iloc[0]
    assert (whole.buildings["grid_id"] == slab_grid).sum() == 1

    split = make_plan(area, 300, split_units="units")
    units = split.buildings[split.buildings["building_id"].str.startswith("b0#")]
    assert sorted(units["building_id"]) == [f"b0#{i}" for i in range(1, 7)]
    assert units["households"].sum() == 900
    assert units["grid_id"].nunique() >= 2  # the slab's units serve more than one grid
    assert split.summary["households"] == whole.summary["households"] == 1500
    assert set(rule_violations(split).values()) == {0}, rule_violations(split)
    assert split.summary["max_deviation_pct"] < whole.summary["max_deviation_pct"]
