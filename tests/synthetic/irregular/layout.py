"""One attempt at an irregular district layout: area, streets, barriers, blocks, candidates.

The area is a lumpy, stretched star-shaped polygon of about ``radius`` metres around the
origin; a street network of the style's kind is drawn over it (:mod:`.streets`), barriers
cross it (:mod:`.barriers`), streets get dead-end spurs and are noded (every crossing a shared
node); blocks are the area minus the street, rail and river corridors and water, and building
candidates are placed in them (:mod:`.buildings`). :func:`crop` then keeps the part of the
layout inside a scaled copy of the area. Local metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, Polygon

from tests.synthetic.irregular.barriers import (
    Barriers,
    clip_streets,
    draw_barriers,
    separate_clearance,
)
from tests.synthetic.irregular.buildings import place_candidates
from tests.synthetic.irregular.geometry import line_parts, poly_parts, rotation_matrix
from tests.synthetic.irregular.names import RoadNames
from tests.synthetic.irregular.streets import (
    CLEARANCE,
    net_curved,
    net_mixed,
    net_organic,
    net_radial,
    street_tags,
)

_NETWORKS = {"curved": net_curved, "radial": net_radial, "organic": net_organic,
             "mixed": net_mixed}


@dataclass
class Layout:
    area: Polygon
    streets: list  # (LineString, tags), noded highway pieces
    separate: list  # (LineString, tags): motorways, railways, rivers (not noded)
    water: list  # (Polygon, tags)
    blocks: np.ndarray  # Polygons
    block_style: np.ndarray  # index into BLOCK_STYLES
    block_kind: list  # nonres kind per block (or "")
    cand: np.ndarray  # candidate footprints (Polygons) kept after containment/overlap checks
    cand_block: np.ndarray
    features: list[str]


def make_layout(rng, style: str, radius: float, weights: np.ndarray) -> Layout:
    """One layout of ``style`` in an area of about ``radius`` metres, with its candidate
    building footprints (block styles drawn with ``weights``)."""
    names = RoadNames(rng)
    area = _area(rng, radius)
    s = float(rng.uniform(90, 190))
    base = style
    if style == "riverside":
        base = "curved" if rng.random() < 0.5 else "organic"
    elif style == "railway":
        base = str(rng.choice(["curved", "radial", "organic"]))
    features = [f"{base}_streets"]
    raw = _NETWORKS[base](rng, area, s, names)
    barriers = draw_barriers(rng, style, area, radius, raw, names)
    pieces = clip_streets(rng, raw, area, barriers)
    _add_spurs(rng, pieces, area, barriers)
    streets = _node(pieces)
    blocks = _blocks(area, streets, barriers)
    styles, kinds, cand, cand_block = place_candidates(rng, blocks, weights)
    return Layout(area, streets, barriers.separate, barriers.water, blocks, styles, kinds, cand,
                  cand_block, features)


def _area(rng, radius: float) -> Polygon:
    """A lumpy, stretched star-shaped polygon around the origin."""
    n = 72
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for f in (2, 3, 4, 5, 7):
        r += rng.uniform(0, 0.22 / f) * 2 * np.sin(f * th + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.45, None)
    aspect = rng.uniform(1.0, 1.6)
    xy = np.c_[r * np.cos(th) * radius * math.sqrt(aspect), r * np.sin(th) * radius /
               math.sqrt(aspect)] @ rotation_matrix(rng.uniform(0, np.pi)).T
    area = shapely.make_valid(Polygon(xy))
    return max(poly_parts(area), key=lambda p: p.area)


def _add_spurs(rng, pieces: list, area: Polygon, barriers: Barriers) -> None:
    """Dead-end spurs into blocks (胡同 / service lanes ending at a gate), appended."""
    zones, lakes = barriers.zones, barriers.lakes
    if not (pieces and rng.random() < 0.75):
        return
    blocked = shapely.union_all([z for z, _, _ in zones] + lakes) if zones or lakes else None
    n_spurs = int(len(pieces) * rng.uniform(0.04, 0.15))
    for _ in range(n_spurs):
        base_line, base_tags = pieces[int(rng.integers(len(pieces)))]
        coords = np.asarray(base_line.coords)
        if len(coords) < 3 or base_tags["highway"] in ("motorway", "trunk"):
            continue
        i = int(rng.integers(1, len(coords) - 1))
        d = coords[i + 1] - coords[i - 1]
        nd = float(np.hypot(*d))
        if nd < 1e-6:
            continue
        normal = np.array([-d[1], d[0]]) / nd * (1 if rng.random() < 0.5 else -1)
        length = rng.uniform(25, 75)
        bend = rng.normal(0, 0.3)
        p1 = coords[i] + normal * length * 0.5
        p2 = p1 + (rotation_matrix(bend) @ normal) * length * 0.5
        spur = LineString([coords[i], p1, p2]).intersection(area)
        if blocked is not None:
            spur = spur.difference(blocked)
        for part in line_parts(spur, 8.0):
            if part.coords[0] == tuple(coords[i]):
                pieces.append((part, street_tags(str(rng.choice(["service", "footway"])),
                                                 None)))


def _node(pieces: list) -> list:
    """The highways noded: every crossing a shared node; each noded piece keeps the tags of
    the lowest-numbered piece it lies on."""
    src = np.array([g for g, _ in pieces], dtype=object)
    noded = line_parts(shapely.union_all(src), 0.0) if len(src) else []
    streets = []
    if noded:
        tree = shapely.STRtree(src)
        mids = shapely.line_interpolate_point(np.array(noded, dtype=object), 0.5, normalized=True)
        q_in, q_tree = tree.query(mids, predicate="dwithin", distance=0.01)
        owner = np.full(len(noded), -1)
        for a, b in zip(q_in[::-1], q_tree[::-1], strict=True):  # lowest tree index wins
            owner[a] = b
        for k, g in enumerate(noded):
            tags = pieces[owner[k]][1] if owner[k] >= 0 else {"highway": "residential"}
            streets.append((g, tags))
    return streets


def _blocks(area: Polygon, streets: list, barriers: Barriers) -> np.ndarray:
    """Blocks: the area minus street, rail and river corridors and water (>= 150 m2)."""
    separate, water = barriers.separate, barriers.water
    lines = np.array([g for g, _ in streets] + [g for g, _ in separate], dtype=object)
    widths = np.array([CLEARANCE.get(t.get("highway", ""), 5.0) for _, t in streets]
                      + [separate_clearance(t, barriers.zones) for _, t in separate])
    corridors = shapely.buffer(lines, widths, quad_segs=2) if len(lines) else np.array([])
    blocked = shapely.union_all(np.r_[corridors, np.array(
        [w.buffer(8) for w, _ in water], dtype=object)])
    buildable = area.buffer(-4).difference(blocked)
    return np.array(poly_parts(buildable, 150.0), dtype=object)


def crop(lay: Layout, f: float) -> Layout:
    """The layout inside the area scaled by ``f`` about the origin (its star centre)."""
    area = shapely.affinity.scale(lay.area, f, f, origin=(0, 0))
    geoms = shapely.intersection(np.array([g for g, _ in lay.streets], dtype=object), area)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    ok = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 1.0)
    streets = [(parts[k], lay.streets[idx[k]][1]) for k in np.flatnonzero(ok).tolist()]
    water = []
    for poly, tags in lay.water:
        clip = area.buffer(120) if tags.get("water") == "river" else area
        water += [(p, tags) for p in poly_parts(poly.intersection(clip), 100.0)]
    blocks = shapely.intersection(lay.blocks, area.buffer(-4))
    return Layout(area, streets, lay.separate, water, blocks, lay.block_style, lay.block_kind,
                   lay.cand, lay.cand_block, list(lay.features))


def network_features(lay: Layout) -> list[str]:
    """What the (cropped) district holds of streets, barriers and water."""
    out = []
    hw = {t["highway"] for _, t in lay.streets}
    if hw & {"primary", "secondary"}:
        out.append("arterials")
    if "trunk" in hw:
        out.append("trunk")
    if any("bridge" in t or "tunnel" in t for _, t in lay.streets):
        out.append("bridges")
    for key, value, name in (("waterway", "river", "river"), ("railway", "rail", "railway"),
                             ("highway", "motorway", "motorway")):
        if any(t.get(key) == value and g.intersects(lay.area) for g, t in lay.separate):
            out.append(name)
    for value, name in (("river", "river_area"), ("lake", "lake")):
        if any(t.get("water") == value and p.intersects(lay.area) for p, t in lay.water):
            out.append(name)
    if lay.streets:
        ends = shapely.get_coordinates(shapely.boundary(np.array(
            [g for g, _ in lay.streets], dtype=object)))
        keys, counts = np.unique(np.round(ends, 2), axis=0, return_counts=True)
        dangling = keys[counts == 1]
        if len(dangling) and bool(np.any(shapely.distance(
                lay.area.boundary, shapely.points(dangling)) > 3)):
            out.append("dead_ends")
    return out

