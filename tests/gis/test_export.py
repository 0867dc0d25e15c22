"""gis.export: GeoPackages written atomically, under the name the user gave."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pyogrio
import shapely

from gis.export import write_gpkg


def test_a_gpkg_named_without_extension_is_written_without_warnings(tmp_path):
    """`wangge partition --out plan` printed GDAL's warning about the temporary file's
    extension ('has GPKG application_id, but non conformant file extension')."""
    layer = gpd.GeoDataFrame({"grid_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)],
                             crs="EPSG:4326")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        path = write_gpkg({"grids": layer}, tmp_path / "plan", "© OpenStreetMap contributors")
    assert [str(w.message) for w in seen] == []
    assert path == tmp_path / "plan" and [p.name for p in tmp_path.iterdir()] == ["plan"]
    assert {name for name, _ in pyogrio.list_layers(path)} == {"grids", "attribution"}
    assert pyogrio.read_dataframe(path, layer="grids")["grid_id"].tolist() == [1]
