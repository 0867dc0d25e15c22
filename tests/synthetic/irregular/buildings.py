"""Buildings of the irregular district: block styles, footprints and tags.

Every block gets a style (towers, slabs, villas, old lanes of tiny houses, courtyard blocks,
non-residential plots: schools, hospitals, markets, malls, industry, offices; or a park) drawn
from the district's style weights. Footprints are rotated rectangles on a jittered grid aligned
with the block's oriented envelope, kept when inside the block and clear of each other. Tags
carry building:levels and building:flats in the proportions of real OSM data. Local metres,
areas in square metres.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon

from tests.synthetic.irregular.geometry import rotation_matrix

BLOCK_STYLES = ("tower", "slab", "villa", "lanes", "nonres", "park", "courtyard")
# Buildings per m2 of block, for the first guess of the district size.
DENSITY = {"tower": 1 / 3000, "slab": 1 / 1900, "villa": 1 / 560, "lanes": 1 / 100,
           "nonres": 1 / 5000, "park": 0.0, "courtyard": 1 / 4800}
_NONRES = {  # kind: (building tags, (w range), (h range), (levels range))
    "school": ({"building": "school", "amenity": "school"}, (50, 70), (15, 20), (3, 5)),
    "hospital": ({"building": "hospital", "amenity": "hospital"}, (40, 60), (25, 40), (4, 12)),
    "market": ({"building": "retail", "amenity": "marketplace"}, (30, 70), (25, 45), (1, 3)),
    "mall": ({"building": "commercial", "shop": "mall"}, (40, 80), (30, 50), (2, 5)),
    "industrial": ({"building": "industrial"}, (40, 90), (20, 40), (1, 2)),
    "office": ({"building": "office", "office": "company"}, (25, 35), (25, 35), (8, 25)),
}


def style_weights(rng) -> np.ndarray:
    """Weights of the block styles for one district (some lanes and parks, >= 40 % homes)."""
    w = rng.dirichlet(np.full(len(BLOCK_STYLES), 0.9))
    w[BLOCK_STYLES.index("lanes")] = min(w[BLOCK_STYLES.index("lanes")], 0.2)
    w[BLOCK_STYLES.index("park")] = min(w[BLOCK_STYLES.index("park")], 0.15)
    resid = [BLOCK_STYLES.index(s) for s in ("tower", "slab", "villa", "courtyard")]
    if w[resid].sum() < 0.4:
        w[resid] += (0.4 - w[resid].sum()) / len(resid)
    return w / w.sum()


def place_candidates(rng, blocks: np.ndarray, weights: np.ndarray):
    """Block styles, non-residential kinds per block, and candidate footprints with their
    block index: inside their block and clear of each other."""
    nb = len(blocks)
    if nb == 0:
        return np.zeros(0, int), [], np.array([], dtype=object), np.zeros(0, int)
    env = shapely.oriented_envelope(blocks)
    env_xy = [np.asarray(e.exterior.coords) if e.geom_type == "Polygon" else None for e in env]
    styles = rng.choice(len(BLOCK_STYLES), size=nb, p=weights)
    kinds = [""] * nb
    centres, half_a, half_b, angles, owner, style_of = [], [], [], [], [], []
    for b in range(nb):
        block = blocks[b]
        exy = env_xy[b]
        if exy is None:
            continue
        e1, e2 = exy[1] - exy[0], exy[2] - exy[1]
        long_side, short_side = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
        width = float(np.hypot(*short_side))
        theta = math.atan2(long_side[1], long_side[0])
        st = BLOCK_STYLES[styles[b]]
        if block.area < 600 or width < 24:
            st = str(rng.choice(["lanes", "park", "villa"], p=[0.6, 0.25, 0.15]))
        elif width < 45 and st in ("tower", "courtyard", "nonres"):
            st = "slab" if width >= 30 else "villa"
        styles[b] = BLOCK_STYLES.index(st)
        if st == "park":
            continue
        jit_rot = 0.05
        if st == "tower":
            du, dv = rng.uniform(45, 65), rng.uniform(45, 65)
            a = rng.uniform(10, 15)
            sizes = lambda k, a=a: (np.full(k, a) + rng.uniform(-0.5, 0.5, k),) * 2  # noqa: E731
        elif st == "slab":
            lmax = rng.uniform(50, 80)
            du, dv = lmax + rng.uniform(8, 15), rng.uniform(30, 40)
            sizes = lambda k, lmax=lmax: (rng.uniform(50, lmax, k) / 2,  # noqa: E731
                                          rng.uniform(12, 14, k) / 2)
        elif st == "courtyard":
            side = rng.uniform(40, 55)
            du = dv = side + rng.uniform(15, 25)
            sizes = lambda k, side=side: (np.full(k, side / 2), np.full(k, side / 2))  # noqa: E731
        elif st == "villa":
            du, dv = rng.uniform(20, 28), rng.uniform(20, 28)
            sizes = lambda k: (rng.uniform(10, 16, k) / 2, rng.uniform(9, 13, k) / 2)  # noqa: E731
            jit_rot = 0.14
        elif st == "lanes":
            du, dv = rng.uniform(7, 10), rng.uniform(8, 11)
            theta += rng.uniform(-0.35, 0.35)
            sizes = lambda k, du=du, dv=dv: (  # noqa: E731
                (du - rng.uniform(0.8, 2.0, k)) / 2, (dv - rng.uniform(0.8, 2.0, k)) / 2)
            jit_rot = 0.17
        else:  # nonres
            kind = str(rng.choice(list(_NONRES)))
            kinds[b] = kind
            _tags, wr, hr, _lv = _NONRES[kind]
            du, dv = wr[1] + rng.uniform(15, 30), hr[1] + rng.uniform(15, 30)
            sizes = lambda k, wr=wr, hr=hr: (rng.uniform(*wr, k) / 2,  # noqa: E731
                                             rng.uniform(*hr, k) / 2)
        rot = rotation_matrix(-theta)
        local = (np.asarray(block.exterior.coords) - exy[0]) @ rot.T
        minu, minv = local.min(axis=0)
        maxu, maxv = local.max(axis=0)
        us = np.arange(minu + rng.uniform(0, du), maxu, du)
        vs = np.arange(minv + rng.uniform(0, dv), maxv, dv)
        if len(us) == 0 or len(vs) == 0:
            continue
        gu, gv = np.meshgrid(us, vs)
        k = gu.size
        jitter = 0.8 if st == "lanes" else 2.0
        loc = np.c_[gu.ravel(), gv.ravel()] + rng.uniform(-jitter, jitter, (k, 2))
        world = loc @ rotation_matrix(theta).T + exy[0]
        a_half, b_half = sizes(k)
        centres.append(world)
        half_a.append(a_half)
        half_b.append(b_half)
        angles.append(theta + rng.normal(0, jit_rot, k))
        owner.append(np.full(k, b))
        style_of.append(st)
    if not centres:
        return styles, kinds, np.array([], dtype=object), np.zeros(0, int)
    centres = np.concatenate(centres)
    half_a, half_b = np.concatenate(half_a), np.concatenate(half_b)
    angles, owner = np.concatenate(angles), np.concatenate(owner)
    polys = rects(centres, half_a, half_b, angles)
    shapely.prepare(blocks)
    inside = shapely.contains(blocks[owner], polys)
    polys, owner = polys[inside], owner[inside]
    if len(polys):
        tree = shapely.STRtree(polys)
        qa, qb = tree.query(polys, predicate="intersects")
        clash = qa != qb
        drop = np.unique(np.maximum(qa[clash], qb[clash]))
        keep = np.ones(len(polys), bool)
        keep[drop] = False
        polys, owner = polys[keep], owner[keep]
    return styles, kinds, polys, owner


def rects(centres, half_a, half_b, angles) -> np.ndarray:
    """Rotated rectangles (Polygons) from centres, half sides (metres) and angles (radians)."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], float)
    local = corners[None, :, :] * np.stack([half_a, half_b], axis=1)[:, None, :]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x = local[..., 0] * cos - local[..., 1] * sin + centres[:, 0:1]
    y = local[..., 0] * sin + local[..., 1] * cos + centres[:, 1:2]
    return shapely.polygons(np.stack([x, y], axis=-1))


