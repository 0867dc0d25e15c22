"""partition.plan_io: plans read back under the name the user gave them."""

from __future__ import annotations

import warnings

import geopandas as gpd
import shapely

from gis.export import write_gpkg
from partition.plan_io import read_plan


def test_a_plan_named_without_extension_is_read_without_warnings(tmp_path):
    """`wangge partition --out plan` writes a file named ``plan``; reading it back (``wangge
    rebalance --previous plan``) printed GDAL's 'has GPKG application_id, but non conformant
    file extension' for each layer."""
    grids = gpd.GeoDataFrame({"grid_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)],
                             crs="EPSG:4326")
    buildings = gpd.GeoDataFrame({"building_id": [7], "grid_id": [1]},
                                 geometry=[shapely.box(0.2, 0.2, 0.3, 0.3)], crs="EPSG:4326")
    path = write_gpkg({"grids": grids, "buildings": buildings}, tmp_path / "plan")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        read_grids, read_buildings = read_plan(path)
    assert [str(w.message) for w in seen] == []
    assert read_grids["grid_id"].tolist() == [1]
    assert read_buildings["building_id"].tolist() == ["7"]
