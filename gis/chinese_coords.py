"""Conversions between WGS84 and the Chinese map-vendor datums GCJ-02 and BD-09.

Maps published in mainland China must not show true WGS84 positions. Coordinates from Chinese
map vendors are therefore shifted by deliberate, non-linear offsets:

* **GCJ-02** ("Mars coordinates", 国测局坐标) is WGS84 plus a smooth, position-dependent offset
  of up to about 700 m (typically 150-600 m), given by a leaked formula on the Krasovsky 1940
  ellipsoid. Gaode/AMap, Tencent, Apple Maps in China and Google Maps' China tiles use it.
* **BD-09** (百度坐标) is GCJ-02 with a further shift and small rotation (about 0.0065° in
  longitude and 0.006° in latitude) used by Baidu Maps.

All functions take and return longitude/latitude **in degrees**, longitude first, as scalars or
numpy arrays (any shape; lon and lat are broadcast together). Scalars in give floats out.

Points outside China get no offset: a point is "in China" when
``72.004 <= lon <= 137.8347`` and ``0.8293 <= lat <= 55.8271`` (bounds inclusive), the rough
bounding box used by prcoords and eviltransform. The test is made on each function's *input*
and then every step of that function is applied or skipped as a whole, so all six functions
are the identity outside the box. (prcoords applies the GCJ-02 -> BD-09 step everywhere; we
do not.) Within about 0.01° of the box's edges, which lie outside China's territory, the
shifted point can fall on the other side of the box and a round trip is then not exact.

Accuracy: the forward conversions are the closed-form formulas, so they agree with prcoords to
floating-point rounding (~1e-13°). There is no closed-form inverse; the naive one-step inverse
is off by up to ~5 m (median ~0.7 m). The inverses here iterate the forward formula to a fixed
point until the correction falls below 1e-12° (~0.1 µm), so a round trip is exact to well under
a millimetre (measured: < 1e-8 m over a million random points in China).
The accuracy of converted vendor data is limited by the data (the official GCJ-02 encoder is
reported to add noise of a few metres), not by these conversions.

:func:`to_wgs84` converts every vertex of a GeoDataFrame's geometries to WGS84.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from gis.errors import ArgumentError

__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, on which the GCJ-02 offsets (in metres) are turned into degrees.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323  # e^2 = 2f - f^2 with f = 1/298.3

# Baidu's constant shifts (degrees) and the radian factor of its wobble terms.
_BD_DLON = 0.0065
_BD_DLAT = 0.0060
_BD_X_PI = np.pi * 3000.0 / 180.0

# The bounding box outside of which no offset is applied (same as prcoords / eviltransform).
_CHINA_LON_MIN, _CHINA_LON_MAX = 72.004, 137.8347
_CHINA_LAT_MIN, _CHINA_LAT_MAX = 0.8293, 55.8271

# Fixed-point iteration of the inverses: stop when the largest correction is below _TOL degrees.
_TOL = 1e-12
_MAX_ITER = 30

DATUMS = ("wgs84", "gcj02", "bd09")
"""Datum names accepted by :func:`to_wgs84` (also spelled e.g. "WGS-84", "GCJ-02", "BD-09")."""

Coord = float | npt.NDArray[np.float64]
_Pair = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair:
    lon_a, lat_a = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon_a, lat_a


def _out(lon: np.ndarray, lat: np.ndarray) -> tuple[Coord, Coord]:
    """Return floats for 0-d results, arrays otherwise."""
    if lon.ndim == 0:
        return float(lon), float(lat)
    return lon, lat


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (
        (lon >= _CHINA_LON_MIN)
        & (lon <= _CHINA_LON_MAX)
        & (lat >= _CHINA_LAT_MIN)
        & (lat <= _CHINA_LAT_MAX)
    )


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> bool | npt.NDArray[np.bool_]:
    """True where (lon, lat) is inside the box in which the offsets are applied."""
    mask = _in_china(*_as_arrays(lon, lat))
    return bool(mask) if mask.ndim == 0 else mask


def _wgs_to_gcj_raw(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """GCJ-02 forward formula, applied everywhere."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = 2.0 * np.sin(x * 6.0 * np.pi) + 2.0 * np.sin(x * 2.0 * np.pi)
    # Offsets as arc lengths in metres.
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + (
            common
            + 2.0 * np.sin(y * np.pi)
            + 4.0 * np.sin(y / 3.0 * np.pi)
            + 16.0 * np.sin(y / 12.0 * np.pi)
            + 32.0 * np.sin(y / 30.0 * np.pi)
        )
        * 20.0
        / 3.0
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + (
            common
            + 2.0 * np.sin(x * np.pi)
            + 4.0 * np.sin(x / 3.0 * np.pi)
            + 15.0 * np.sin(x / 12.0 * np.pi)
            + 30.0 * np.sin(x / 30.0 * np.pi)
        )
        * 20.0
        / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    # Length of one degree of latitude / longitude on the Krasovsky ellipsoid, in metres.
    lat_deg_len = np.radians(_GCJ_A * (1.0 - _GCJ_EE) / magic**1.5)
    lon_deg_len = np.radians(_GCJ_A * np.cos(rad_lat) / np.sqrt(magic))
    return lon + dlon_m / lon_deg_len, lat + dlat_m / lat_deg_len