def building_tags(rng, st: str, kind: str, poly: Polygon, landuse: bool) -> dict[str, str]:
    """OSM tags of a building of block style ``st`` (building=yes more often inside
    landuse=residential, as in real data)."""
    if st == "tower":
        levels = int(rng.integers(18, 34))
        flats = int(np.clip(levels * rng.uniform(2, 6), 60, 200))
        return {"building": "yes" if landuse and rng.random() < 0.6 else
                str(rng.choice(["apartments", "residential"])),
                "building:levels": str(levels), "building:flats": str(flats)}
    if st == "slab":
        return {"building": "yes" if landuse and rng.random() < 0.6 else
                str(rng.choice(["residential", "apartments"], p=[0.7, 0.3])),
                "building:levels": "6", "building:flats": str(int(rng.integers(24, 73)))}
    if st == "courtyard":
        return {"building": "apartments", "building:levels": str(int(rng.integers(4, 8))),
                "building:flats": str(int(rng.integers(40, 121)))}
    if st == "villa":
        tags = {"building": str(rng.choice(["villa", "detached", "house"]))}
        if rng.random() < 0.8:
            tags["building:levels"] = str(int(rng.integers(2, 4)))
        if rng.random() < 0.6:
            tags["building:flats"] = str(int(rng.integers(1, 3)))
        return tags
    if st == "lanes":
        tags = {"building": "house" if rng.random() < 0.6 else "yes"}
        if rng.random() < 0.5:
            tags["building:levels"] = "1"
        return tags
    base, _w, _h, lv = _NONRES[kind]
    return base | {"building:levels": str(int(rng.integers(lv[0], lv[1] + 1)))}


def estimated_households(tags: dict[str, str], area_m2: float) -> float:
    """What the loader makes of a residential building (flats, else floor area / 90 m2)."""
    if "building:flats" in tags:
        return float(tags["building:flats"])
    if tags["building"] in ("house", "villa", "detached", "residential", "apartments"):
        levels = float(tags.get("building:levels", 2))
        return max(1.0, round(area_m2 * levels / 90.0))
    return 0.0
