"""Reading a worker's GPS track: GPX 1.1 or GeoJSON, in WGS84, GCJ-02 or BD-09.

- GPX 1.1 through ``gpxpy`` (maintained, MIT): every ``trkpt`` of every track and segment, its
  ``time`` (GPX times are UTC; a time without zone is taken as UTC, as the format says) and
  ``hdop`` (accuracy ≈ hdop × 5 m). Points without a time are dropped and counted; a track
  without any time is refused (a planned route exported as GPX has none).
- GeoJSON: Point features with a ``time`` (or ``timestamp``) property, ISO 8601 or Unix
  seconds, and optionally ``accuracy`` (m), one fix each; or LineString / MultiLineString
  features with the times of their vertices in ``coordTimes`` (or ``times``), as togeojson and
  many phone apps write them. An ISO time without zone is Beijing time (phone apps in China
  write local time).
- ``datum``: what the coordinates really are: ``wgs84`` (GPS, default; ``cgcs2000`` is the
  same within centimetres), ``gcj02`` (Gaode/AMap, Tencent, WeChat location) or ``bd09``
  (Baidu); converted to WGS84 with :mod:`gis.chinese_coords`.

Out: a GeoDataFrame in EPSG:4326, one row a fix in time order, with ``time`` (UTC, pandas
datetime) and ``accuracy_m`` (NaN when unknown); ``attrs["no_time"]`` counts fixes dropped
for having no time. Every error names the file and what to do, in Chinese and English.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.chinese_coords import bd09_to_wgs84, gcj02_to_wgs84, in_china
from gis.crs import normalise_datum
from gis.errors import ArgumentError, InputError

BEIJING_TZ = timezone(timedelta(hours=8))
# The times a recorded fix may have: from the GPS epoch to a year no device clock reaches.
FIRST_TIME = datetime(1980, 1, 6, tzinfo=UTC)
LAST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
HDOP_M = 5.0  # metres of horizontal error per unit of HDOP (a common rule for phone GNSS)
FORMATS = ("gpx", "geojson")


def track_format(filename: str | None, data: bytes) -> str:
    """``gpx`` or ``geojson``, from the file name's suffix or else the content."""
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".gpx":
        return "gpx"
    if suffix in (".geojson", ".json"):
        return "geojson"
    head = data[:500].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<gpx"):
        return "gpx"
    if head.startswith(b"{"):
        return "geojson"
    raise InputError(filename, "not a GPX or GeoJSON track",
                     "upload the track as GPX 1.1 (.gpx) or GeoJSON (.geojson)",
                     problem_zh="不是 GPX 或 GeoJSON 轨迹",
                     hint_zh="请上传 GPX 1.1（.gpx）或 GeoJSON（.geojson）格式的轨迹")


