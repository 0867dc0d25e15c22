"""Dirty data in the irregular district, as real OSM extracts have it.

Duplicate footprints, overlapping shifted and turned copies, slivers along a building's edge,
residential buildings with neither building:flats nor building:levels, and slabs placed
across a community boundary. Local metres.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon

from tests.synthetic.irregular.buildings import rects
from tests.synthetic.irregular.geometry import line_parts


def dirty_copies(rng, polys: list, tags_list: list[dict[str, str]], n_dirty_budget: int,
                 features: list[str]) -> tuple[list, list[dict[str, str]], int]:
    """Duplicates, overlaps and slivers of the given buildings, within the budget left after
    the 0-3 slabs to place across community boundaries; returns the new footprints, their
    tags and that number of slabs. Appends the kinds made to ``features``."""
    dirty_kinds = [k for k in ("duplicates", "overlaps", "slivers") if rng.random() < 0.75]
    if not dirty_kinds:
        dirty_kinds = ["duplicates"]
    n_straddle = int(rng.integers(1, 4)) if rng.random() < 0.8 else 0
    budget = n_dirty_budget - n_straddle
    if budget < 0:
        n_straddle, budget = n_dirty_budget, 0
    extra_polys, extra_tags = [], []
    resid_idx = _residential_indices(tags_list)
    any_idx = list(range(len(polys)))
    for k in range(budget):
        kind = dirty_kinds[k % len(dirty_kinds)]
        i = int(rng.choice(resid_idx if resid_idx and kind != "slivers" else any_idx))
        p = polys[i]
        if kind == "duplicates":
            extra_polys.append(p)
            extra_tags.append(dict(tags_list[i]))
        elif kind == "overlaps":
            shift = rng.uniform(1, 4, 2) * rng.choice([-1, 1], 2)
            q = shapely.affinity.rotate(shapely.affinity.translate(Polygon(p.exterior), *shift),
                                        rng.uniform(-8, 8))
            t = dict(tags_list[i])
            if t.get("building") == "yes" and "building:flats" in t:
                t["building"] = "apartments"
            extra_polys.append(q)
            extra_tags.append(t)
        else:
            extra_polys.append(_sliver(rng, p))
            extra_tags.append({"building": "yes"})
    features += dirty_kinds
    return extra_polys, extra_tags, n_straddle


def _residential_indices(tags_list: list[dict[str, str]]) -> list[int]:
    return [i for i, t in enumerate(tags_list) if "building:flats" in t]


def _sliver(rng, p: Polygon) -> Polygon:
    """A 0.5 m wide sliver, 8-20 m long, just outside the first edge of ``p``."""
    ring = np.asarray(p.exterior.coords)
    e = ring[1] - ring[0]
    ln = float(np.hypot(*e))
    u = e / max(ln, 1e-9)
    v = np.array([-u[1], u[0]])
    start = ring[0] - v * 0.55
    length = min(ln, rng.uniform(8, 20))
    return Polygon([start, start + u * length, start + u * length - v * 0.5,
                    start - v * 0.5])


def strip_some_tags(rng, tags_list: list[dict[str, str]], features: list[str]) -> None:
    """No flats, no levels on about 4 % of the residential buildings."""
    bare = 0
    for i in _residential_indices(tags_list):
        if rng.random() < 0.04:
            t = tags_list[i]
            t.pop("building:flats", None)
            t.pop("building:levels", None)
            if t["building"] == "yes":
                t["building"] = "residential"
            bare += 1
    if bare:
        features.append("no_flats_no_levels")


def straddling_slabs(rng, blocks: np.ndarray, borders, all_polys: list,
                     all_tags: list[dict[str, str]], n_straddle: int) -> None:
    """Up to ``n_straddle`` slabs across community ``borders``, inside a block and clear of
    other buildings, appended to ``all_polys`` / ``all_tags``."""
    if not n_straddle:
        return
    tree = shapely.STRtree(np.array(all_polys, dtype=object))
    placed = 0
    block_tree = shapely.STRtree(blocks[~shapely.is_empty(blocks)])
    border_lines = line_parts(borders, 30)
    tries = 0
    while placed < n_straddle and border_lines and tries < 300:
        tries += 1
        line = border_lines[int(rng.integers(len(border_lines)))]
        t = rng.uniform(0.1, 0.9)
        p = line.interpolate(t, normalized=True)
        q = line.interpolate(min(1.0, t + 0.01), normalized=True)
        ang = math.atan2(q.y - p.y, q.x - p.x) + math.pi / 2 + rng.normal(0, 0.3)
        rect = rects(np.array([[p.x, p.y]]), np.array([rng.uniform(25, 35)]),
                     np.array([6.5]), np.array([ang]))[0]
        if (not len(block_tree.query(rect, "within"))
                or len(tree.query(rect, "intersects"))):
            continue
        all_polys.append(rect)
        all_tags.append({"building": "apartments", "building:levels": "6",
                         "building:flats": str(int(rng.integers(24, 61)))})
        tree = shapely.STRtree(np.array(all_polys, dtype=object))
        placed += 1
