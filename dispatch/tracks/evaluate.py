"""A worker's track of a day, from fixes to figures: checks, cleaning, matching, compliance.

:func:`evaluate_track` runs the steps of this package in order on fixes read by
:mod:`dispatch.tracks.reading` (WGS84): it checks that the track lies on the walk network
(else a clear error: a track of another place, or one whose datum is wrong, which it
recognises when the other datum would put it on the streets), projects it to the network's
metric CRS, cleans it (:mod:`~dispatch.tracks.cleaning`), matches it
(:mod:`~dispatch.tracks.matching`) and measures it against the planned route
(:mod:`~dispatch.tracks.compliance`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from dispatch.routing.network import WalkNetwork
from dispatch.tracks.cleaning import DROP_ZH, CleanTrack, clean_track
from dispatch.tracks.compliance import Compliance, PlannedStop, compliance, planned_streets
from dispatch.tracks.matching import OBS_NOISE_M, MatchMap, MatchResult, match_track
from gis.chinese_coords import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from gis.errors import InputError

ON_NETWORK_M = 15.0  # a track on the streets has half its fixes this close to one
# (simulated σ 15 m: a median of 4-10 m on the three shared extracts; the same tracks shifted
# to GCJ-02: 25-400 m, and the correct datum at most half of the wrong one's)
OFF_AREA_M = 200.0  # beyond this median distance a track is not of this area
SAMPLE = 400  # fixes looked at by the checks


@dataclass
class TrackEvaluation:
    """Everything learnt from one track.

    Attributes:
        clean: the cleaned track (metric CRS).
        match: the matched streets.
        result: the compliance figures and streets.
        figures: ``result.figures`` plus the point counts (``raw_points``, ``dropped`` by
            reason with ``dropped_zh`` names, ``matched_points``, ``jumps``, ``gaps``) and
            ``match_seconds``.
    """

    clean: CleanTrack
    match: MatchResult
    result: Compliance
    figures: dict[str, Any]


def _median_distance(net: WalkNetwork, lon: np.ndarray, lat: np.ndarray) -> float:
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(net.crs)
    lines = [net.graph.edges[e]["geometry"] for e in net.graph.edges()]
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(points.values, return_distance=True, all_matches=False)
    return float(np.median(dist))


def check_on_network(net: WalkNetwork, fixes: gpd.GeoDataFrame, *, datum: str = "wgs84",
                     filename: str | None = None) -> float:
    """The median distance (m) from the track's fixes to the nearest street; raises when the
    track does not lie on this network.

    Raises:
        InputError: the track lies outside the area (median beyond 200 m), or its datum is
            wrong (the median is beyond 15 m, and reading it in the other datum, WGS84 or
            GCJ-02, halves it).
    """
    step = max(1, len(fixes) // SAMPLE)
    lon = fixes.geometry.x.to_numpy()[::step]
    lat = fixes.geometry.y.to_numpy()[::step]
    median = _median_distance(net, lon, lat)
    if median <= ON_NETWORK_M:
        return median
    if datum in ("wgs84", "cgcs2000"):
        other, alt = "gcj02", gcj02_to_wgs84(lon, lat)
    else:  # read as GCJ-02/BD-09 and converted: what if it was WGS84 all along?
        other = "wgs84"
        alt = wgs84_to_gcj02(lon, lat) if datum == "gcj02" else wgs84_to_bd09(lon, lat)
    alt_median = _median_distance(net, np.asarray(alt[0], float), np.asarray(alt[1], float))
    if alt_median < median / 2:
        raise InputError(filename, f"the track lies {median:.0f} m from the streets as "
                         f"{datum}, but on them as {other} ({alt_median:.0f} m): wrong datum",
                         f"upload it again with datum={other}",
                         problem_zh=f"按 {datum} 坐标系轨迹距街道 {median:.0f} 米，按 {other} "
                         f"则在街道上（{alt_median:.0f} 米）：坐标系有误",
                         hint_zh=f"请以 datum={other} 重新上传")
    if median > OFF_AREA_M:
        raise InputError(filename, f"the track lies outside the area: half its points are "
                         f"more than {median:.0f} m from every street of the plan's map",
                         "check that the track belongs to this worker's grids and day, and "
                         "its datum",
                         problem_zh=f"轨迹不在本区域内：一半的点距本方案地图的街道超过 "
                         f"{median:.0f} 米",
                         hint_zh="请检查轨迹是否属于该网格员的网格和日期，以及坐标系")
    return median


def project_fixes(net: WalkNetwork, fixes: gpd.GeoDataFrame) -> pd.DataFrame:
    """Fixes (WGS84) as ``t`` (Unix s), ``x``, ``y`` (network CRS, m), ``accuracy_m``."""
    metric = fixes.to_crs(net.crs)
    seconds = (fixes["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return pd.DataFrame({"t": seconds.to_numpy(float),
                         "x": metric.geometry.x.to_numpy(), "y": metric.geometry.y.to_numpy(),
                         "accuracy_m": fixes["accuracy_m"].to_numpy(float)})


def evaluate_track(net: WalkNetwork, mmap: MatchMap, fixes: gpd.GeoDataFrame, *,
                   planned_path: BaseGeometry | None, grids: gpd.GeoDataFrame | None = None,
                   stops: list[PlannedStop] | None = None, datum: str = "wgs84",
                   filename: str | None = None,
                   obs_noise_m: float = OBS_NOISE_M) -> TrackEvaluation:
    """Check, clean, match and measure a track.

    Args:
        net: the walk network (metric CRS); ``mmap`` its matcher map.
        fixes: from :func:`dispatch.tracks.reading.read_track` (WGS84, time order).
        planned_path: the planned route's line in the network's CRS (None: nothing planned,
            every walked street is a detour).
        grids: the worker's grids (code, polygon in the network's CRS).
        stops: planned stops to check (visit routes).
        datum: the datum the track was read in (for the wrong-datum hint).
        filename: shown in messages.
        obs_noise_m: the matcher's GPS error (m).
    """
    check_on_network(net, fixes, datum=datum, filename=filename)
    clean = clean_track(project_fixes(net, fixes))
    if len(clean.matching) < 2:
        raise InputError(filename, "fewer than two usable points are left after cleaning",
                         "record the patrol with the phone's location on; the whole track was "
                         "noise, a stop or a ride",
                         problem_zh="清洗后可用的点不足两个",
                         hint_zh="请在开启定位的情况下记录巡查；整条轨迹都是噪声、停留或乘车")
    started = time.perf_counter()
    match = match_track(mmap, clean.matching[["x", "y"]].to_numpy(),
                        clean.matching["piece"].to_numpy(), obs_noise_m=obs_noise_m)
    planned = planned_streets(net, planned_path)
    result = compliance(net, match, clean, planned=planned, grids=grids, stops=stops)
    dropped = {k: v for k, v in clean.dropped.items()}
    dropped["no_time"] = int(fixes.attrs.get("no_time", 0))
    figures = dict(result.figures)
    figures.update({"raw_points": clean.raw_points + dropped["no_time"], "dropped": dropped,
                    "dropped_zh": {DROP_ZH.get(k, "无时间戳"): v for k, v in dropped.items()},
                    "kept_points": len(clean.points), "matched_points": match.matched_points,
                    "unmatched_points": match.unmatched_points, "jumps": clean.jumps,
                    "gaps": clean.gaps,
                    "match_seconds": round(time.perf_counter() - started, 2)})
    return TrackEvaluation(clean, match, result, figures)
