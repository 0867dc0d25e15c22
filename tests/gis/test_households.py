"""Households per building: the order of sources, estimates, rasters and population."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
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


def _with_copies(**cols) -> gpd.GeoDataFrame:
    """The five slabs, slab b1 traced a second time 0.6 m off (b5), slab b3 traced twice
    more (b6 exact, b7 1 m off), and b8 a 20 m x 30 m block overlapping b4's end by 10 m
    (an annex, not a copy)."""
    gdf = _buildings(**cols)
    extra = [shapely.box(660100.6, 3546000, 660150.6, 3546020),
             shapely.box(660300, 3546000, 660350, 3546020),
             shapely.box(660301, 3546000, 660351, 3546020),
             shapely.box(660440, 3546000, 660470, 3546020)]
    rows = gpd.GeoDataFrame({"building_id": ["b5", "b6", "b7", "b8"], "building": "residential",
                             "levels": np.nan, "height": np.nan, "flats": np.nan,
                             "non_residential_tag": False, "name": None},
                            geometry=extra, crs=UTM50N)
    return classify_residential(gpd.GeoDataFrame(
        pd.concat([gdf, rows], ignore_index=True), crs=UTM50N))


def test_footprint_mapped_twice_counts_its_households_once():
    repairs: list = []
    out = assign_households(_with_copies(), repairs=repairs).set_index("building_id")
    # 1,000 m^2 x 6 floors / 90 m^2 = 67 households, once per building.
    assert out.loc[["b1", "b3"], "households"].tolist() == [67, 67]
    assert out.loc[["b5", "b6", "b7"], "households"].tolist() == [0, 0, 0]
    assert out.loc[["b5", "b6", "b7"], "duplicate_of"].tolist() == ["b1", "b3", "b3"]
    assert (out.loc[["b5", "b6", "b7"], "households_source"] == "duplicate").all()
    assert not out.loc[["b5", "b6", "b7"], "households_estimated"].any()
    assert out.loc[["b0", "b2", "b4", "b8"], "duplicate_of"].isna().all()
    assert out.loc["b8", "households"] == 40  # the annex keeps its own
    assert out["population"].sum() == pytest.approx(out["households"].sum() * 2.62)
    assert len(repairs) == 1 and repairs[0].count == 3
    assert "重复" in repairs[0].what and "counted once" in repairs[0].what


def test_copies_keep_households_the_user_gave():
    gdf = _with_copies()
    gdf["households"] = [np.nan] * 5 + [30, 20, np.nan, np.nan]
    out = assign_households(gdf).set_index("building_id")
    # b5's given 30 stands; its estimated twin b1 is the copy.
    assert out.loc[["b1", "b5"], "households"].tolist() == [0, 30]
    assert out.loc["b1", "duplicate_of"] == "b5"
    # b6 given 20; b3 and b7 were estimated from the same footprint.
    assert out.loc[["b3", "b6", "b7"], "households"].tolist() == [0, 20, 0]