def _gcj_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """BD-09 forward formula, applied everywhere."""
    r = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return r * np.cos(theta) + _BD_DLON, r * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_rough(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """The usual one-step BD-09 inverse (~1e-7 degrees off)."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    r = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return r * np.cos(theta), r * np.sin(theta)


def _fixed_point_inverse(
    forward: Callable[[np.ndarray, np.ndarray], _Pair],
    lon: np.ndarray,
    lat: np.ndarray,
    start: _Pair,
) -> _Pair:
    """Solve forward(x) == (lon, lat) for x (1-d arrays), starting from `start`.

    Each step moves x by the remaining residual. The offsets' derivatives are small (< ~0.02),
    so the error shrinks by a factor of 50 or more per step. A point stops moving as soon as its
    own step is below _TOL, so its result does not depend on the other points in the batch.
    """
    x_lon = np.array(start[0], dtype=np.float64, copy=True)
    x_lat = np.array(start[1], dtype=np.float64, copy=True)
    active = np.flatnonzero(np.isfinite(x_lon) & np.isfinite(x_lat))
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        f_lon, f_lat = forward(x_lon[active], x_lat[active])
        d_lon = f_lon - lon[active]
        d_lat = f_lat - lat[active]
        x_lon[active] -= d_lon
        x_lat[active] -= d_lat
        active = active[np.maximum(np.abs(d_lon), np.abs(d_lat)) > _TOL]
    return x_lon, x_lat


def _gcj_to_wgs_raw(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    g_lon, g_lat = _wgs_to_gcj_raw(lon, lat)
    start = (2.0 * lon - g_lon, 2.0 * lat - g_lat)  # the naive one-step inverse
    return _fixed_point_inverse(_wgs_to_gcj_raw, lon, lat, start)


def _bd_to_gcj_raw(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    return _fixed_point_inverse(_gcj_to_bd_raw, lon, lat, _bd_to_gcj_rough(lon, lat))


def _where_china(
    lon: np.ndarray, lat: np.ndarray, convert: Callable[[np.ndarray, np.ndarray], _Pair]
) -> tuple[Coord, Coord]:
    """Apply `convert` to the points in China, pass the others through."""
    out_lon = lon.astype(np.float64, copy=True).reshape(-1)
    out_lat = lat.astype(np.float64, copy=True).reshape(-1)
    mask = _in_china(out_lon, out_lat)
    if mask.any():
        out_lon[mask], out_lat[mask] = convert(out_lon[mask], out_lat[mask])
    return _out(out_lon.reshape(lon.shape), out_lat.reshape(lat.shape))


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """WGS84 -> GCJ-02 (degrees). Identity outside China."""
    return _where_china(*_as_arrays(lon, lat), _wgs_to_gcj_raw)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 -> WGS84 (degrees), iterated to < 1e-12 degrees. Identity outside China."""
    return _where_china(*_as_arrays(lon, lat), _gcj_to_wgs_raw)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """GCJ-02 -> BD-09 (degrees). Identity outside China."""
    return _where_china(*_as_arrays(lon, lat), _gcj_to_bd_raw)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """BD-09 -> GCJ-02 (degrees), iterated to < 1e-12 degrees. Identity outside China."""
    return _where_china(*_as_arrays(lon, lat), _bd_to_gcj_raw)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """WGS84 -> BD-09 (degrees). Identity outside China (tested on the WGS84 input)."""
    return _where_china(*_as_arrays(lon, lat), lambda x, y: _gcj_to_bd_raw(*_wgs_to_gcj_raw(x, y)))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Coord, Coord]:
    """BD-09 -> WGS84 (degrees), both steps iterated. Identity outside China (tested on input)."""
    return _where_china(*_as_arrays(lon, lat), lambda x, y: _gcj_to_wgs_raw(*_bd_to_gcj_raw(x, y)))


