"""Coordinate reference systems: bringing input to WGS84 and choosing a local metric CRS.

Accepted input: EPSG:4326 (WGS84), EPSG:4490 (CGCS2000 lon/lat; it differs from WGS84 by a few
centimetres, so it is taken as is), any projected CRS with a definition (the CGCS2000
Gauss-Krueger zones EPSG:4491-4554 included), and GCJ-02 / BD-09 lon/lat when the caller says
the data is in them. Metric work happens in the UTM zone of the data (metres); storage and APIs
use WGS84 lon/lat (EPSG:4326).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
from pyproj import CRS

from gis.errors import ArgumentError, InputError, Repair

WGS84 = CRS.from_epsg(4326)
DATUMS = ("wgs84", "cgcs2000", "gcj02", "bd09")


def normalise_datum(datum: str) -> str:
    """Map user spellings ("GCJ-02", "bd09", "WGS 84", "EPSG:4490") to one of :data:`DATUMS`."""
    key = datum.lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"epsg4326": "wgs84", "epsg4490": "cgcs2000", "mars": "gcj02", "baidu": "bd09"}
    key = aliases.get(key.replace(":", ""), key)
    if key not in DATUMS:
        raise ArgumentError(
            f"未知坐标系“{datum}”：可选 wgs84、cgcs2000、gcj02、bd09",
            f"unknown coordinate datum '{datum}': use one of wgs84, cgcs2000, gcj02, bd09")
    return key


def _check_lonlat_ranges(gdf: gpd.GeoDataFrame, path: str | Path | None) -> None:
    if gdf.empty:
        return
    bounds = gdf.geometry.bounds
    bad = (
        (bounds["minx"] < -180) | (bounds["maxx"] > 180)
        | (bounds["miny"] < -90) | (bounds["maxy"] > 90)
    )
    if not bad.any():
        return
    first = bad[bad].index[0]
    feature = _feature_label(gdf, first)
    swapped_ok = (
        (bounds["miny"] >= -180) & (bounds["maxy"] <= 180)
        & (bounds["minx"] >= -90) & (bounds["maxx"] <= 90)
    ).all()
    b = bounds.loc[first]
    if swapped_ok:
        raise InputError(
            path,
            f"latitude out of range ({b['miny']:.4f}..{b['maxy']:.4f}): longitude and latitude "
            f"look swapped in all {len(gdf)} features",
            "write coordinates as longitude, latitude (x = lon, y = lat), as GeoJSON "
            "(RFC 7946) requires, or swap the columns before import",
            feature=feature,
            problem_zh=f"纬度超出范围（{b['miny']:.4f}..{b['maxy']:.4f}）："
                       f"{len(gdf)} 个要素的经纬度似乎写反了",
            hint_zh="坐标应为“经度, 纬度”（x=经度，y=纬度），请交换两列后重新导入",
        )
    raise InputError(
        path,
        f"coordinates out of lon/lat range ({b['minx']:.2f}, {b['miny']:.2f}, {b['maxx']:.2f}, "
        f"{b['maxy']:.2f}) for a geographic CRS; {int(bad.sum())} features affected",
        "if the data is projected (metres), give the file its CRS (.prj or the GeoJSON crs "
        "member), e.g. a CGCS2000 Gauss-Krueger zone EPSG:4491-4554",
        feature=feature,
        problem_zh=f"坐标超出经纬度范围，共 {int(bad.sum())} 个要素",
        hint_zh="若数据为投影坐标（米），请为文件补充坐标系（.prj），"
                "如 CGCS2000 高斯-克吕格 EPSG:4491-4554",
    )


def _feature_label(gdf: gpd.GeoDataFrame, index) -> str:
    for col in ("building_id", "id", "osm_id", "OBJECTID", "FID"):
        if col in gdf.columns:
            return f"{col}={gdf.at[index, col]}"
    return f"row {list(gdf.index).index(index) + 1}"


def to_wgs84(
    gdf: gpd.GeoDataFrame,
    path: str | Path | None = None,
    *,
    datum: str = "wgs84",
    repairs: list[Repair] | None = None,
) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 lon/lat degrees, checking coordinates on the way.

    Args:
        gdf: features in any CRS; with no CRS, lon/lat is assumed when the values fit it.
        path: the file the features came from, for error messages.
        datum: for lon/lat input, "wgs84" / "cgcs2000" (taken as is) or "gcj02" / "bd09"
            (shifted back to WGS84).
        repairs: a list that receives a note when a CRS had to be assumed.

    Raises:
        InputError: coordinates out of range or swapped, or projected values with no CRS.
    """
    datum = normalise_datum(datum)
    if gdf.crs is None:
        bounds = gdf.total_bounds
        if np.all(np.abs(bounds[[0, 2]]) <= 180) and np.all(np.abs(bounds[[1, 3]]) <= 90):
            gdf = gdf.set_crs(WGS84)
            if repairs is not None:
                repairs.append(Repair(str(path) if path else None,
                                      "no CRS given; lon/lat WGS84 assumed "
                                      "(未指定坐标系，按 WGS84 经纬度处理)",
                                      len(gdf), []))
        else:
            _check_lonlat_ranges(gdf, path)
    if gdf.crs.is_geographic:
        _check_lonlat_ranges(gdf, path)
        if datum in ("gcj02", "bd09"):
            from gis.chinese_coords import to_wgs84 as shift_to_wgs84

            return shift_to_wgs84(gdf.set_crs(WGS84, allow_override=True), datum)
        if gdf.crs.equals(WGS84):
            return gdf
        return gdf.to_crs(WGS84)
    if datum in ("gcj02", "bd09"):
        raise InputError(
            path,
            f"the data is projected ({gdf.crs.name}) but was declared {datum.upper()}",
            "GCJ-02 and BD-09 are lon/lat only: export the data as lon/lat, or drop the datum",
            problem_zh=f"数据为投影坐标（{gdf.crs.name}），却声明为 {datum.upper()}",
            hint_zh="GCJ-02 和 BD-09 只用于经纬度：请导出经纬度数据，或去掉坐标系声明",
        )
    return gdf.to_crs(WGS84)


def local_metric_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """The UTM zone (metres, WGS 84) that holds the centre of ``gdf``'s bounds (any CRS with a
    definition): what ``gdf.estimate_utm_crs()`` answers, without its query of the PROJ
    database (about 0.2 s a call, paid by every layer of every map page)."""
    if gdf.crs is None:
        return gdf.estimate_utm_crs()  # raises geopandas' own error
    minx, miny, maxx, maxy = gdf.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return gdf.estimate_utm_crs()
    if not CRS.from_user_input(gdf.crs).is_geographic or \
            CRS.from_user_input(gdf.crs).to_epsg() != 4326:
        from pyproj import Transformer

        minx, miny, maxx, maxy = Transformer.from_crs(
            gdf.crs, WGS84, always_xy=True).transform_bounds(minx, miny, maxx, maxy)
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    return _utm_zone(int((lon + 180) // 6) % 60 + 1, lat >= 0)


@cache
def _utm_zone(zone: int, north: bool) -> CRS:
    return CRS.from_epsg((32600 if north else 32700) + zone)
