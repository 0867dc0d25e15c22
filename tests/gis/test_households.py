"""Households per building: the order of sources, estimates, rasters and population."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from gis.buildings import classify_residential
from gis.households import HouseholdOptions, assign_households, floors

UTM50N = "EPSG:32650"  # Nanjing's UTM zone, metres


def _buildings(**cols) -> gpd.GeoDataFrame:
    # Five 20 m x 50 m slabs (1,000 m^2 footprint) 100 m apart.
    geoms = [shapely.box(660000 + 100 * i, 3546000, 660050 + 100 * i, 3546020) for i in range(5)]
    base = {"building_id": [f"b{i}" for i in range(5)], "building": "residential",
            "levels": np.nan, "height": np.nan, "flats": np.nan, "non_residential_tag": False,
            "name": None}
    base.update(cols)
    return classify_residential(gpd.GeoDataFrame(base, geometry=geoms, crs=UTM50N))


def test_sources_in_documented_order(tmp_path):
    csv = tmp_path / "hh.csv"
    csv.write_text("building_id,households\nb0,999\nb1,999\nb2,77\n", encoding="utf-8")
    gdf = _buildings(households=[12, np.nan, np.nan, np.nan, np.nan],
                     flats=[50, 40, np.nan, np.nan, np.nan], levels=[6, 6, 6, 18, np.nan])
    out = assign_households(gdf, HouseholdOptions(csv_path=str(csv)))
    assert out["households"].tolist()[:3] == [12, 40, 77]
    assert out["households_source"].tolist() == ["given", "osm_flats", "csv", "estimated",
                                                 "estimated"]
    assert out["households_estimated"].tolist() == [False, False, False, True, True]
    # 1,000 m^2 x 18 floors / 90 m^2; the last has no levels: 6 floors for residential.
    assert out["households"].tolist()[3:] == [200, 67]


def test_floors_from_levels_height_then_type_default():
    gdf = _buildings(levels=[11, np.nan, np.nan, np.nan, np.nan],
                     height=[np.nan, 54.0, np.nan, np.nan, np.nan],
                     building=["residential", "residential", "house", "yes", "apartments"])
    assert floors(gdf).tolist() == [11, 18, 2, 4, 6]


def test_population_uses_household_size():
    gdf = _buildings(flats=[10, 20, 30, 40, 50])
    assert assign_households(gdf)["population"].tolist() == pytest.approx(
        [26.2, 52.4, 78.6, 104.8, 131.0])
    custom = assign_households(gdf, HouseholdOptions(household_size=3.0))
    assert custom["population"].tolist() == [30, 60, 90, 120, 150]


def test_non_residential_buildings_get_no_households():
    gdf = _buildings(building=["residential", "retail", "school", "yes", "office"], levels=5)
    out = assign_households(gdf)
    assert out["households"].tolist()[1:] == [0, 0, 0, 0]
    assert out["households_source"].iloc[1:].isna().all()


def test_given_households_make_a_building_residential():
    gdf = _buildings(building=["retail"] * 5, households=[0, 8, np.nan, np.nan, np.nan])
    out = assign_households(gdf)
    assert out["residential"].tolist() == [False, True, False, False, False]
    assert out["households"].tolist() == [0, 8, 0, 0, 0]


def test_population_raster_spread_by_floor_area(tmp_path):
    # Two 200 m cells: the first holds b0 (6 floors) and b1 (12 floors), the second b2 and b3;
    # b4 lies outside the raster and falls back to the area estimate.
    path = tmp_path / "pop.tif"
    data = np.array([[900.0, 300.0]], dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", height=1, width=2, count=1, dtype="float32",
                       crs=UTM50N, transform=from_origin(659990, 3546100, 200, 200)) as dst:
        dst.write(data, 1)
    gdf = _buildings(levels=[6, 12, 6, 6, 6])
    out = assign_households(gdf, HouseholdOptions(raster_path=str(path)))
    # Cell 1: 900 people shared 1:2 by floor area -> 300 and 600 -> /2.62 households.
    assert out["households"].tolist()[:2] == [round(300 / 2.62), round(600 / 2.62)]
    assert out["households"].tolist()[2:4] == [round(150 / 2.62)] * 2
    assert out["households_source"].tolist() == ["raster"] * 4 + ["estimated"]
    assert out["households_estimated"].all()


def test_needs_metric_crs():
    with pytest.raises(ValueError, match="projected CRS"):
        assign_households(_buildings().to_crs("EPSG:4326"))