def _normalise_datum(datum: str) -> str:
    key = "".join(ch for ch in datum.lower() if ch not in " -_") if isinstance(datum, str) else None
    if key not in DATUMS:
        raise ArgumentError(
            f"未知坐标系 {datum!r}：可选 wgs84、gcj02、bd09（不区分大小写，也可写 WGS-84、GCJ-02、"
            "BD-09）",
            f"unknown datum {datum!r}: accepted values are 'wgs84', 'gcj02' and 'bd09' "
            "(case-insensitive; 'WGS-84', 'GCJ-02' and 'BD-09' are also accepted)")
    return key


_TO_WGS84: dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], tuple[Coord, Coord]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` with every vertex of its active geometry column in WGS84.

    `datum` names the datum the coordinates are really in: "wgs84", "gcj02" or "bd09"
    (case-insensitive, "GCJ-02" / "BD-09" also accepted). It wins over the CRS label: GCJ-02
    and BD-09 data are usually tagged EPSG:4326 although they are not WGS84. The input must be
    lon/lat in degrees (a geographic CRS or none); the result's CRS is EPSG:4326. Points, lines,
    polygons with holes and multi-part geometries are all converted; Z values are kept and
    None / empty geometries pass through. Other geometry columns are left as they are.

    Raises:
        ValueError: unknown `datum`, or `gdf` has a projected (non lon/lat) CRS.
    """
    key = _normalise_datum(datum)
    crs = gdf.crs
    if crs is not None and not crs.is_geographic:
        raise ArgumentError(
            f"to_wgs84 需要经纬度坐标（度），而数据的坐标系是 {crs.name!r}："
            "GCJ-02/BD-09 只定义在经纬度上，请先把数据转换为其经纬度坐标系",
            f"to_wgs84 needs lon/lat coordinates in degrees, but the data's CRS is {crs.name!r} "
            f"({'projected' if crs.is_projected else 'not geographic'}): GCJ-02/BD-09 are only "
            "defined on lon/lat, so convert the data to its lon/lat CRS first"
        )
    out = gdf.copy()
    name = out.geometry.name
    geoms = np.asarray(out.geometry.values)
    if key in _TO_WGS84:
        convert = _TO_WGS84[key]

        def transform(coords: np.ndarray) -> np.ndarray:
            lon, lat = convert(coords[:, 0], coords[:, 1])
            res = coords.copy()
            res[:, 0] = lon
            res[:, 1] = lat
            return res

        # include_z=True keeps each geometry's own dimensionality (2D stays 2D).
        geoms = shapely.transform(geoms, transform, include_z=True)
    out[name] = gpd.GeoSeries(geoms, index=out.index, crs="EPSG:4326")
    return out.set_crs("EPSG:4326", allow_override=True)
