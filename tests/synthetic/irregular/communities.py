"""Communities (社区) of the irregular district, drawn to be awkward for the partition.

Voronoi cells of random (sometimes clustered) seeds that ignore the streets; optionally one
community in two parts, one with a hole (left uncovered or given to a neighbour), and a tiny
community holding a single building. Local metres.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon

from tests.synthetic.irregular.geometry import blob, geom_parts, poly_parts, random_point_in


def voronoi_communities(rng, area: Polygon, n: int) -> list:
    """``n`` or fewer communities: Voronoi cells of random seeds clipped to ``area``."""
    half = math.sqrt(area.area / math.pi)
    seeds = []
    clustered = rng.random() < 0.4
    while len(seeds) < n:
        if clustered and seeds and rng.random() < 0.3:
            base = seeds[int(rng.integers(len(seeds)))]
            p = (base[0] + rng.normal(0, 0.15 * half), base[1] + rng.normal(0, 0.15 * half))
            if not area.contains(Point(p)):
                continue
        else:
            p = random_point_in(rng, area)
        if all(math.hypot(p[0] - q[0], p[1] - q[1]) > 20 for q in seeds):
            seeds.append(p)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area)
    out = []
    for cell in geom_parts(cells):
        g = cell.intersection(area)
        parts = poly_parts(g, 50.0)
        if parts:
            out.append(shapely.union_all(parts))
    return out


def merge_two_parts(rng, comm: list, features: list[str]) -> list:
    """Two communities apart from each other merged into one community in two parts."""
    n = len(comm)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)
             if comm[a].distance(comm[b]) > 5.0]
    if not pairs:
        return comm
    a, b = pairs[int(rng.integers(len(pairs)))]
    merged = shapely.union_all([comm[a], comm[b]])
    out = [g for k, g in enumerate(comm) if k not in (a, b)]
    out.insert(min(a, len(out)), merged)
    features.append("two_part_community")
    return out


def add_hole(rng, comm: list, features: list[str]) -> list:
    """Maybe a hole in one community, left uncovered or given to a neighbour."""
    if rng.random() > 0.6 or len(comm) < 2:
        return comm
    order = rng.permutation(len(comm))
    for k in order.tolist():
        g = comm[k]
        big = max(poly_parts(g), key=lambda p: p.area)
        r = rng.uniform(25, 110)
        inner = big.buffer(-(r + 15))
        if inner.is_empty:
            continue
        hole = blob(rng, random_point_in(rng, inner), r, n=24, rough=0.1)
        if not big.buffer(-10).contains(hole):
            continue
        comm[k] = g.difference(hole)
        features.append("community_hole")
        if rng.random() < 0.6:
            neighbours = [j for j in range(len(comm)) if j != k and comm[j].touches(g)]
            if neighbours:
                j = neighbours[int(rng.integers(len(neighbours)))]
                comm[j] = shapely.union_all([comm[j], hole])
                features.append("hole_to_neighbour")
                return comm
        features.append("hole_uncovered")
        return comm
    return comm


def add_tiny(rng, comm: list, polys: list, tags: list, features: list[str]):
    """Maybe a tiny community around one residential building alone in its ring."""
    tree = shapely.STRtree(np.array(polys, dtype=object))
    cands = [i for i, t in enumerate(tags) if "building:flats" in t]
    for i in rng.permutation(cands)[:200].tolist():
        p = polys[i]
        if p.interiors:
            continue
        ring = p.buffer(rng.uniform(3, 7), join_style="mitre")
        near = tree.query(ring, predicate="intersects")
        if len(near) != 1:
            continue
        holder = [k for k, g in enumerate(comm) if g.buffer(-3).contains(ring)]
        if not holder:
            continue
        k = holder[0]
        comm[k] = comm[k].difference(ring)
        comm.append(ring)
        features.append("tiny_community")
        return comm, i
    return comm, None
