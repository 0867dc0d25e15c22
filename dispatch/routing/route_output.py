"""What a worker carries: route geometry along the streets, a turn list and GPX.

Node paths come from :mod:`dispatch.routing.patrol` and :mod:`dispatch.routing.visits` (walk
network, metric CRS); geometry handed out is WGS84 lon/lat (GPX, GeoJSON). Turn instructions are
in Chinese with English after them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from dispatch.routing.network import WalkNetwork, walk_seconds
from dispatch.routing.visits import Stop, VisitRoute, Walker
from gis.osm import OSM_CONTRIBUTORS, OSM_LICENCE_URL

TURNS = (  # (largest absolute angle in degrees, Chinese, English)
    (20, "直行", "continue straight"),
    (60, "稍向{side}", "bear {side_en}"),
    (135, "{side}转", "turn {side_en}"),
    (180, "向{side}急转", "turn sharp {side_en}"),
)


def visit_path(net: WalkNetwork, walker: Walker, route: VisitRoute,
               stops: dict[object, Stop]) -> list[Hashable]:
    """The node path of a visit route: start -> each stop's nearest node -> end (the base)."""
    points = [(walker.x, walker.y)] + [(stops[v.stop_id].x, stops[v.stop_id].y)
                                       for v in route.visits] + [walker.end or (walker.x,
                                                                                walker.y)]
    nodes, _ = net.snap([p[0] for p in points], [p[1] for p in points])
    path = [nodes[0]]
    for a, b in itertools.pairwise(nodes):
        if a != b:
            path += net.shortest_path(a, b)[1:]
    return path


def _bearing(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1]))  # clockwise from north


def _turn(change: float) -> tuple[str, str]:
    side, side_en = ("右", "right") if change > 0 else ("左", "left")
    for limit, zh, en in TURNS:
        if abs(change) <= limit:
            return zh.format(side=side), en.format(side_en=side_en)
    raise AssertionError("angle out of range")


def turn_list(net: WalkNetwork, path: list[Hashable]) -> list[dict[str, Any]]:
    """Turn-by-turn steps of a node path: consecutive edges of one street are one step.

    Returns:
        dicts with step (1..), instruction_zh, instruction_en, street, distance_m.
    """
    steps: list[dict[str, Any]] = []
    previous_heading = None
    for u, v in itertools.pairwise(path):
        edge = net.graph.edges[u, v]
        line = net.edge_geometry(u, v)
        coords = list(line.coords)
        start_heading, end_heading = _bearing(coords[0], coords[1]), _bearing(coords[-2],
                                                                              coords[-1])
        street = edge["name"] or "无名路"
        if steps and steps[-1]["street"] == street:
            steps[-1]["distance_m"] += edge["length"]
        else:
            if previous_heading is None:
                zh, en = "出发", "start"
            else:
                change = (start_heading - previous_heading + 180) % 360 - 180
                zh, en = _turn(change)
            steps.append({"step": len(steps) + 1, "instruction_zh": f"{zh}，沿{street}",
                          "instruction_en": f"{en} onto {street}", "street": street,
                          "distance_m": edge["length"]})
        previous_heading = end_heading
    for s in steps:
        s["distance_m"] = round(s["distance_m"], 1)
    return steps


def to_wgs84(geometries: Sequence[BaseGeometry], crs: object) -> list[Any]:
    """``geometries`` in ``crs`` as WGS84 lon/lat (EPSG:4326), each of the type it had."""
    return list(gpd.GeoSeries(geometries, crs=crs).to_crs(4326))


def gpx(name: str, track: LineString, waypoints: list[tuple[str, Point]], crs: object) -> str:
    """A GPX 1.1 document: the route as a track and the stops as numbered waypoints.

    Args:
        name: the route's name.
        track: the path in ``crs``.
        waypoints: (name, point in ``crs``) in visiting order.
        crs: the metric CRS of the inputs.
    """
    line, *points = to_wgs84([track] + [p for _, p in waypoints], crs)
    wpts = "".join(f'  <wpt lat="{p.y:.7f}" lon="{p.x:.7f}"><name>{i}. {escape(str(n))}'
                   f"</name></wpt>\n"
                   for i, ((n, _), p) in enumerate(zip(waypoints, points, strict=True), 1))
    pts = "".join(f'      <trkpt lat="{y:.7f}" lon="{x:.7f}"/>\n' for x, y in line.coords)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="Wangge" xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"  <metadata><name>{escape(name)}</name>"
            f"<copyright author=\"{OSM_CONTRIBUTORS}\"><license>{OSM_LICENCE_URL}</license>"
            "</copyright></metadata>\n"
            f"{wpts}  <trk><name>{escape(name)}</name>\n    <trkseg>\n{pts}    </trkseg>\n"
            "  </trk>\n</gpx>\n")


def route_features(net: WalkNetwork, walker: Walker, route: VisitRoute, stops: list[Stop],
                   patrol: LineString | None = None) -> dict[str, Any]:
    """A worker's route as the GeoJSON FeatureCollection the route map reads (WGS84):
    features of kind ``stop`` (seq 0 = base, name, arrival HH:MM), ``path`` and ``patrol``;
    worker_id, worker_name, distance_m and duration_s at the top level."""
    by_id = {s.stop_id: s for s in stops}
    path = visit_path(net, walker, route, by_id)
    line = net.path_geometry(path) or LineString([(walker.x, walker.y)] * 2)
    points = [Point(walker.x, walker.y)] + [Point(by_id[v.stop_id].x, by_id[v.stop_id].y)
                                            for v in route.visits]
    geoms = to_wgs84([line, *points] + ([patrol] if patrol is not None else []), net.crs)
    names = [walker.name or "驻点"] + [by_id[v.stop_id].name or str(v.stop_id)
                                      for v in route.visits]
    times = [route.start_s] + [v.arrival_s for v in route.visits]
    features = [{"type": "Feature", "geometry": geoms[0].__geo_interface__,
                 "properties": {"kind": "path"}}]
    for seq, (name, t, g) in enumerate(zip(names, times, geoms[1:len(points) + 1],
                                           strict=True)):
        features.append({"type": "Feature", "geometry": g.__geo_interface__,
                         "properties": {"kind": "stop", "seq": seq, "name": name,
                                        "arrival": f"{t // 3600:02d}:{t % 3600 // 60:02d}"}})
    if patrol is not None:
        features.append({"type": "Feature", "geometry": geoms[-1].__geo_interface__,
                         "properties": {"kind": "patrol"}})
    return {"type": "FeatureCollection", "features": features,
            "worker_id": walker.worker_id, "worker_name": walker.name,
            "distance_m": round(net.path_length(path), 1),
            "duration_s": int(route.end_s - route.start_s) if route.visits
            else int(walk_seconds(net.path_length(path)))}
