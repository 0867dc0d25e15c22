"""Tests for gis.chinese_coords, checked against the maintained PyPI implementation prcoords."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon

from gis.chinese_coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

prcoords = pytest.importorskip("prcoords")

GEOD = Geod(ellps="WGS84")

# (lon, lat) in WGS84.
CITIES = {
    "beijing": (116.3975, 39.9087),
    "shanghai": (121.4737, 31.2304),
    "nanjing": (118.78, 32.04),
    "urumqi": (87.6168, 43.8256),
    "harbin": (126.5349, 45.8038),
    "sanya": (109.5119, 18.2528),
}
OUTSIDE = {"helsinki": (24.94, 60.17), "tokyo": (139.69, 35.69), "sydney": (151.21, -33.87)}


def _china_points() -> tuple[np.ndarray, np.ndarray]:
    """The cities plus 500 random points in China's bounding box (fixed seed)."""
    rng = np.random.default_rng(20240501)
    lon = rng.uniform(73.6, 134.8, 500)
    lat = rng.uniform(18.2, 53.5, 500)
    city_lon, city_lat = np.array(list(CITIES.values())).T
    return np.concatenate([city_lon, lon]), np.concatenate([city_lat, lat])


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(lon1, lat1, lon2, lat2)
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _pr(fn, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a prcoords function (which takes and returns (lat, lon)) point by point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = np.array([fn((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


# ---- forward conversions ---------------------------------------------------------------------


def test_wgs_to_gcj_matches_prcoords():
    lon, lat = _china_points()
    ours = wgs84_to_gcj02(lon, lat)
    ref = _pr(prcoords.wgs_gcj, lon, lat)
    assert np.max(np.abs(ours[0] - ref[0])) < 1e-9
    assert np.max(np.abs(ours[1] - ref[1])) < 1e-9
    # Sanity: the offset is real (hundreds of metres), not an identity.
    shift = _metres(lon, lat, *ours)
    assert shift.min() > 10 and shift.max() < 1500


def test_gcj_to_bd_and_wgs_to_bd_match_prcoords():
    lon, lat = _china_points()
    ours = gcj02_to_bd09(lon, lat)
    ref = _pr(prcoords.gcj_bd, lon, lat)
    assert np.max(np.abs(ours[0] - ref[0])) < 1e-9
    assert np.max(np.abs(ours[1] - ref[1])) < 1e-9
    ours = wgs84_to_bd09(lon, lat)
    ref = _pr(prcoords.wgs_bd, lon, lat)
    assert np.max(np.abs(ours[0] - ref[0])) < 1e-9
    assert np.max(np.abs(ours[1] - ref[1])) < 1e-9


def test_known_value_beijing():
    # Tiananmen, WGS84 -> GCJ-02 as given by prcoords / eviltransform.
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert lon == pytest.approx(116.40624278491117, abs=1e-12)
    assert lat == pytest.approx(39.901403529849404, abs=1e-12)


# ---- inverses --------------------------------------------------------------------------------


def test_gcj_round_trip_is_precise():
    lon, lat = _china_points()
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    err = _metres(lon, lat, *back)
    assert err.max() < 1e-3  # brief: < 0.1 m; we iterate to well under a millimetre
    # The naive one-step inverse is metres off: make sure we are not doing that.
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    naive = _pr(prcoords.gcj_wgs, g_lon, g_lat)
    assert _metres(lon, lat, *naive).max() > 0.5


def test_bd_round_trips_are_precise():
    lon, lat = _china_points()
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert _metres(lon, lat, *back).max() < 1e-3
    back = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert _metres(lon, lat, *back).max() < 1e-3


def test_inverses_agree_with_prcoords_bored():
    lon, lat = _china_points()
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    ours = gcj02_to_wgs84(g_lon, g_lat)
    ref = _pr(prcoords.gcj_wgs_bored, g_lon, g_lat)
    assert _metres(*ours, *ref).max() < 0.1

    b_lon, b_lat = wgs84_to_bd09(lon, lat)
    ours = bd09_to_wgs84(b_lon, b_lat)
    ref = _pr(prcoords.bd_wgs_bored, b_lon, b_lat)
    assert _metres(*ours, *ref).max() < 0.1

    ours = bd09_to_gcj02(b_lon, b_lat)
    ref = _pr(prcoords.bd_gcj_bored, b_lon, b_lat)
    assert _metres(*ours, *ref).max() < 0.1


# ---- outside China, shapes, scalars ----------------------------------------------------------

ALL_FUNCS = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_outside_china_passes_through(func, name):
    lon, lat = OUTSIDE[name]
    assert not in_china(lon, lat)
    assert func(lon, lat) == (lon, lat)


def test_outside_china_matches_prcoords_wgs_gcj():
    for lon, lat in OUTSIDE.values():
        assert _pr(prcoords.wgs_gcj, [lon], [lat]) == ([lon], [lat])


def test_mixed_array_only_converts_china_points():
    lon = np.array([24.94, 116.4, 139.69])
    lat = np.array([60.17, 39.9, 35.69])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon[0] == lon[0] and g_lat[0] == lat[0]
    assert g_lon[2] == lon[2] and g_lat[2] == lat[2]
    assert (g_lon[1], g_lat[1]) == wgs84_to_gcj02(116.4, 39.9)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_scalars_give_floats_and_arrays_keep_shape(func):
    lon, lat = func(116.4, 39.9)
    assert type(lon) is float and type(lat) is float
    grid_lon, grid_lat = np.meshgrid(np.linspace(110, 120, 4), np.linspace(30, 40, 3))
    out_lon, out_lat = func(grid_lon, grid_lat)
    assert out_lon.shape == out_lat.shape == (3, 4)
    # Element-wise and vectorised results agree; a scalar lat broadcasts against lon.
    assert out_lon[1, 2] == func(grid_lon[1, 2], grid_lat[1, 2])[0]
    b_lon, b_lat = func([116.4, 118.78], 32.04)
    assert b_lon.shape == b_lat.shape == (2,)


@pytest.mark.parametrize("func", ALL_FUNCS, ids=lambda f: f.__name__)
def test_result_does_not_depend_on_batch(func):
    # The inverses iterate; each point must stop on its own criterion, not the batch's.
    lon, lat = _china_points()
    all_lon, all_lat = func(lon, lat)
    for i in range(0, lon.size, 37):
        assert func(lon[i], lat[i]) == (all_lon[i], all_lat[i])


def test_extreme_coordinates_pass_through_without_warnings():
    lon = np.array([0.0, -180.0, 180.0, 116.4, 100.0])
    lat = np.array([90.0, -90.0, 0.0, 89.9999, -45.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for func in ALL_FUNCS:
            out_lon, out_lat = func(lon, lat)
            np.testing.assert_array_equal(out_lon, lon)
            np.testing.assert_array_equal(out_lat, lat)


def test_nan_passes_through():
    lon, lat = gcj02_to_wgs84(np.array([116.4, np.nan]), np.array([39.9, 39.9]))
    assert np.isfinite(lon[0]) and np.isnan(lon[1])
    assert lat[1] == 39.9


# ---- GeoDataFrame helper ---------------------------------------------------------------------


def _gcj_frame(crs="EPSG:4326") -> gpd.GeoDataFrame:
    shell = [(118.70, 32.00), (118.85, 32.00), (118.85, 32.10), (118.70, 32.10), (118.70, 32.00)]
    hole = [(118.75, 32.03), (118.78, 32.03), (118.78, 32.06), (118.75, 32.03)]
    geoms = [
        Polygon(shell, [hole]),
        MultiLineString([[(116.30, 39.90), (116.40, 39.95)], [(121.40, 31.20), (121.50, 31.25)]]),
        Point(126.53, 45.80),
        MultiPolygon([Polygon(shell), Polygon([(109.5, 18.2), (109.6, 18.2), (109.6, 18.3)])]),
        LineString([(116.30, 39.90, 50.0), (116.40, 39.95, 60.0)]),
        None,
        Polygon(),
    ]
    return gpd.GeoDataFrame({"name": list("abcdefg")}, geometry=geoms, crs=crs)


@pytest.mark.parametrize(
    ("datum", "point_func"),
    [
        ("gcj02", gcj02_to_wgs84),
        ("GCJ-02", gcj02_to_wgs84),
        ("Gcj02", gcj02_to_wgs84),
        ("bd09", bd09_to_wgs84),
        ("BD-09", bd09_to_wgs84),
    ],
)
@pytest.mark.parametrize("crs", ["EPSG:4326", None, "EPSG:4490"])
def test_to_wgs84_converts_every_vertex(datum, point_func, crs):
    gdf = _gcj_frame(crs)
    before = gdf.copy()
    out = to_wgs84(gdf, datum)

    assert out.crs.to_epsg() == 4326
    assert list(out["name"]) == list(gdf["name"])
    # The input is untouched.
    assert gdf.geometry.to_wkb().equals(before.geometry.to_wkb())

    for src, dst in zip(gdf.geometry, out.geometry, strict=True):
        if src is None:
            assert dst is None
            continue
        assert dst.geom_type == src.geom_type
        assert dst.is_empty == src.is_empty
        assert dst.has_z == src.has_z
        src_xy = shapely.get_coordinates(src, include_z=src.has_z)
        dst_xy = shapely.get_coordinates(dst, include_z=dst.has_z)
        assert src_xy.shape == dst_xy.shape
        if src.is_empty:
            continue
        exp_lon, exp_lat = point_func(src_xy[:, 0], src_xy[:, 1])
        np.testing.assert_array_equal(dst_xy[:, 0], exp_lon)
        np.testing.assert_array_equal(dst_xy[:, 1], exp_lat)
        if src.has_z:
            np.testing.assert_array_equal(dst_xy[:, 2], src_xy[:, 2])
        # The offset was really applied.
        assert np.all(_metres(src_xy[:, 0], src_xy[:, 1], dst_xy[:, 0], dst_xy[:, 1]) > 10)

    poly = out.geometry.iloc[0]
    assert len(poly.interiors) == 1 and poly.is_valid
    assert len(out.geometry.iloc[1].geoms) == 2


def test_to_wgs84_round_trips_with_gcj_forward():
    wgs = gpd.GeoDataFrame(
        geometry=[Polygon([(118.70, 32.00), (118.85, 32.00), (118.85, 32.10)])], crs=4326
    )
    to_gcj = shapely.transform(
        wgs.geometry.values, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
    )
    back = to_wgs84(gpd.GeoDataFrame(geometry=to_gcj, crs=4326), "gcj02")
    src = shapely.get_coordinates(wgs.geometry.values)
    dst = shapely.get_coordinates(back.geometry.values)
    assert _metres(src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]).max() < 1e-3


@pytest.mark.parametrize("datum", ["wgs84", "WGS-84", "WGS84"])
def test_to_wgs84_with_wgs84_datum_is_identity(datum):
    gdf = _gcj_frame(None)
    out = to_wgs84(gdf, datum)
    assert out.crs.to_epsg() == 4326
    assert out.geometry.to_wkb().equals(gdf.geometry.to_wkb())
    assert out.geometry.iloc[5] is None


def test_to_wgs84_keeps_geometry_column_name():
    gdf = _gcj_frame().rename_geometry("geom")
    out = to_wgs84(gdf, "gcj02")
    assert out.geometry.name == "geom"
    assert list(out.columns) == list(gdf.columns)


@pytest.mark.parametrize("datum", ["gcj02", "bd09", "wgs84"])
def test_to_wgs84_rejects_projected_crs(datum):
    gdf = _gcj_frame("EPSG:4326").to_crs("EPSG:32650")
    with pytest.raises(ValueError, match=r"only defined on lon/lat"):
        to_wgs84(gdf, datum)


@pytest.mark.parametrize("datum", ["mars", "epsg:4326", "", "gcj", 4326])
def test_to_wgs84_rejects_unknown_datum(datum):
    with pytest.raises(ValueError) as info:
        to_wgs84(_gcj_frame(), datum)
    message = str(info.value)
    for accepted in ("wgs84", "gcj02", "bd09", "GCJ-02", "BD-09"):
        assert accepted in message


@pytest.mark.parametrize("lon, lat", [(118.78, 32.04), (116.4, 39.9), (-0.1, 51.5),
                                      (151.2, -33.9), (-179.9, 10.0), (179.9, -10.0)])
def test_local_metric_crs_is_geopandas_utm_estimate(lon, lat):
    """gis.crs.local_metric_crs answers what geopandas' estimate_utm_crs does (without its
    PROJ database query), from lon/lat and from a projected frame."""
    from gis.crs import local_metric_crs

    frame = gpd.GeoDataFrame(geometry=[shapely.Point(lon, lat).buffer(0.01)], crs=4326)
    expected = frame.estimate_utm_crs()
    assert local_metric_crs(frame) == expected
    assert local_metric_crs(frame.to_crs(expected)) == expected
    assert local_metric_crs(frame.to_crs(3857)) == expected
