"""A matched track against the planned route: streets walked and missed, time in each grid,
start and end, detours, and the planned stops reached.

Definitions (the street offices' rules: each grid patrolled daily for at least 30 minutes,
households visited):

- planned streets: the walk network's streets the planned route runs along
  (:func:`planned_streets`); a street counts once however often the route passes it;
- walked: the matched share of a street reaches half its length
  (:data:`dispatch.tracks.matching.MIN_WALKED_SHARE`), or half of it lies within
  ``parallel_m`` (12 m) of the streets matched: OSM maps sidewalks and footways beside a road
  as ways of their own, a few metres apart, which no phone tells apart; a patrol along the
  sidewalk patrols the road (:func:`covered_streets`). Coverage is walked planned length over
  planned length (m/m); missed streets are the planned ones not walked, grouped by name;
- detours: streets walked that the route did not plan and that do not run beside a planned
  street (m, names);
- time in a grid: the time between consecutive fixes that both lie in the grid (its polygon
  grown by ``grid_margin_m``, 15 m, since boundary streets are patrolled from both sides)
  and are at most ``gap_s`` apart; ``patrolled`` when it reaches ``min_grid_minutes`` (30);
- a stop is reached when the worker stays within ``reach_m`` (30 m) of it for at least
  ``reach_s`` (2 minutes) without a break longer than the gap; ``arrival`` is the first fix of
  the first such stay, ``late_s`` arrival minus the planned ETA.

Metric CRS of the walk network (m), times in Unix seconds (UTC); the figures are plain
JSON-able values, times ISO 8601 in Beijing time.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from dispatch.routing.network import WalkNetwork
from dispatch.tracks.cleaning import GAP_S, CleanTrack
from dispatch.tracks.matching import Edge, MatchResult, edge_key

BEIJING_TZ = timezone(timedelta(hours=8))
REACH_M = 30.0
REACH_S = 120.0
MIN_GRID_MINUTES = 30.0
GRID_MARGIN_M = 15.0
PLANNED_TOLERANCE_M = 2.0
PARALLEL_M = 12.0
COVERED_SHARE = 0.5
UNNAMED = "无名路"


@dataclass
class PlannedStop:
    """A stop of the planned route: id, name, position (m) and ETA (Unix s, or None)."""

    ref: str
    name: str
    x: float
    y: float
    eta_s: float | None = None


@dataclass
class Compliance:
    """What :func:`compliance` found.

    Attributes:
        figures: the indicators (module docstring), JSON-able.
        streets: one row a street planned or walked: ``u``, ``v``, ``name``, ``length_m``,
            ``planned``, ``walked`` (bool), ``walked_m``, geometry (metric CRS).
    """

    figures: dict[str, Any]
    streets: gpd.GeoDataFrame = field(repr=False)


def planned_streets(net: WalkNetwork, path: BaseGeometry | None,
                    tolerance_m: float = PLANNED_TOLERANCE_M) -> set[Edge]:
    """Streets of ``net`` the planned ``path`` (metric CRS) runs along: a street whose points
    at a quarter, half and three quarters of its length all lie within ``tolerance_m`` of it.

    Routes are drawn along the network's own streets (dispatch.routing.route_output), so this
    finds them back from the stored line after its round trip through WGS84."""
    if path is None or path.is_empty:
        return set()
    edges: list[tuple[Hashable, Hashable, LineString]] = list(net.graph.edges(data="geometry"))
    if not edges:
        return set()
    lines = np.array([g for _, _, g in edges], dtype=object)
    near = shapely.dwithin(lines, path, tolerance_m)
    out: set[Edge] = set()
    for i in np.flatnonzero(near):
        u, v, line = edges[i]
        probes = shapely.line_interpolate_point(line, [0.25, 0.5, 0.75], normalized=True)
        if bool(np.all(shapely.dwithin(probes, path, tolerance_m))):
            out.add(edge_key(u, v))
    return out


def covered_streets(net: WalkNetwork, walked: set[Edge], candidates: set[Edge], *,
                    within_m: float = PARALLEL_M, share: float = COVERED_SHARE) -> set[Edge]:
    """Of ``candidates``, the streets walked or with at least ``share`` of their length within
    ``within_m`` of a walked street (a sidewalk beside its road, a road beside its sidewalk).
    Metric CRS of the network."""
    if not walked or not candidates:
        return set(walked) & set(candidates)
    near = shapely.union_all([net.graph.edges[e]["geometry"] for e in walked]).buffer(
        within_m, quad_segs=4)
    shapely.prepare(near)
    out = set(walked) & set(candidates)
    for e in set(candidates) - out:
        line = net.graph.edges[e]["geometry"]
        if line.length and shapely.intersection(line, near).length >= share * line.length:
            out.add(e)
    return out


def _iso(seconds: float | None) -> str | None:
    if seconds is None or not np.isfinite(seconds):
        return None
    return datetime.fromtimestamp(float(seconds), UTC).astimezone(BEIJING_TZ).isoformat(
        timespec="seconds")


def _runs(mask: np.ndarray, t: np.ndarray, gap_s: float) -> list[tuple[int, int]]:
    """Index ranges [i, j] of consecutive True fixes with no gap over ``gap_s``."""
    runs: list[tuple[int, int]] = []
    start = None
    for i in range(len(mask)):
        if mask[i] and start is not None and t[i] - t[i - 1] > gap_s:
            runs.append((start, i - 1))
            start = i
        elif mask[i] and start is None:
            start = i
        elif not mask[i] and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def reached_stops(clean: CleanTrack, stops: list[PlannedStop], *, reach_m: float = REACH_M,
                  reach_s: float = REACH_S, gap_s: float = GAP_S) -> list[dict[str, Any]]:
    """For every planned stop: reached, arrival (ISO, Beijing), stay (s), closest approach
    (m) and lateness against the ETA (s)."""
    t = clean.points["t"].to_numpy(float)
    xy = clean.points[["x", "y"]].to_numpy(float)
    out = []
    for stop in stops:
        dist = np.hypot(xy[:, 0] - stop.x, xy[:, 1] - stop.y) if len(xy) else np.zeros(0)
        arrival, stay = None, 0.0
        for i, j in _runs(dist <= reach_m, t, gap_s):
            if t[j] - t[i] >= reach_s:
                arrival, stay = float(t[i]), float(t[j] - t[i])
                break
            stay = max(stay, float(t[j] - t[i]))
        out.append({"ref": stop.ref, "name": stop.name, "reached": arrival is not None,
                    "arrival": _iso(arrival), "stay_s": round(stay),
                    "closest_m": round(float(dist.min()), 1) if len(dist) else None,
                    "eta": _iso(stop.eta_s),
                    "late_s": (round(arrival - stop.eta_s) if arrival is not None
                               and stop.eta_s is not None else None)})
    return out


def time_in_grids(clean: CleanTrack, grids: gpd.GeoDataFrame, *,
                  margin_m: float = GRID_MARGIN_M, gap_s: float = GAP_S) -> dict[str, float]:
    """Seconds spent in each grid (``code`` -> s), grids in the network's CRS."""
    t = clean.points["t"].to_numpy(float)
    points = shapely.points(clean.points[["x", "y"]].to_numpy(float))
    out: dict[str, float] = {}
    for code, polygon in zip(grids["code"], grids.geometry, strict=True):
        inside = shapely.covers(polygon.buffer(margin_m), points)
        both = inside[1:] & inside[:-1]
        dt = np.diff(t)
        out[str(code)] = float(dt[both & (dt <= gap_s)].sum())
    return out


