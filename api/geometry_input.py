"""Checking geometries sent to the API: GeoJSON geometry objects in WGS84 lon/lat."""

from __future__ import annotations

import shapely
from shapely.geometry import mapping, shape

from api.errors import ApiError
from api.settings import Settings
from api.store.spatial import vertex_count


def parse_geometry(geojson: dict, settings: Settings, kinds: tuple[str, ...],
                   what: str = "geometry") -> shapely.Geometry:
    """A shapely geometry from a GeoJSON geometry object, checked for type, validity,
    lon/lat ranges and the vertex limit; polygon outer rings made counter-clockwise."""
    try:
        geom = shape(geojson)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise ApiError(422, "bad_geometry", f"{what} 不是有效的 GeoJSON 几何：{exc}",
                       f"{what} is not a valid GeoJSON geometry: {exc}") from exc
    if geom.geom_type not in kinds:
        raise ApiError(422, "bad_geometry",
                       f"{what} 类型应为 {'/'.join(kinds)}，收到 {geom.geom_type}",
                       f"{what} must be {'/'.join(kinds)}, got {geom.geom_type}")
    n = vertex_count(geom)
    if n > settings.max_vertices:
        raise ApiError(413, "too_many_vertices",
                       f"{what} 有 {n} 个顶点，超过上限 {settings.max_vertices}，请先简化",
                       f"{what} has {n} vertices, more than the limit of {settings.max_vertices}:"
                       " simplify it first")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ApiError(422, "bad_geometry", f"{what} 坐标超出经纬度范围（需 WGS84 经度,纬度）",
                       f"{what} coordinates outside lon/lat ranges (WGS84 lon,lat expected)")
    if not geom.is_valid:
        raise ApiError(422, "bad_geometry",
                       f"{what} 无效（自相交等）：{shapely.is_valid_reason(geom)}",
                       f"{what} is invalid: {shapely.is_valid_reason(geom)}")
    return shapely.orient_polygons(geom, exterior_cw=False) if "Polygon" in geom.geom_type \
        else geom


def geometry_json(geom) -> dict | None:
    """``geom`` (shapely) as a GeoJSON geometry dict; None for None."""
    return None if geom is None else mapping(geom)
