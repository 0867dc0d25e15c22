"""Geometries made light for the browser: simplified in metres, rounded, in the display datum.

Inputs are GeoDataFrames in any CRS with a definition; output is GeoJSON (RFC 7946 lon/lat,
counter-clockwise outer rings) in WGS84, or shifted to GCJ-02 when the basemap is Gaode's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.chinese_coords import wgs84_to_gcj02
from gis.crs import local_metric_crs
from gis.errors import ArgumentError

DECIMALS = 6  # 1e-6 degree is about 0.1 m: below what a street map shows


def require_columns(gdf: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a bilingual ValueError naming the columns ``what`` lacks (and, for a
    GeoDataFrame, when it has no CRS)."""
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise ArgumentError(f"{what} 缺少列：{', '.join(missing)}"
                            f"（现有：{', '.join(map(str, gdf.columns))}）",
                            f"{what} lacks the columns: {', '.join(missing)} "
                            f"(has: {', '.join(map(str, gdf.columns))})")
    if isinstance(gdf, gpd.GeoDataFrame) and len(gdf) and gdf.crs is None:
        raise ArgumentError(f"{what} 没有坐标参考系：请设置（经纬度用 EPSG:4326）",
                            f"{what} has no CRS: set one (EPSG:4326 for lon/lat)")