def _named(net: WalkNetwork, edges: set[Edge]) -> list[dict[str, Any]]:
    by_name: dict[str, float] = defaultdict(float)
    for e in edges:
        by_name[net.graph.edges[e]["name"] or UNNAMED] += float(net.graph.edges[e]["length"])
    return [{"name": n, "length_m": round(m, 1)}
            for n, m in sorted(by_name.items(), key=lambda kv: -kv[1])]


def compliance(net: WalkNetwork, match: MatchResult, clean: CleanTrack, *,
               planned: set[Edge], grids: gpd.GeoDataFrame | None = None,
               grid_streets: dict[str, set[Edge]] | None = None,
               stops: list[PlannedStop] | None = None,
               min_grid_minutes: float = MIN_GRID_MINUTES) -> Compliance:
    """The figures of a matched track against its planned route (module docstring).

    Args:
        net: the walk network (metric CRS).
        match: the matched track.
        clean: the cleaned track (its fixes give times, grids and stops).
        planned: the planned streets (:func:`planned_streets`).
        grids: the worker's grids (``code``, polygons in the network's CRS), for time in
            grid and coverage per grid.
        grid_streets: grid code -> its planned streets, for coverage per grid (default: the
            planned streets whose midpoint lies in the grid).
        stops: the planned stops to check (visit routes).
        min_grid_minutes: a grid counts patrolled from this many minutes in it.
    """
    matched = match.walked_edges(net)
    walked_planned = covered_streets(net, matched, planned)
    beside_plan = covered_streets(net, planned, matched - planned)
    detour = matched - planned - beside_plan
    walked = matched | walked_planned
    length = {e: float(net.graph.edges[e]["length"]) for e in planned | walked}
    planned_m = sum(length[e] for e in planned)
    t = clean.points["t"].to_numpy(float)
    figures: dict[str, Any] = {
        "planned_m": round(planned_m, 1),
        "walked_planned_m": round(sum(length[e] for e in walked_planned), 1),
        "coverage": round(sum(length[e] for e in walked_planned) / planned_m, 4)
        if planned_m else None,
        "walked_m": round(sum(length[e] for e in matched), 1),
        "missed_streets": _named(net, planned - walked),
        "detour_m": round(sum(length[e] for e in detour), 1),
        "detour_streets": _named(net, detour),
        "start": _iso(t[0]) if len(t) else None,
        "end": _iso(t[-1]) if len(t) else None,
        "duration_s": round(float(t[-1] - t[0])) if len(t) else 0,
        "stops_made": len(clean.stops),
        "stopped_s": round(sum(s.seconds for s in clean.stops)),
    }
    if grids is not None and len(grids):
        seconds = time_in_grids(clean, grids)
        rows = []
        for code, polygon in zip(grids["code"], grids.geometry, strict=True):
            mine = (grid_streets or {}).get(str(code))
            if mine is None:
                mids = {e: net.graph.edges[e]["geometry"].interpolate(0.5, normalized=True)
                        for e in planned}
                mine = {e for e, p in mids.items() if polygon.covers(p)}
            mine_m = sum(float(net.graph.edges[e]["length"]) for e in mine)
            got = sum(float(net.graph.edges[e]["length"]) for e in mine & walked)
            rows.append({"code": str(code), "minutes": round(seconds[str(code)] / 60, 1),
                         "patrolled": seconds[str(code)] >= min_grid_minutes * 60,
                         "planned_m": round(mine_m, 1), "walked_planned_m": round(got, 1),
                         "coverage": round(got / mine_m, 4) if mine_m else None})
        figures["grids"] = rows
    if stops:
        visits = reached_stops(clean, stops)
        figures["stops"] = visits
        figures["stops_reached"] = sum(v["reached"] for v in visits)
        figures["stops_planned"] = len(visits)
    rows_out = []
    for e in sorted(planned | detour, key=str):  # streets beside the plan are not drawn
        d = net.graph.edges[e]
        rows_out.append({"u": e[0], "v": e[1], "name": d["name"] or UNNAMED,
                         "length_m": round(length[e], 1), "planned": e in planned,
                         "walked": e in walked,
                         "walked_m": round(match.walked_m.get(e, 0.0), 1),
                         "geometry": d["geometry"]})
    streets = gpd.GeoDataFrame(rows_out, geometry="geometry", crs=net.crs) if rows_out else \
        gpd.GeoDataFrame({"u": [], "v": [], "name": [], "length_m": [], "planned": [],
                          "walked": [], "walked_m": []}, geometry=[], crs=net.crs)
    return Compliance(figures, streets)


def track_line(clean: CleanTrack) -> BaseGeometry | None:
    """The cleaned fixes as lines (metric CRS), one part a piece; None without two fixes."""
    parts = []
    for _, group in clean.points.groupby("piece", sort=True):
        coords = group[["x", "y"]].to_numpy(float)
        if len(coords) >= 2:
            parts.append(LineString(coords))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiLineString(parts)


def path_edges(path: list[Hashable]) -> set[Edge]:
    """Streets of a node path."""
    return {edge_key(u, v) for u, v in itertools.pairwise(path) if u != v}
