"""Barriers that cross the irregular district: rivers, railways, motorways and lakes.

Rivers, railways and motorways are long wavy lines across the whole area (kept apart from the
noded streets: they are barriers, not walkable); a river may have a water area and riverside
roads, a motorway may be a viaduct, a lake is a lumpy blob. Streets meeting a barrier's zone
are cut there or cross it on a bridge (arterials always bridge; railways sometimes get
tunnels). Local metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from tests.synthetic.irregular.geometry import (
    blob,
    line_parts,
    poly_parts,
    random_point_in,
    wavy_line,
)
from tests.synthetic.irregular.names import LAKE_NAMES, RAIL_NAMES, RIVER_NAMES, RoadNames
from tests.synthetic.irregular.streets import ARTERIALS, CLEARANCE, arterial_curve, street_tags


@dataclass
class Barriers:
    separate: list = field(default_factory=list)  # (LineString, tags): motorways, rails, rivers
    water: list = field(default_factory=list)  # (Polygon, tags)
    # (zone polygon, kind, clearance in metres) that streets are cut at or bridge over
    zones: list = field(default_factory=list)
    lakes: list = field(default_factory=list)  # Polygons


def draw_barriers(
    rng, style: str, area: Polygon, radius: float, raw: list, names: RoadNames
) -> Barriers:
    """The district's barriers; riverside roads and a trunk road are appended to ``raw``."""
    c = np.array(area.centroid.coords[0])
    half_len = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T))) + 150
    out = Barriers()
    if style == "riverside" or rng.random() < 0.3:
        _river(rng, style, area, radius, c, half_len, raw, names, out)
    if style == "railway" or rng.random() < 0.25:
        n_rail = 1 if style != "railway" else int(rng.integers(1, 3))
        for _ in range(n_rail):
            rail = wavy_line(rng, c, rng.uniform(0, np.pi), half_len,
                             rng.uniform(0.0, 0.04) * radius,
                             offset=rng.uniform(-0.35, 0.35) * radius)
            out.separate.append((rail, {"railway": "rail", "name": str(rng.choice(RAIL_NAMES)),
                                        "gauge": "1435", "electrified": "contact_line"}))
            out.zones.append((rail.buffer(9, cap_style="flat"), "rail", CLEARANCE["rail"]))
    if rng.random() < (0.35 if style == "railway" else 0.15):
        mway = wavy_line(rng, c, rng.uniform(0, np.pi), half_len, rng.uniform(0, 0.05) * radius,
                         offset=rng.uniform(-0.4, 0.4) * radius)
        tags = {"highway": "motorway", "ref": f"G{int(rng.integers(4, 99))}", "oneway": "no"}
        if rng.random() < 0.5:
            tags |= {"bridge": "viaduct", "layer": "1"}
        out.separate.append((mway, tags))
        out.zones.append((mway.buffer(15, cap_style="flat"), "motorway", CLEARANCE["motorway"]))
    if rng.random() < 0.2:
        raw.append(arterial_curve(rng, area, names, "trunk"))
    if rng.random() < (0.5 if style == "riverside" else 0.25):
        lr = rng.uniform(0.1, 0.25) * radius
        lake = blob(rng, random_point_in(rng, area, lr), lr).intersection(area)
        for part in poly_parts(lake, 200):
            out.lakes.append(part)
            out.water.append((part, {"natural": "water", "water": "lake",
                                     "name": str(rng.choice(LAKE_NAMES))}))
    return out


def _river(rng, style: str, area: Polygon, radius: float, c: np.ndarray, half_len: float,
           raw: list, names: RoadNames, out: Barriers) -> None:
    """A river across the area, maybe with its water area and roads along its banks."""
    width = rng.uniform(25, 90)
    river = wavy_line(rng, c, rng.uniform(0, np.pi), half_len,
                      rng.uniform(0.04, 0.15) * radius, offset=rng.uniform(-0.3, 0.3) * radius)
    out.separate.append((river, {"waterway": "river", "name": str(rng.choice(RIVER_NAMES))}))
    zone = river.buffer(width / 2 + 6, cap_style="flat")
    if style == "riverside" or rng.random() < 0.5:
        bank = river.buffer(width / 2, cap_style="flat").intersection(area.buffer(120))
        for part in poly_parts(bank, 100):
            out.water.append((part, {"natural": "water", "water": "river"}))
    out.zones.append((zone, "river", width / 2 + 10))
    for sign in (1, -1):
        if rng.random() < (0.8 if style == "riverside" else 0.3):
            road = river.offset_curve(sign * (width / 2 + 20), join_style="round")
            for part in line_parts(road.intersection(area), 20):
                raw.append((shapely.segmentize(part, 15.0), street_tags(
                    "tertiary", names.road("滨河路"))))


def clip_streets(rng, raw: list, area: Polygon, barriers: Barriers) -> list:
    """The raw streets clipped to the area, out of lakes, cut at or bridged over barriers:
    a list of (LineString, tags)."""
    zones, lakes = barriers.zones, barriers.lakes
    lake_cut = shapely.union_all([lk.buffer(6) for lk in lakes]) if lakes else None
    pieces: list[tuple[LineString, dict]] = []
    p_bridge = rng.uniform(0.15, 0.5)
    raw_geoms = shapely.intersection(np.array([g for g, _ in raw], dtype=object), area)
    if lake_cut is not None:
        raw_geoms = shapely.difference(raw_geoms, lake_cut)
    zone_arr = np.array([z for z, _, _ in zones], dtype=object)
    if len(zone_arr):
        hits = shapely.intersects(raw_geoms[:, None], zone_arr[None, :])
    else:
        hits = np.zeros((len(raw_geoms), 0), bool)
    for k in range(len(raw)):
        geom, tags = raw_geoms[k], raw[k][1]
        if geom.is_empty:
            continue
        if not hits[k].any():
            if geom.geom_type == "LineString":
                if geom.length > 6.0:
                    pieces.append((geom, tags))
            else:
                pieces += [(part, tags) for part in line_parts(geom, 6.0)]
            continue
        cut, over = [], []
        for z in np.flatnonzero(hits[k]).tolist():
            zone, kind, _clear = zones[z]
            if tags["highway"] in ARTERIALS or rng.random() < p_bridge:
                over.append((zone, kind))
            else:
                cut.append(zone)
        if cut:
            geom = geom.difference(shapely.union_all(cut))
        for zone, kind in over:
            inside = geom.intersection(zone)
            geom = geom.difference(zone)
            extra = ({"tunnel": "yes", "layer": "-1"} if kind == "rail" and
                     rng.random() < 0.5 else {"bridge": "yes", "layer": "1"})
            for part in line_parts(inside, 0.5):
                pieces.append((part, tags | extra))
        for part in line_parts(geom, 6.0):
            pieces.append((part, tags))
    return pieces


def separate_clearance(tags: dict[str, str], zones: list) -> float:
    """Half width kept free of buildings around a railway, river or motorway, metres."""
    if "railway" in tags:
        return CLEARANCE["rail"]
    if "waterway" in tags:
        return next(c for _z, k, c in zones if k == "river")
    return CLEARANCE["motorway"]