def simplify_metric(gdf: gpd.GeoDataFrame, tolerance_m: float,
                    coverage: bool = False) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 with its geometries simplified in the local UTM zone.

    Plain: Douglas-Peucker by ``tolerance_m`` metres, each geometry on its own (its topology
    kept). ``coverage``: the polygons tile the area (grids), so they are simplified together
    with shapely.coverage_simplify (Visvalingam-Whyatt; ``tolerance_m`` is about the square
    root of the triangle areas removed) and shared edges stay shared: no gaps or overlaps
    appear between neighbours. Zero tolerance only reprojects.
    """
    if len(gdf) == 0 or tolerance_m <= 0:
        return gdf.to_crs("EPSG:4326")
    metric = gdf.to_crs(local_metric_crs(gdf))
    geoms = np.asarray(metric.geometry.values)
    simplified = None
    if coverage:
        try:
            simplified = shapely.coverage_simplify(geoms, tolerance_m)
        except shapely.errors.GEOSException:  # not a valid coverage: each on its own
            simplified = None
    if simplified is None:
        simplified = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    metric = metric.set_geometry(gpd.GeoSeries(simplified, index=metric.index, crs=metric.crs))
    return metric.to_crs("EPSG:4326")


def display_geometry(geoms: np.ndarray, datum: str) -> np.ndarray:
    """WGS84 geometries rounded to :data:`DECIMALS`, shifted to GCJ-02 when ``datum`` is
    "gcj02" (so they line up with a Gaode basemap), outer rings counter-clockwise."""

    def transform(coords: np.ndarray) -> np.ndarray:
        if datum == "gcj02":
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            coords = np.column_stack([lon, lat])
        return np.round(coords, DECIMALS)

    out = shapely.transform(geoms, transform)
    return shapely.orient_polygons(out, exterior_cw=False)


def _jsonable(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, str | int) else str(value)


def feature_collection(gdf: gpd.GeoDataFrame, properties: Iterable[str], *,
                       tolerance_m: float = 0.0, coverage: bool = False,
                       datum: str = "wgs84") -> str:
    """A light GeoJSON FeatureCollection of ``gdf`` holding only ``properties``, as JSON text.

    Args:
        gdf: features in any defined CRS; rows with empty or missing geometry are left out.
        properties: the columns to keep (as JSON values; NaN becomes null).
        tolerance_m: simplification tolerance in metres (0: none).
        coverage: the polygons tile the area; simplify them together (see simplify_metric).
        datum: "wgs84" or "gcj02" (the basemap's datum).
    """
    props = list(properties)
    if len(gdf) == 0:
        return '{"type":"FeatureCollection","features":[]}'
    light = simplify_metric(gdf, tolerance_m, coverage)
    light = light[~(light.geometry.isna() | light.geometry.is_empty)]
    geoms = display_geometry(np.asarray(light.geometry.values), datum)
    geo_json = shapely.to_geojson(geoms)
    columns = [light[c].tolist() for c in props]
    features = []
    for i, geometry in enumerate(geo_json):
        values = {name: _jsonable(col[i]) for name, col in zip(props, columns, strict=True)}
        values = {k: v for k, v in values.items() if v is not None}  # missing reads as empty
        features.append(f'{{"type":"Feature","properties":'
                        f'{json.dumps(values, ensure_ascii=False)},"geometry":{geometry}}}')
    text = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
    return text.replace("</", "<\\/")  # still JSON, and cannot end the <script> it sits in


def bounds_latlon(*frames: gpd.GeoDataFrame) -> list[list[float]] | None:
    """[[south, west], [north, east]] around all non-empty ``frames`` (WGS84), or None."""
    boxes = [f.to_crs("EPSG:4326").total_bounds for f in frames if f is not None and len(f)]
    boxes = [b for b in boxes if np.all(np.isfinite(b))]
    if not boxes:
        return None
    arr = np.array(boxes)
    return [[float(arr[:, 1].min()), float(arr[:, 0].min())],
            [float(arr[:, 3].max()), float(arr[:, 2].max())]]


PACK_SCALE = 10 ** DECIMALS  # packed coordinates are integers of 1e-6 degree


def packed_polygons(gdf: gpd.GeoDataFrame, id_column: str, value_column: str, *,
                    tolerance_m: float = 0.0, datum: str = "wgs84") -> str:
    """Many polygons (building footprints) as one compact JSON object, much smaller and
    faster to read in a browser than a GeoJSON FeatureCollection of as many features.

    The same geometry as :func:`feature_collection` (simplified by ``tolerance_m`` metres,
    in ``datum``, rounded to 1e-6 degree), packed as integers of 1e-6 degree::

        {"scale": 1000000, "origin": [x0, y0],
         "ids": [...], "values": [...],   # id_column and value_column of each feature
         "rings": [...],                  # per feature: its number of rings
         "sizes": [...],                  # per ring: its number of vertices (not closed)
         "coords": [dx, dy, ...]}         # each vertex minus the one before (the first
                                          # minus origin), across rings and features

    A feature's rings are its polygons' exteriors and holes in order; drawn with the
    even-odd rule they give the polygons. Rows with empty or missing geometry are left out.

    Args:
        gdf: polygons in any defined CRS.
        id_column: the column naming each feature (as text).
        value_column: a numeric column kept with each feature (NaN as 0).
        tolerance_m: simplification tolerance in metres (0: none).
        datum: "wgs84" or "gcj02" (the basemap's datum).
    """
    require_columns(gdf, [id_column, value_column], "polygons")
    empty = {"scale": PACK_SCALE, "origin": [0, 0], "ids": [], "values": [], "rings": [],
             "sizes": [], "coords": []}
    if len(gdf) == 0:
        return json.dumps(empty)
    light = simplify_metric(gdf, tolerance_m)
    light = light[~(light.geometry.isna() | light.geometry.is_empty)]
    if len(light) == 0:
        return json.dumps(empty)
    geoms = display_geometry(np.asarray(light.geometry.values), datum)
    polygons, feature_of = shapely.get_parts(geoms, return_index=True)
    rings, polygon_of = shapely.get_rings(polygons, return_index=True)
    ring_counts = np.bincount(feature_of[polygon_of], minlength=len(geoms))
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    per_ring = np.bincount(ring_of, minlength=len(rings))
    closing = np.cumsum(per_ring) - 1  # each ring's repeated first vertex
    keep = np.ones(len(coords), dtype=bool)
    keep[closing[per_ring > 0]] = False
    ints = np.rint(coords[keep] * PACK_SCALE).astype(np.int64)
    origin = ints[0] if len(ints) else np.zeros(2, dtype=np.int64)
    deltas = np.diff(ints, axis=0, prepend=origin[None, :])
    values = pd.to_numeric(light[value_column], errors="coerce").fillna(0)
    return json.dumps({
        "scale": PACK_SCALE, "origin": [int(origin[0]), int(origin[1])],
        "ids": [str(v) for v in light[id_column].tolist()],
        "values": [int(v) if float(v).is_integer() else round(float(v), 4)
                   for v in values.tolist()],
        "rings": ring_counts.tolist(), "sizes": np.maximum(per_ring - 1, 0).tolist(),
        "coords": deltas.ravel().tolist()}, ensure_ascii=False, separators=(",", ":"))