def read_track(data: bytes | str | Path, *, filename: str | None = None,
               fmt: str | None = None, datum: str = "wgs84") -> gpd.GeoDataFrame:
    """Read a track (module docstring) into WGS84 fixes in time order.

    Args:
        data: the file's bytes, or a path to it.
        filename: the name shown in messages (and the format's hint).
        fmt: ``gpx`` or ``geojson``; default from the name or the content.
        datum: ``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``.

    Raises:
        ArgumentError: unknown datum or format.
        InputError: unreadable file, no fix, no time stamps, coordinates that are not lon/lat,
            or GCJ-02 / BD-09 given for a track outside China.
    """
    if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith(
            ("<", "{"))):
        path = Path(data)
        filename = filename or path.name
        data = path.read_bytes()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    key = normalise_datum(datum)
    fmt = fmt or track_format(filename, raw)
    if fmt not in FORMATS:
        raise ArgumentError(f"未知轨迹格式 {fmt!r}：可选 gpx、geojson",
                            f"unknown track format {fmt!r}: gpx or geojson")
    rows = list(_gpx_rows(raw, filename) if fmt == "gpx" else _geojson_rows(raw, filename))
    if not rows:
        raise InputError(filename, "the track has no point",
                         "export the recorded track (trkpt points with times), not an empty file",
                         problem_zh="轨迹中没有任何点",
                         hint_zh="请导出记录的轨迹（含时间的轨迹点），而不是空文件")
    frame = pd.DataFrame(rows, columns=["time", "lon", "lat", "accuracy_m"])
    no_time = int(frame["time"].isna().sum())
    if no_time == len(frame):
        raise InputError(filename, f"none of the {len(frame)} track points has a time stamp",
                         "upload the recorded track with its times; a planned route exported "
                         "as GPX has none",
                         problem_zh=f"{len(frame)} 个轨迹点都没有时间戳",
                         hint_zh="请上传带时间的实际记录轨迹；规划路线导出的 GPX 没有时间")
    frame = frame[frame["time"].notna()]
    _check_times(frame["time"].tolist(), filename)
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(filename, f"point {i + 1} has coordinates ({lon[i]}, {lat[i]}) that "
                         "are not longitude/latitude in degrees",
                         "export the track in degrees of longitude and latitude (WGS84, "
                         "GCJ-02 or BD-09), not projected metres",
                         feature=f"#{i + 1}",
                         problem_zh=f"第 {i + 1} 个点的坐标 ({lon[i]}, {lat[i]}) 不是经纬度（度）",
                         hint_zh="请以经纬度（度）导出轨迹（WGS84、GCJ-02 或 BD-09），"
                         "不要用投影坐标（米）")
    if key in ("gcj02", "bd09"):
        outside = ~np.asarray(in_china(lon, lat), dtype=bool).reshape(-1)
        if outside.any():
            raise InputError(filename, f"datum {key} was given but {int(outside.sum())} points "
                             "lie outside China, where GCJ-02 and BD-09 are not defined",
                             "check the datum: a track from a GPS logger or a foreign app is "
                             "wgs84",
                             problem_zh=f"指定了 {key} 坐标系，但有 {int(outside.sum())} 个点位于"
                             "中国境外（GCJ-02/BD-09 只在境内有定义）",
                             hint_zh="请检查坐标系：GPS 记录仪或境外应用的轨迹应为 wgs84")
        convert = gcj02_to_wgs84 if key == "gcj02" else bd09_to_wgs84
        lon_w, lat_w = convert(lon, lat)
        lon, lat = np.asarray(lon_w, dtype=float), np.asarray(lat_w, dtype=float)
    out = gpd.GeoDataFrame({"time": pd.to_datetime(frame["time"].to_numpy(), utc=True),
                            "accuracy_m": frame["accuracy_m"].to_numpy(float)},
                           geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    out = out.sort_values("time", kind="stable").reset_index(drop=True)
    out.attrs["no_time"] = no_time
    out.attrs["datum"] = key
    return out


def _check_times(times: list[datetime], filename: str | None) -> None:
    """Refuse a fix whose time no recording can have (before the GPS epoch, 1980, or from
    2100 on: a wrong clock or a garbled file), naming the point (1-based)."""
    for i, when in enumerate(times):
        if not FIRST_TIME <= when < LAST_TIME:
            raise InputError(filename, f"point {i + 1} has the time {when.isoformat()}, not "
                             "a time a track was recorded (1980 to 2100)",
                             "check the device's clock and export the track again",
                             feature=f"#{i + 1}",
                             problem_zh=f"第 {i + 1} 个点的时间 {when.isoformat()} 不是轨迹的记录"
                             "时间（应在 1980 至 2100 年间）",
                             hint_zh="请检查设备时钟后重新导出轨迹")


def _gpx_rows(raw: bytes, filename: str | None) -> Iterable[tuple[Any, ...]]:
    import gpxpy
    import gpxpy.gpx

    try:
        doc = gpxpy.parse(raw.decode("utf-8-sig"))
    except (gpxpy.gpx.GPXException, UnicodeDecodeError, ValueError) as exc:
        raise InputError(filename, f"not a readable GPX file ({exc})",
                         "export the track again as GPX 1.1",
                         problem_zh=f"无法读取的 GPX 文件（{exc}）",
                         hint_zh="请重新导出为 GPX 1.1 轨迹") from exc
    for track in doc.tracks:
        for segment in track.segments:
            for p in segment.points:
                when = p.time
                if when is not None and when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                accuracy = p.horizontal_dilution * HDOP_M if p.horizontal_dilution else np.nan
                yield when, p.longitude, p.latitude, accuracy


def _parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / (1000 if value > 1e11 else 1)  # milliseconds too
        return datetime.fromtimestamp(seconds, UTC)
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=BEIJING_TZ)


def _geojson_rows(raw: bytes, filename: str | None) -> Iterable[tuple[Any, ...]]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(filename, f"not readable JSON ({exc})",
                         "upload a GeoJSON FeatureCollection of the track",
                         problem_zh=f"无法读取的 JSON（{exc}）",
                         hint_zh="请上传轨迹的 GeoJSON FeatureCollection") from exc
    features = doc.get("features", [doc]) if isinstance(doc, dict) else []
    if not isinstance(features, list):
        raise InputError(filename, "its features are not a list",
                         "upload a GeoJSON FeatureCollection of the track",
                         problem_zh="features 不是列表",
                         hint_zh="请上传轨迹的 GeoJSON FeatureCollection")
    for n, feature in enumerate(features, 1):
        try:  # any part of a feature may be of the wrong JSON type
            geometry = (feature or {}).get("geometry") or {}
            props = feature.get("properties") or {}
            kind: Any = geometry.get("type")
            coords: Any = geometry.get("coordinates")
            if kind == "Point":
                when = _parse_time(props.get("time", props.get("timestamp")))
                yield (when, float(coords[0]), float(coords[1]),
                       float(props.get("accuracy") or np.nan))
            elif kind in ("LineString", "MultiLineString"):
                lines = [coords] if kind == "LineString" else coords
                times: Any = props.get("coordTimes", props.get("times"))
                flat_times: Any = (times if kind == "LineString" or times is None
                                   else [t for part in times for t in part])
                points = [c for line in lines for c in line]
                if flat_times is not None and len(flat_times) != len(points):
                    raise ValueError(f"{len(flat_times)} times for {len(points)} points")
                for i, c in enumerate(points):
                    when = _parse_time(flat_times[i]) if flat_times is not None else None
                    yield when, float(c[0]), float(c[1]), np.nan
        except (TypeError, IndexError, ValueError, AttributeError, OverflowError,
                OSError) as exc:  # OverflowError, OSError: a Unix time beyond any date
            raise InputError(filename, f"feature {n} is not a track point or line with times "
                             f"({exc})",
                             "give Point features with a time property, or lines with "
                             "coordTimes",
                             feature=str(n),
                             problem_zh=f"第 {n} 个要素不是带时间的轨迹点或线（{exc}）",
                             hint_zh="请提供带 time 属性的点要素，"
                             "或带 coordTimes 的线要素") from exc
